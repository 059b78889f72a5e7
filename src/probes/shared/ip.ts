// IP address bytes (as the kernel structs carry them) to text. Text to bytes, where
// needed, is src/enrich/ip.ts's ipBytes (one parser).

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16));

// IPv4 text by address, direct-mapped: a node's records name a bounded set of
// addresses again and again, and a hit costs no allocation. The cached strings
// are flat (one copy of the characters); text built by concatenation is a
// chain of pieces every reader (encoders, enricher) would first flatten.
const V4_SLOTS = 8192;
const v4Keys = new Uint32Array(V4_SLOTS);
const v4Text: (string | undefined)[] = new Array<string | undefined>(V4_SLOTS).fill(undefined);
/** Character codes of the text being made (at most 15). */
const v4Codes: number[] = [];

function pushOctet(b: number): void {
  if (b >= 100) v4Codes.push(48 + ((b / 100) | 0));
  if (b >= 10) v4Codes.push(48 + (((b / 10) | 0) % 10));
  v4Codes.push(48 + (b % 10));
}

function formatIpv4(buf: Uint8Array, off: number): string {
  const a = buf[off] ?? 0;
  const b = buf[off + 1] ?? 0;
  const c = buf[off + 2] ?? 0;
  const d = buf[off + 3] ?? 0;
  const key = ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
  const slot = Math.imul(key, 2654435761) >>> 19;
  const cached = v4Text[slot];
  if (cached !== undefined && v4Keys[slot] === key) return cached;
  v4Codes.length = 0;
  pushOctet(a);
  v4Codes.push(46);
  pushOctet(b);
  v4Codes.push(46);
  pushOctet(c);
  v4Codes.push(46);
  pushOctet(d);
  const text = String.fromCharCode.apply(null, v4Codes);
  v4Keys[slot] = key;
  v4Text[slot] = text;
  return text;
}

/**
 * The 16 bytes at `off` are an IPv4-mapped IPv6 address (::ffff:a.b.c.d, the IPv4 address in the
 * last 4): what a dual-stack (AF_INET6) socket holds for an IPv4 peer.
 */
export function isV4Mapped(buf: Uint8Array, off: number): boolean {
  for (let i = 0; i < 10; i++) if (buf[off + i] !== 0) return false;
  return buf[off + 10] === 0xff && buf[off + 11] === 0xff;
}

/** The 4 or 16 address bytes at `off` as text (RFC 5952 form for IPv6). */
export function formatIp(buf: Uint8Array, off: number, ipVersion: number): string {
  if (ipVersion === 4) return formatIpv4(buf, off);
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((buf[off + i] ?? 0) << 8) | (buf[off + i + 1] ?? 0));
  if (groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 && groups[5] === 0xffff) {
    return `::ffff:${buf[off + 12]}.${buf[off + 13]}.${buf[off + 14]}.${buf[off + 15]}`;
  }
  // The longest run of two or more zero groups becomes "::" (the first one on a tie).
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (g: number): string => (g < 256 ? (HEX[g] ?? '') : g.toString(16));
  if (bestStart < 0) return groups.map(hex).join(':');
  const head = groups.slice(0, bestStart).map(hex).join(':');
  const tail = groups.slice(bestStart + bestLen).map(hex).join(':');
  return `${head}::${tail}`;
}
