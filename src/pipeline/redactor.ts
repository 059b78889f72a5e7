// Redaction of sensitive record fields before any sink sees them. Credentials
// always go: the userinfo of an absolute-form request target (a request to a
// proxy), of a Host header, and a servlet session id in the path. HTTP query
// strings go by default (tokens and e-mail addresses live there); DNS query
// names can go too; regex rules rewrite what remains.
import type { FlowRecord } from './types.js';

export const REDACTABLE_FIELDS = ['http.path', 'http.host', 'dns.query'] as const;
export type RedactableField = (typeof REDACTABLE_FIELDS)[number];

export interface RedactionRule {
  field: RedactableField;
  /** A JavaScript regular expression; every match is replaced. */
  pattern: string;
  /** Replacement text; $1.. refer to capture groups. */
  replacement: string;
}

export interface RedactionOptions {
  /** Remove "?query" and "#fragment" from http.path (default true). */
  httpQueryStrings?: boolean;
  /** Replace dns.query with REDACTED (default false). */
  dnsQueryNames?: boolean;
  rules?: RedactionRule[];
}

export const REDACTED = '[redacted]';

type Rewrite = (record: FlowRecord) => void;

// "scheme://user:password@host/...": the authority ends at the first "/", "?" or "#", its userinfo at its last "@".
const TARGET_USERINFO = /^([a-zA-Z][a-zA-Z0-9+.-]*:\/\/)[^/?#]*@/;
// An authority running to the end of a request line the copy cut short: a ":" in it may start a password.
const CUT_AUTHORITY = /^([a-zA-Z][a-zA-Z0-9+.-]*:\/\/)[^/?#]*:[^/?#]*$/;
// Servlet containers put the session id in the path when the client takes no cookie.
const SESSION_ID = /;jsessionid=[^/?#;]*/gi;

function dropCredentials(r: FlowRecord): void {
  const h = r.http;
  if (!h) return;
  let path = h.path;
  if (path) {
    // Each pattern needs a literal character most paths lack ("@", ";"): looking for it costs far
    // less than running the regular expression, and skips nothing the expression could match.
    if (path.indexOf('@') >= 0) path = path.replace(TARGET_USERINFO, '$1');
    // version is empty when the request line was longer than the copy.
    if (!h.version) path = path.replace(CUT_AUTHORITY, `$1${REDACTED}`);
    if (path.indexOf(';') >= 0) path = path.replace(SESSION_ID, '');
    h.path = path;
  }
  const at = h.host ? h.host.lastIndexOf('@') : -1;
  if (at >= 0) h.host = h.host!.slice(at + 1);
}

/** The index of the first `a` or `b` in `s`, or -1: two indexOf calls cost less than a regular expression's search. */
function firstOf(s: string, a: string, b: string): number {
  const i = s.indexOf(a);
  const j = s.indexOf(b);
  return i < 0 ? j : j < 0 || i < j ? i : j;
}

function ruleRewrite(rule: RedactionRule, where: string): Rewrite {
  let re: RegExp;
  try {
    re = new RegExp(rule.pattern, 'g');
  } catch (err) {
    throw new Error(`${where}.pattern: "${rule.pattern}" is not a valid regular expression (${(err as Error).message})`, { cause: err });
  }
  const replace = (s: string | null | undefined): string | null | undefined => (s ? s.replace(re, rule.replacement) : s);
  switch (rule.field) {
    case 'http.path':
      return (r) => { if (r.http) r.http.path = replace(r.http.path); };
    case 'http.host':
      return (r) => { if (r.http) r.http.host = replace(r.http.host); };
    case 'dns.query':
      return (r) => { if (r.dns) r.dns.query = replace(r.dns.query); };
    default:
      throw new Error(`${where}.field: "${String(rule.field)}" cannot be redacted (expected one of ${REDACTABLE_FIELDS.join(', ')})`);
  }
}

export class Redactor {
  private readonly rewrites: Rewrite[] = [];

  constructor(options: RedactionOptions = {}, where = 'redaction') {
    this.rewrites.push(dropCredentials);
    if (options.httpQueryStrings ?? true) {
      this.rewrites.push((r) => {
        const path = r.http?.path;
        if (!path) return;
        const cut = firstOf(path, '?', '#');
        if (cut >= 0) r.http!.path = path.slice(0, cut);
      });
    }
    if (options.dnsQueryNames) this.rewrites.push((r) => { if (r.dns?.query) r.dns.query = REDACTED; });
    (options.rules ?? []).forEach((rule, i) => this.rewrites.push(ruleRewrite(rule, `${where}.rules[${i}]`)));
  }

  /** Rewrites the record in place. */
  redact(record: FlowRecord): void {
    if (!record.http && !record.dns) return;
    for (const rewrite of this.rewrites) rewrite(record);
  }
}
