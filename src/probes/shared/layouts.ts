// Byte offsets of the structs in bpf/include/events.h. The layout test
// (test/unit/probes-layout.test.ts) compares every entry with the BTF that
// clang wrote into the built objects, so C and TypeScript cannot drift.

/** struct flow_key (the flows map key, one direction). */
export const FlowKey = {
  size: 40,
  saddr: 0,
  daddr: 16,
  sport: 32,
  dport: 34,
  ip_version: 36,
  protocol: 37,
} as const;

/** struct pf_flow_stats (the flows map value, per CPU). */
export const FlowStats = {
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

/** The C struct each layout describes, for the BTF comparison. */
export const LAYOUTS = {
  flow_key: FlowKey,
  pf_flow_stats: FlowStats,
  pf_sock_event: SockEvent,
  pf_drop_event: DropEvent,
  pf_drop_window: DropWindow,
  pf_retransmit_window: RetransmitWindow,
} as const;
