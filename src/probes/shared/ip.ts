// IP address bytes (as the kernel structs carry them) to text. Text to bytes, where
// needed, is src/enrich/ip.ts's ipBytes (one parser).

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16));

/** The 4 or 16 address bytes at `off` as text (RFC 5952 form for IPv6). */
export function formatIp(buf: Uint8Array, off: number, ipVersion: number): string {
  if (ipVersion === 4) return `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
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
