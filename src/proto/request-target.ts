// An HTTP record's request target and Host header as URL parts (RFC 9112 3.2),
// for the encodings that carry them apart: OCSF's url object and OTLP's url.*
// and server.* attributes.

/** The parts; each undefined when the request has none. */
export interface RequestTarget {
  /** An absolute-form target (a request to a proxy) as it was sent, and its scheme. */
  full: string | undefined;
  scheme: string | undefined;
  path: string | undefined;
  /** Present when the redaction keeps query strings (redaction.httpQueryStrings: false). */
  query: string | undefined;
  fragment: string | undefined;
  /** The server the request names, without the port: the target's authority (absolute or CONNECT's form), else Host. */
  host: string | undefined;
  port: number | undefined;
}

// scheme://authority then the rest, and host[:port] or [ipv6][:port] (a target's authority, or Host).
const ABSOLUTE_TARGET = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/?#]*)(.*)$/;
const AUTHORITY = /^(?:\[([^\]]*)\]|([^:]*))(?::(\d{1,5}))?$/;

/**
 * An origin-form target ("/p?q#f") is split into path, query and fragment; an
 * absolute-form one also gives full and scheme, and its authority names the
 * server rather than Host (RFC 9112 3.2.2); CONNECT's authority-form target
 * names the server; "*" (OPTIONS) has no path. An authority whose port is not
 * one is the host as it is.
 */
export function splitRequestTarget(method: string | null | undefined, target: string | null | undefined, hostHeader: string | null | undefined): RequestTarget {
  const out: RequestTarget = { full: undefined, scheme: undefined, path: undefined, query: undefined, fragment: undefined, host: undefined, port: undefined };
  let authority = hostHeader || undefined;
  let rest = target || undefined;
  if (rest && rest[0] !== '/') {
    const absolute = ABSOLUTE_TARGET.exec(rest);
    if (absolute) {
      out.full = rest;
      out.scheme = absolute[1];
      authority = absolute[2];
      rest = absolute[3];
    } else {
      if (method === 'CONNECT') authority = rest;
      rest = undefined;
    }
  }
  if (rest) {
    const fragment = rest.indexOf('#');
    let query = rest.indexOf('?');
    if (fragment >= 0 && query > fragment) query = -1;
    const pathEnd = query >= 0 ? query : fragment >= 0 ? fragment : rest.length;
    out.path = pathEnd === rest.length ? rest : rest.slice(0, pathEnd);
    if (query >= 0) out.query = rest.slice(query + 1, fragment >= 0 ? fragment : rest.length);
    if (fragment >= 0) out.fragment = rest.slice(fragment + 1);
  }
  if (!authority) return out;
  const parts = authority.includes(':') ? AUTHORITY.exec(authority) : null;
  const port = parts?.[3] ? Number(parts[3]) : 0;
  if (!parts || port > 65535) {
    out.host = authority;
  } else {
    out.host = parts[1] ?? parts[2];
    out.port = port || undefined;
  }
  return out;
}
