// Byte offsets of the L7 structs in bpf/include/l7_events.h. The layout test
// (test/unit/l7-layout.test.ts) compares every entry with the BTF clang wrote
// into the built objects, so C and TypeScript cannot drift apart silently.

/** struct pf_l7_tuple: a packet's addresses and ports (IPv4 in the first 4 address bytes). */
export const L7Tuple = {
  size: 40,
  saddr: 0,
  daddr: 16,
  sport: 32,
  dport: 34,
  ip_version: 36,
  protocol: 37,
} as const;

/** struct pf_dns_event (dns ring buffer). */
export const DnsEvent = {
  size: 392,
  ts_ns: 0,
  tuple: 8,
  ifindex: 48,
  id: 52,
  flags: 54,
  qtype: 56,
  ancount: 58,
  name_len: 60,
  direction: 62,
  hook: 63,
  truncated: 64,
  answer_count: 65,
  answer_version: 66,
  answers: 72,
  qname: 136,
} as const;

/** struct pf_http_event (http ring buffer). */
export const HttpEvent = {
  size: 360,
  req_ns: 0,
  resp_ns: 8,
  req_tuple: 16,
  resp_saddr: 56,
  resp_sport: 72,
  req_len: 74,
  req_ifindex: 76,
  resp_ifindex: 80,
  req_direction: 84,
  resp_direction: 85,
  hook: 86,
  resp_len: 87,
  resp: 88,
  req: 104,
} as const;

/** struct pf_svc_key (svc_orig_dst map key). */
export const SvcKey = {
  size: 20,
  addr: 0,
  port: 16,
  ip_version: 18,
  protocol: 19,
} as const;

/** struct pf_svc_orig (svc_orig_dst map value). */
export const SvcOrig = {
  size: 32,
  addr: 0,
  port: 16,
  ip_version: 18,
  published: 19,
  cookie: 24,
} as const;

/** The C struct each layout describes, for the BTF comparison. */
export const L7_LAYOUTS = {
  pf_l7_tuple: L7Tuple,
  pf_dns_event: DnsEvent,
  pf_http_event: HttpEvent,
  pf_svc_key: SvcKey,
  pf_svc_orig: SvcOrig,
} as const;

/** enum pf_l7_hook: which program produced an event. */
export const L7_HOOK_NAMES = ['tc', 'socket_filter'] as const;

/** enum pf_l7_counter, in index order: the l7_counters per-CPU array of the dns and http objects. */
export const L7_COUNTERS = ['dns:malformed', 'dns:name_truncated', 'http:unanswered_request', 'http:unmatched_response'] as const;

/**
 * The counters that are lost records (reported as losses, stage "kernel"): a
 * request replaced by the next one before its response never becomes a record.
 * The others describe traffic (not DNS after all, a cut name, a response
 * without a request seen) and are reported as counters.
 */
export const L7_LOSS_COUNTERS: ReadonlySet<string> = new Set(['http:unanswered_request']);
