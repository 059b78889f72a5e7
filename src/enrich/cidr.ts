// Names for IP ranges outside the cluster (e.g. 203.0.113.0/24 -> partner-api),
// most specific prefix first.
import { ipBytes, ipv4Key } from './ip.js';

export interface NamedCidr {
  cidr: string;
  name: string;
}

interface V4Range {
  base: number;
  /** Size of the range: 2^(32 - prefix). */
  size: number;
  prefix: number;
  name: string;
}

interface V6Range {
  words: Uint32Array;
  prefix: number;
  name: string;
}

/** Parses "a.b.c.d/n" or "x::/n"; throws an error naming what is wrong. */
export function parseCidr(cidr: string): { v4: V4Range | null; v6: V6Range | null } {
  const slash = cidr.indexOf('/');
  if (slash < 0) throw new Error(`"${cidr}" is not a CIDR: expected address/prefix, e.g. 203.0.113.0/24`);
  const addr = cidr.slice(0, slash);
  const prefixText = cidr.slice(slash + 1);
  const prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
  const v4 = ipv4Key(addr);
  if (v4 >= 0) {
    if (!(prefix >= 0 && prefix <= 32)) throw new Error(`"${cidr}": IPv4 prefix length must be 0..32`);
    const size = 2 ** (32 - prefix);
    return { v4: { base: v4 - (v4 % size), size, prefix, name: '' }, v6: null };
  }
  const words = new Uint32Array(4);
  if (!ipv6Words(addr, words)) throw new Error(`"${cidr}": "${addr}" is not an IPv4 or IPv6 address`);
  if (!(prefix >= 0 && prefix <= 128)) throw new Error(`"${cidr}": IPv6 prefix length must be 0..128`);
  return { v4: null, v6: { words, prefix, name: '' } };
}

/** Writes the 128 bits of an IPv6 address into `out` (4 words); false when `ip` is not IPv6. */
export function ipv6Words(ip: string, out: Uint32Array): boolean {
  const parsed = ipBytes(ip);
  if (parsed?.ipVersion !== 6) return false;
  const b = parsed.bytes;
  for (let i = 0; i < 4; i++) out[i] = ((b[4 * i]! << 24) | (b[4 * i + 1]! << 16) | (b[4 * i + 2]! << 8) | b[4 * i + 3]!) >>> 0;
  return true;
}

function v6Matches(words: Uint32Array, range: V6Range): boolean {
  let bits = range.prefix;
  for (let i = 0; i < 4 && bits > 0; i++) {
    const take = Math.min(32, bits);
    const mask = take === 32 ? 0xffffffff : ((0xffffffff << (32 - take)) >>> 0);
    if (((words[i]! & mask) >>> 0) !== ((range.words[i]! & mask) >>> 0)) return false;
    bits -= take;
  }
  return true;
}

export class CidrMatcher {
  private v4: V4Range[] = [];
  private v6: V6Range[] = [];
  private readonly scratch = new Uint32Array(4);

  /** Replaces the configured networks; throws naming the bad entry (nothing changes then). */
  set(networks: readonly NamedCidr[]): void {
    const v4: V4Range[] = [];
    const v6: V6Range[] = [];
    networks.forEach((n, i) => {
      let parsed;
      try {
        parsed = parseCidr(n.cidr);
      } catch (err) {
        throw new Error(`networks[${i}].cidr: ${(err as Error).message}`, { cause: err });
      }
      if (parsed.v4) v4.push({ ...parsed.v4, name: n.name });
      if (parsed.v6) v6.push({ ...parsed.v6, name: n.name });
    });
    v4.sort((a, b) => b.prefix - a.prefix);
    v6.sort((a, b) => b.prefix - a.prefix);
    this.v4 = v4;
    this.v6 = v6;
  }

  get size(): number {
    return this.v4.length + this.v6.length;
  }

  /** The name of the most specific network holding the address; `v4` is ipv4Key(ip). */
  match(v4: number, ip: string): string | undefined {
    if (v4 >= 0) {
      for (const r of this.v4) if (v4 - r.base >= 0 && v4 - r.base < r.size) return r.name;
      return undefined;
    }
    if (this.v6.length === 0 || !ipv6Words(ip, this.scratch)) return undefined;
    for (const r of this.v6) if (v6Matches(this.scratch, r)) return r.name;
    return undefined;
  }
}
