// DNS numbers to the names records carry (IANA DNS parameters registry).

const QTYPES = new Map<number, string>([
  [1, 'A'], [2, 'NS'], [5, 'CNAME'], [6, 'SOA'], [12, 'PTR'], [13, 'HINFO'], [15, 'MX'], [16, 'TXT'],
  [28, 'AAAA'], [33, 'SRV'], [35, 'NAPTR'], [39, 'DNAME'], [41, 'OPT'], [43, 'DS'], [46, 'RRSIG'],
  [47, 'NSEC'], [48, 'DNSKEY'], [50, 'NSEC3'], [52, 'TLSA'], [64, 'SVCB'], [65, 'HTTPS'],
  [252, 'AXFR'], [255, 'ANY'], [257, 'CAA'],
]);

const RCODES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED', 'YXDOMAIN', 'YXRRSET', 'NXRRSET', 'NOTAUTH', 'NOTZONE'];

/** "A", "AAAA", ... or "TYPE<n>" (RFC 3597) for types without a name here. */
export function qtypeName(qtype: number): string {
  return QTYPES.get(qtype) ?? `TYPE${qtype}`;
}

/** The 4-bit header rcode's name, e.g. 3 -> "NXDOMAIN". */
export function rcodeName(rcode: number): string {
  return RCODES[rcode] ?? `RCODE${rcode}`;
}

/** The rcode of a query that got no response within the timeout. */
export const RCODE_TIMEOUT = 'TIMEOUT';

/**
 * Name bytes (labels joined by '.') as presentation text: printable ASCII kept,
 * a backslash and every other byte escaped as RFC 1035 §5.1 does (\DDD), so a
 * hostile name cannot inject control characters into logs or SIEMs.
 */
export function presentName(buf: Buffer, start: number, end: number): string {
  let out = '';
  let plain = start;
  for (let i = start; i < end; i++) {
    const b = buf[i] ?? 0;
    if (b > 0x20 && b < 0x7f && b !== 0x5c) continue;
    out += buf.toString('latin1', plain, i) + `\\${b.toString().padStart(3, '0')}`;
    plain = i + 1;
  }
  return out + buf.toString('latin1', plain, end);
}
