// IP keys for the lookup maps. IPv4 addresses become numbers so that a lookup
// on the hot path parses the record's string without allocating; IPv6
// addresses stay strings in their canonical (RFC 5952) form.

/** The IPv4 address as an unsigned 32-bit number, or -1 when `ip` is not dotted-quad IPv4. */
export function ipv4Key(ip: string): number {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c === 46 /* . */) {
      if (digits === 0 || dots === 3) return -1;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) return -1;
    } else {
      return -1;
    }
  }
  if (dots !== 3 || digits === 0) return -1;
  return value * 256 + octet;
}

/** The canonical text of an IPv6 address (lower case, longest zero run compressed), or null when not IPv6. */
export function canonicalIpv6(ip: string): string | null {
  if (!ip.includes(':')) return null;
  try {
    // The WHATWG URL parser implements RFC 5952 serialization.
    const host = new URL(`http://[${ip}]/`).hostname;
    return host.slice(1, -1);
  } catch {
    return null;
  }
}

/**
 * The 4 or 16 bytes of an IPv4 or IPv6 address (network order, as the kernel's structs hold them);
 * null when `ip` is neither. The one text-to-bytes parser: IPv6 goes through canonicalIpv6, so every
 * spelling (upper case, embedded IPv4) reads the same.
 */
export function ipBytes(ip: string): { bytes: Uint8Array; ipVersion: 4 | 6 } | null {
  const v4 = ipv4Key(ip);
  if (v4 >= 0) return { bytes: Uint8Array.of(v4 >>> 24, (v4 >>> 16) & 255, (v4 >>> 8) & 255, v4 & 255), ipVersion: 4 };
  const canonical = canonicalIpv6(ip);
  if (canonical === null) return null;
  // Canonical text: hex groups only, at most one "::".
  const dbl = canonical.indexOf('::');
  const head = dbl < 0 ? canonical : canonical.slice(0, dbl);
  const tail = dbl < 0 ? '' : canonical.slice(dbl + 2);
  const headParts = head === '' ? [] : head.split(':');
  const tailParts = tail === '' ? [] : tail.split(':');
  const bytes = new Uint8Array(16);
  const put = (group: string, i: number): void => {
    const g = parseInt(group, 16);
    bytes[i * 2] = g >> 8;
    bytes[i * 2 + 1] = g & 255;
  };
  headParts.forEach((g, i) => put(g, i));
  tailParts.forEach((g, i) => put(g, 8 - tailParts.length + i));
  return { bytes, ipVersion: 6 };
}

/** The canonical text of an IPv4 or IPv6 address, or null when `ip` is neither. */
export function canonicalIp(ip: string): string | null {
  if (ipv4Key(ip) >= 0) return ip.split('.').map(Number).join('.');
  return canonicalIpv6(ip);
}

/**
 * IPv4 address and port -> value. One map level per address and a short list
 * of ports: a combined 48-bit key would be a heap number, allocated on every
 * lookup.
 */
export class V4PortTable<T> {
  private readonly byIp = new Map<number, { ports: number[]; values: T[] }>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Whether some port of `v4` has a value. */
  has(v4: number): boolean {
    return this.byIp.has(v4);
  }

  get(v4: number, port: number): T | undefined {
    const row = this.byIp.get(v4);
    if (row === undefined) return undefined;
    const i = row.ports.indexOf(port);
    return i < 0 ? undefined : row.values[i];
  }

  set(v4: number, port: number, value: T): void {
    let row = this.byIp.get(v4);
    if (row === undefined) {
      row = { ports: [], values: [] };
      this.byIp.set(v4, row);
    }
    const i = row.ports.indexOf(port);
    if (i >= 0) row.values[i] = value;
    else {
      row.ports.push(port);
      row.values.push(value);
      this.count++;
    }
  }

  delete(v4: number, port: number): void {
    const row = this.byIp.get(v4);
    const i = row ? row.ports.indexOf(port) : -1;
    if (!row || i < 0) return;
    row.ports.splice(i, 1);
    row.values.splice(i, 1);
    this.count--;
    if (row.ports.length === 0) this.byIp.delete(v4);
  }
}
