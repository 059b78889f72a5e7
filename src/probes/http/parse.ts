// Parses the bounded prefixes the http programs copy: a request's first bytes
// (request line, maybe the Host header) and a response's status line. Anything
// that is not well-formed HTTP/1.x gives undefined: no record from garbage.
import { TextCache } from '../shared/text-cache.js';

export interface RequestHead {
  method: string;
  /** The raw request target, as far as the copied prefix reaches. */
  path: string;
  /** "HTTP/1.0" or "HTTP/1.1"; '' when the request line was longer than the copy. */
  version: string;
  /** The Host header when it was within the copy; '' otherwise. */
  host: string;
}

// Methods, versions and the Host header are matched on the bytes and named by
// these constants: no string is made per request for what is one of a few values.
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'] as const;
const METHOD_BYTES = METHODS.map((m) => Buffer.from(m, 'latin1'));
const HTTP_1 = Buffer.from('HTTP/1.', 'latin1');
const HOST = Buffer.from('host:', 'latin1');
/** Paths and hosts: a service is asked for the same few again and again. */
const texts = new TextCache(1024, 256, (buf, start, end) => buf.toString('latin1', start, end));
const SP = 0x20;
const CR = 0x0d;
const LF = 0x0a;
const TAB = 0x09;
const SLASH = 0x2f;
const COLON = 0x3a;
const STAR = 0x2a;

function printable(buf: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const b = buf[i] ?? 0;
    if (b < 0x21 || b > 0x7e) return false;
  }
  return true;
}

/** buf[i, i + bytes.length) equals `bytes`, ASCII letters in any case when `anyCase`. */
function bytesAt(buf: Buffer, i: number, bytes: Buffer, anyCase: boolean): boolean {
  for (let k = 0; k < bytes.length; k++) {
    const b = buf[i + k] ?? -1;
    if (b !== bytes[k] && !(anyCase && (b | 0x20) === bytes[k] && b >= 0x41 && b <= 0x5a)) return false;
  }
  return true;
}

function versionAt(buf: Buffer, i: number, end: number): string | undefined {
  if (end - i < 8 || !bytesAt(buf, i, HTTP_1, false)) return undefined;
  const minor = buf[i + 7];
  return minor === 0x31 ? 'HTTP/1.1' : minor === 0x30 ? 'HTTP/1.0' : undefined;
}

/** A URI scheme and its colon start buf[start, end) (RFC 3986: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":"). */
function schemeAt(buf: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const b = buf[i] ?? 0;
    const alpha = (b | 0x20) >= 0x61 && (b | 0x20) <= 0x7a;
    if (b === COLON) return i > start;
    if (!alpha && (i === start || !((b >= 0x30 && b <= 0x39) || b === 0x2b || b === 0x2d || b === 0x2e))) return false;
  }
  return false;
}

/**
 * buf[start, end) is a request target of the method (RFC 9112 3.2): origin-form "/...", absolute-form
 * "scheme:..." (to a proxy), authority-form for CONNECT, "*" for OPTIONS. A segment that merely begins
 * with a method word (a request body, "GET something") is not a request.
 */
function targetFits(method: string, buf: Buffer, start: number, end: number): boolean {
  const first = buf[start];
  if (first === SLASH || method === 'CONNECT') return true;
  if (first === STAR) return method === 'OPTIONS' && end - start === 1;
  return schemeAt(buf, start, end);
}

/**
 * The longest method taken, as the kernel's (bpf/include/http.h: HTTP_TOKEN_METHOD_MAX): servers serve
 * methods beyond METHODS (Node: PROPFIND, PURGE, MKCOL, QUERY, ...; nginx: any of A-Z, '-', '_'; Go's
 * net/http: any token, lowercase too), and a request the server served is recorded whatever its method.
 */
const METHOD_MAX = 20;
/** RFC 9110 tchar: "!#$%&'*+-.^_`|~", digits, letters. */
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TCHAR[c.charCodeAt(0)] = 1;

/** The method whose bytes are buf[start, sp): one of METHODS, else any token; undefined when it is no token. */
function methodAt(buf: Buffer, start: number, sp: number): string | undefined {
  for (let m = 0; m < METHODS.length; m++) if (METHOD_BYTES[m]!.length === sp - start && bytesAt(buf, start, METHOD_BYTES[m]!, false)) return METHODS[m];
  if (sp === start) return undefined;
  for (let i = start; i < sp; i++) if (TCHAR[buf[i]!] !== 1) return undefined;
  return texts.text(buf, start, sp);
}

/** The request line (and Host) in buf[start, end); undefined when it is not an HTTP/1.x request. */
export function parseRequestHead(buf: Buffer, start: number, end: number): RequestHead | undefined {
  const sp1 = buf.indexOf(SP, start);
  if (sp1 < 0 || sp1 >= end || sp1 - start > METHOD_MAX) return undefined;
  const method = methodAt(buf, start, sp1);
  if (method === undefined) return undefined;
  let pathEnd = sp1 + 1;
  while (pathEnd < end && buf[pathEnd] !== SP && buf[pathEnd] !== CR) pathEnd++;
  if (pathEnd === sp1 + 1 || !printable(buf, sp1 + 1, pathEnd) || !targetFits(method, buf, sp1 + 1, pathEnd)) return undefined;
  const path = texts.text(buf, sp1 + 1, pathEnd);
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

/**
 * The value of the first complete Host header line in buf[from, end) ("\r\nHost:", any case, to the
 * next "\r\n", blanks around the value trimmed), '' when there is none or it is not printable ASCII.
 * A candidate line with a lone CR or LF is not a header line: the search goes on after it.
 */
function findHost(buf: Buffer, from: number, end: number): string {
  for (let i = from; i + 1 + HOST.length < end; i++) {
    if (buf[i] !== CR || buf[i + 1] !== LF || !bytesAt(buf, i + 2, HOST, true)) continue;
    let v = i + 2 + HOST.length;
    while (v < end && (buf[v] === SP || buf[v] === TAB)) v++;
    let e = v;
    while (e < end && buf[e] !== CR && buf[e] !== LF) e++;
    if (e + 1 >= end || buf[e] !== CR || buf[e + 1] !== LF) continue;
    while (e > v && (buf[e - 1] === SP || buf[e - 1] === TAB)) e--;
    return e > v && printable(buf, v, e) ? texts.text(buf, v, e) : '';
  }
  return '';
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
