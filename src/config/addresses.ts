// Syntax checks for network addresses in config values. Only syntax: whether a
// broker or collector is reachable is the sink's start() to find out.
import { isIP } from 'node:net';

const HOSTNAME_RE = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i;

export interface HostPort {
  host: string;
  port: number;
}

/** "host:port", "10.0.0.1:9092" or "[::1]:9092"; undefined when malformed. Port 0 (any free port) only for a listen address. */
export function parseHostPort(text: string, opts: { listen?: boolean } = {}): HostPort | undefined {
  const bracketed = /^\[([^\]]+)\]:(\d{1,5})$/.exec(text);
  const plain = /^([^:[\]]+):(\d{1,5})$/.exec(text);
  const match = bracketed ?? plain;
  if (!match) return undefined;
  const [, host, portText] = match;
  const port = Number(portText);
  if (port < (opts.listen ? 0 : 1) || port > 65535) return undefined;
  if (bracketed ? isIP(host) !== 6 : !(isIP(host) === 4 || HOSTNAME_RE.test(host))) return undefined;
  return { host, port };
}

/** True for an IP address or an IP/prefix CIDR with a prefix valid for its family. */
export function isIpOrCidr(text: string): boolean {
  const slash = text.indexOf('/');
  if (slash < 0) return isIP(text) !== 0;
  const family = isIP(text.slice(0, slash));
  const prefixText = text.slice(slash + 1);
  if (family === 0 || !/^\d{1,3}$/.test(prefixText)) return false;
  return Number(prefixText) <= (family === 4 ? 32 : 128);
}
