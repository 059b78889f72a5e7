// Byte offsets of the structs in bpf/include/events.h. The layout test
// (test/unit/probes-layout.test.ts) compares every entry with the BTF that
// clang wrote into the built objects, so C and TypeScript cannot drift.

/** struct flow_key (the flows map key, endpoints ordered: one per conversation; the packet tuple of the L7 events). */
export const FlowKey = {
  size: 40,
  saddr: 0,
  daddr: 16,
  sport: 32,
  dport: 34,
  ip_version: 36,
  protocol: 37,
} as const;

/** struct pf_flow_stats (the flows map value, per CPU): dir[0] then dir[1], FlowDir each. */
export const FlowStats = {
  size: 64,
  dir: 0,
} as const;

/** struct pf_flow_dir (one direction of a conversation in the flows map). */
export const FlowDir = {
  size: 32,
  first_ns: 0,
  bytes: 8,
  packets: 16,
  ifindex: 24,
  direction: 28,
  tcp_flags: 29,
  syn: 30,
} as const;

/** struct pf_sock_event (tcp and retransmit ring buffers). */
export const SockEvent = {
  size: 120,
  ts_ns: 0,
  start_ns: 8,
  cgroup_id: 16,
  bytes_sent: 24,
  bytes_received: 32,
  segs_out: 40,
  segs_in: 44,
  srtt_us: 48,
  retransmits: 52,
  pid: 56,
  error: 60,
  laddr: 64,
  raddr: 80,
  lport: 96,
  rport: 98,
  kind: 100,
  ip_version: 101,
  side: 102,
  state: 103,
  comm: 104,
} as const;

/** struct pf_retransmit_window (the retransmit rate limiter's value; `event` is a SockEvent). */
export const RetransmitWindow = {
  size: 136,
  event: 0,
  last_emit_ns: 120,
  pending: 128,
} as const;

/** struct pf_drop_event (drops ring buffer, and the key of the drops rate limiter). */
export const DropEvent = {
  size: 64,
  ts_ns: 0,
  saddr: 8,
  daddr: 24,
  sport: 40,
  dport: 42,
  reason: 44,
  ifindex: 48,
  count: 52,
  ip_version: 56,
  protocol: 57,
} as const;

/** struct pf_drop_window (the drops rate limiter's value). */
export const DropWindow = {
  size: 16,
  last_emit_ns: 0,
  pending: 8,
} as const;

/** struct pf_dns_event (dns ring buffer). */
export const DnsEvent = {
  size: 424,
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
  /** struct pf_svc_orig (SvcOrig offsets), queries only: the client socket's connect()/sendmsg() destination. */
  orig: 392,
} as const;

/** struct pf_http_event (http ring buffer). */
export const HttpEvent = {
  size: 400,
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
  /** struct pf_svc_orig (SvcOrig offsets): the client socket's connect() destination. */
  orig: 360,
  /** enum pf_http_no_response (HTTP_NO_RESPONSE): 0 when resp holds the response's status line. */
  no_response: 392,
} as const;

/** enum pf_http_no_response, by value: the record's http.noResponse ('' when answered). */
export const HTTP_NO_RESPONSE = ['', 'RESET', 'CLOSED', 'TIMEOUT', 'CLIENT_CLOSED'] as const;

/** struct http_conn (bpf/include/http.h): an exchange in the http_conns map. */
export const HttpConn = {
  size: 472,
  /** The request half of its struct pf_http_event (HttpEvent offsets). */
  ev: 0,
  req_seq: 400,
  pipelined: 404,
  skip: 405,
  first_len: 406,
  /** u64: 1 while the request line goes on past the bytes kept (its next segment is appended). */
  line_open: 408,
  /** enum http_conn_state (u64): 1 waiting, 2 answered (a pipelining connection's), 3 reported unanswered, 4 replaced, 5 partial. */
  state: 416,
  client_fin_ns: 424,
  server: 432,
} as const;

/** struct pf_svc_key (svc_orig_dst map key): a client socket's own address. */
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

/** enum pf_l7_hook: which program produced an event. */
export const L7_HOOK_NAMES = ['tc', 'socket_filter'] as const;

/** enum pf_l7_counter, in index order: the l7_counters per-CPU array of the dns and http objects. */
export const L7_COUNTERS = [
  'dns:malformed',
  'dns:name_truncated',
  'http:unanswered_request',
  'http:unmatched_response',
  'dns:second_sighting',
  'dns:tcp_unparsed',
  'http:leading_empty_lines',
  'dns:fragment_unparsed',
  'http:conflicting_copy',
  'http:fragmented_segment',
] as const;

/**
 * The counters that are lost records (reported as losses, stage "kernel"): a
 * request replaced by the next one on its connection before any response
 * (pipelining, or a response that took a path podflow does not watch) never
 * becomes a record; neither does a DNS-over-TCP message the kernel could not
 * parse (cut by its segment's end, beyond the per-segment bound) or whose
 * header or question lies past its first IP fragment, nor a request behind
 * more empty lines than the kernel skips, nor a TCP segment in IP fragments
 * (not parsed); a request seen twice under one sequence number with other
 * bytes is recorded as first seen, which may not be the version the server
 * took.
 * The others describe traffic (not DNS after all, a cut name, a response
 * without a request seen) and are reported as counters.
 */
export const L7_LOSS_COUNTERS: ReadonlySet<string> = new Set([
  'http:unanswered_request',
  'dns:tcp_unparsed',
  'http:leading_empty_lines',
  'dns:fragment_unparsed',
  'http:conflicting_copy',
  'http:fragmented_segment',
]);

/** The C struct each layout describes, for the BTF comparison. */
export const LAYOUTS = {
  flow_key: FlowKey,
  pf_flow_stats: FlowStats,
  pf_flow_dir: FlowDir,
  pf_sock_event: SockEvent,
  pf_drop_event: DropEvent,
  pf_drop_window: DropWindow,
  pf_retransmit_window: RetransmitWindow,
  pf_dns_event: DnsEvent,
  pf_http_event: HttpEvent,
  http_conn: HttpConn,
  pf_svc_key: SvcKey,
  pf_svc_orig: SvcOrig,
} as const;
