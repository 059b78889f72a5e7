// The conversationId every record of one conversation carries, on every side,
// direction, probe and node: a hash of the normalized 5-tuple (the lower
// endpoint, by address bytes then port, first). One function for every probe.
// cyrb53-style hash: two 32-bit lanes mixed with Math.imul, 53 bits of output.
let h1 = 0;
let h2 = 0;

/** The character code of each hex digit: Number#toString(16) goes through V8's double-to-radix path (~10x slower). */
const HEX = Array.from('0123456789abcdef', (c) => c.charCodeAt(0));

function hex(nibble: number): number {
  return HEX[nibble & 15]!;
}

function mixBytes(buf: Uint8Array, off: number, len: number): void {
  for (let i = 0; i < len; i++) {
    const byte = buf[off + i] ?? 0;
    h1 = Math.imul(h1 ^ byte, 2654435761);
    h2 = Math.imul(h2 ^ byte, 1597334677);
  }
}

function mixPort(port: number): void {
  h1 = Math.imul(h1 ^ (port >> 8), 2654435761);
  h2 = Math.imul(h2 ^ (port >> 8), 1597334677);
  h1 = Math.imul(h1 ^ (port & 0xff), 2654435761);
  h2 = Math.imul(h2 ^ (port & 0xff), 1597334677);
}

function compareEndpoints(a: Uint8Array, aOff: number, aPort: number, b: Uint8Array, bOff: number, bPort: number, len: number): number {
  for (let i = 0; i < len; i++) {
    const d = (a[aOff + i] ?? 0) - (b[bOff + i] ?? 0);
    if (d !== 0) return d;
  }
  return aPort - bPort;
}

/**
 * The id of the conversation between endpoint A (address bytes at a[aOff..], port) and
 * endpoint B, for IANA protocol `protocol`. Symmetric: swapping A and B gives the same id.
 */
export function conversationId(
  ipVersion: number,
  protocol: number,
  a: Uint8Array,
  aOff: number,
  aPort: number,
  b: Uint8Array,
  bOff: number,
  bPort: number,
): string {
  const len = ipVersion === 6 ? 16 : 4;
  const swap = compareEndpoints(a, aOff, aPort, b, bOff, bPort, len) > 0;
  h1 = 0xdeadbeef ^ protocol;
  h2 = 0x41c6ce57 ^ ipVersion;
  if (swap) {
    mixBytes(b, bOff, len);
    mixPort(bPort);
    mixBytes(a, aOff, len);
    mixPort(aPort);
  } else {
    mixBytes(a, aOff, len);
    mixPort(aPort);
    mixBytes(b, bOff, len);
    mixPort(bPort);
  }
  const f1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  const f2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(f1 ^ (f1 >>> 13), 3266489909);
  // The 53-bit value (21 bits of f2, 32 of f1) as 14 hex digits, made in one piece: concatenated
  // text would be a chain of pieces that every reader (the encoders) first copies flat.
  const hi = 2097151 & f2;
  return String.fromCharCode(
    hex(hi >>> 20), hex(hi >>> 16), hex(hi >>> 12), hex(hi >>> 8), hex(hi >>> 4), hex(hi),
    hex(f1 >>> 28), hex(f1 >>> 24), hex(f1 >>> 20), hex(f1 >>> 16), hex(f1 >>> 12), hex(f1 >>> 8), hex(f1 >>> 4), hex(f1),
  );
}
