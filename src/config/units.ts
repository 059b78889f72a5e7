// Human units in config values: durations ("10s", "1m30s", "250ms") and byte
// sizes ("256MiB", "64KiB"). Parsed once at start-up, so clarity beats speed.

const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION_RE = /^(?:(\d+(?:\.\d+)?)(ms|s|m|h))+$/;
const DURATION_PART_RE = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;

/** Milliseconds for a duration like "10s", "1m30s" or "250ms"; undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  const trimmed = text.trim();
  if (!DURATION_RE.test(trimmed)) return undefined;
  let ms = 0;
  for (const [, amount, unit] of trimmed.matchAll(DURATION_PART_RE)) {
    ms += Number(amount) * DURATION_UNITS_MS[unit];
  }
  return Math.round(ms);
}

const SIZE_UNITS: Record<string, number> = {
  '': 1, b: 1,
  kb: 1e3, mb: 1e6, gb: 1e9,
  kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3,
};
const SIZE_RE = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i;

/** Bytes for a size like "256MiB", "10MB" or "4096"; undefined when malformed. */
export function parseByteSize(text: string): number | undefined {
  const match = SIZE_RE.exec(text.trim());
  if (!match) return undefined;
  const factor = SIZE_UNITS[match[2].toLowerCase()];
  return factor === undefined ? undefined : Math.round(Number(match[1]) * factor);
}
