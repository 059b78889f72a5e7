// Parses the bounded prefixes the http programs copy: a request's first bytes
// (request line, maybe the Host header) and a response's status line. Anything
// that is not well-formed HTTP/1.x gives undefined: no record from garbage.

export interface RequestHead {
  method: string;
  /** The raw request target, as far as the copied prefix reaches. */
  path: string;
  /** "HTTP/1.0" or "HTTP/1.1"; '' when the request line was longer than the copy. */
  version: string;
  /** The Host header when it was within the copy; '' otherwise. */
  host: string;
}

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']);
const SP = 0x20;
const CR = 0x0d;
const LF = 0x0a;

function printable(buf: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const b = buf[i] ?? 0;
    if (b < 0x21 || b > 0x7e) return false;
  }
  return true;
}

function versionAt(buf: Buffer, i: number, end: number): string | undefined {
  if (end - i < 8) return undefined;
  const v = buf.toString('latin1', i, i + 8);
  return v === 'HTTP/1.1' || v === 'HTTP/1.0' ? v : undefined;
}

/** The request line (and Host) in buf[start, end); undefined when it is not an HTTP/1.x request. */
export function parseRequestHead(buf: Buffer, start: number, end: number): RequestHead | undefined {
  const sp1 = buf.indexOf(SP, start);
  if (sp1 < 0 || sp1 >= end || sp1 - start > 7) return undefined;
  const method = buf.toString('latin1', start, sp1);
  if (!METHODS.has(method)) return undefined;
  let pathEnd = sp1 + 1;
  while (pathEnd < end && buf[pathEnd] !== SP && buf[pathEnd] !== CR) pathEnd++;
  if (pathEnd === sp1 + 1 || !printable(buf, sp1 + 1, pathEnd)) return undefined;
  const path = buf.toString('latin1', sp1 + 1, pathEnd);
  if (pathEnd === end) return { method, path, version: '', host: '' };
  if (buf[pathEnd] !== SP) return undefined;
  const version = versionAt(buf, pathEnd + 1, end);
  if (!version) {
    // A version cut by the copy's end is fine; anything else after the path is not HTTP/1.x.
    return end - (pathEnd + 1) < 8 && 'HTTP/1.'.startsWith(buf.toString('latin1', pathEnd + 1, Math.min(end, pathEnd + 8)))
      ? { method, path, version: '', host: '' }
      : undefined;
  }
  const lineEnd = pathEnd + 1 + 8;
  if (lineEnd + 2 <= end && (buf[lineEnd] !== CR || buf[lineEnd + 1] !== LF)) return undefined;
  return { method, path, version, host: findHost(buf, lineEnd, end) };
}

/** The value of a complete Host header line in buf[from, end), '' when there is none. */
function findHost(buf: Buffer, from: number, end: number): string {
  const text = buf.toString('latin1', from, end);
  const m = /\r\nhost:[ \t]*([^\r\n]*?)[ \t]*\r\n/i.exec(text);
  const host = m?.[1] ?? '';
  return host && /^[\x21-\x7e]+$/.test(host) ? host : '';
}

export interface StatusLine {
  version: string;
  status: number;
}

/** "HTTP/1.x NNN" at buf[start, end); undefined when it is not a status line. */
export function parseStatusLine(buf: Buffer, start: number, end: number): StatusLine | undefined {
  const version = versionAt(buf, start, end);
  if (!version || end - start < 12 || buf[start + 8] !== SP) return undefined;
  let status = 0;
  for (let i = start + 9; i < start + 12; i++) {
    const d = (buf[i] ?? 0) - 0x30;
    if (d < 0 || d > 9) return undefined;
    status = status * 10 + d;
  }
  if (status < 100 || status > 599) return undefined;
  // After the code: a space (reason phrase), or the line's end, or the copy's end.
  if (end > start + 12 && buf[start + 12] !== SP && buf[start + 12] !== CR) return undefined;
  return { version, status };
}
