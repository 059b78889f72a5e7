// TLS material for the network sinks (Kafka, OTLP), read from files (mounted
// Secrets) at start(), so a missing or unreadable file is an error at start-up
// that names the option and the path.
import { readFile } from 'node:fs/promises';

export interface TlsFileOptions {
  /** PEM CA bundle to verify the server; the system roots when absent. */
  caFile?: string;
  /** PEM client certificate and key, for mutual TLS (both or neither). */
  certFile?: string;
  keyFile?: string;
  /** Name to verify the server certificate against, when it differs from the address. */
  serverName?: string;
  insecureSkipVerify?: boolean;
}

export interface TlsMaterial {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  servername?: string;
  rejectUnauthorized: boolean;
}

async function readPem(sink: string, option: string, path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new Error(`${sink} sink: cannot read ${option} "${path}": ${(err as Error).message} (expected a readable PEM file)`, { cause: err });
  }
}

export async function readTlsMaterial(sink: string, options: TlsFileOptions): Promise<TlsMaterial> {
  if ((options.certFile === undefined) !== (options.keyFile === undefined)) {
    throw new Error(`${sink} sink: tls.certFile and tls.keyFile go together (client certificate authentication needs both)`);
  }
  return {
    ca: options.caFile === undefined ? undefined : await readPem(sink, 'tls.caFile', options.caFile),
    cert: options.certFile === undefined ? undefined : await readPem(sink, 'tls.certFile', options.certFile),
    key: options.keyFile === undefined ? undefined : await readPem(sink, 'tls.keyFile', options.keyFile),
    servername: options.serverName,
    rejectUnauthorized: !options.insecureSkipVerify,
  };
}
