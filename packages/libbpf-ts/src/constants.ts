// Numeric values of the kernel's UAPI enums (include/uapi/linux/bpf.h), named
// as the kernel names them without the prefix. Values past what Debian 12's
// headers know (TCX, netfilter) are stable kernel ABI.

export const ProgType = {
  UNSPEC: 0, SOCKET_FILTER: 1, KPROBE: 2, SCHED_CLS: 3, SCHED_ACT: 4, TRACEPOINT: 5, XDP: 6,
  PERF_EVENT: 7, CGROUP_SKB: 8, CGROUP_SOCK: 9, LWT_IN: 10, LWT_OUT: 11, LWT_XMIT: 12, SOCK_OPS: 13,
  SK_SKB: 14, CGROUP_DEVICE: 15, SK_MSG: 16, RAW_TRACEPOINT: 17, CGROUP_SOCK_ADDR: 18,
  LWT_SEG6LOCAL: 19, LIRC_MODE2: 20, SK_REUSEPORT: 21, FLOW_DISSECTOR: 22, CGROUP_SYSCTL: 23,
  RAW_TRACEPOINT_WRITABLE: 24, CGROUP_SOCKOPT: 25, TRACING: 26, STRUCT_OPS: 27, EXT: 28, LSM: 29,
  SK_LOOKUP: 30, SYSCALL: 31, NETFILTER: 32,
} as const;
export type ProgTypeName = keyof typeof ProgType;

export const MapType = {
  UNSPEC: 0, HASH: 1, ARRAY: 2, PROG_ARRAY: 3, PERF_EVENT_ARRAY: 4, PERCPU_HASH: 5, PERCPU_ARRAY: 6,
  STACK_TRACE: 7, CGROUP_ARRAY: 8, LRU_HASH: 9, LRU_PERCPU_HASH: 10, LPM_TRIE: 11, ARRAY_OF_MAPS: 12,
  HASH_OF_MAPS: 13, DEVMAP: 14, SOCKMAP: 15, CPUMAP: 16, XSKMAP: 17, SOCKHASH: 18, CGROUP_STORAGE: 19,
  REUSEPORT_SOCKARRAY: 20, PERCPU_CGROUP_STORAGE: 21, QUEUE: 22, STACK: 23, SK_STORAGE: 24,
  DEVMAP_HASH: 25, STRUCT_OPS: 26, RINGBUF: 27, INODE_STORAGE: 28, TASK_STORAGE: 29, BLOOM_FILTER: 30,
  USER_RINGBUF: 31, CGRP_STORAGE: 32, ARENA: 33,
} as const;
export type MapTypeName = keyof typeof MapType;

export const AttachType = {
  CGROUP_INET_INGRESS: 0, CGROUP_INET_EGRESS: 1, CGROUP_INET_SOCK_CREATE: 2, CGROUP_SOCK_OPS: 3,
  SK_SKB_STREAM_PARSER: 4, SK_SKB_STREAM_VERDICT: 5, CGROUP_DEVICE: 6, SK_MSG_VERDICT: 7,
  CGROUP_INET4_BIND: 8, CGROUP_INET6_BIND: 9, CGROUP_INET4_CONNECT: 10, CGROUP_INET6_CONNECT: 11,
  CGROUP_INET4_POST_BIND: 12, CGROUP_INET6_POST_BIND: 13, CGROUP_UDP4_SENDMSG: 14, CGROUP_UDP6_SENDMSG: 15,
  LIRC_MODE2: 16, FLOW_DISSECTOR: 17, CGROUP_SYSCTL: 18, CGROUP_UDP4_RECVMSG: 19, CGROUP_UDP6_RECVMSG: 20,
  CGROUP_GETSOCKOPT: 21, CGROUP_SETSOCKOPT: 22, TRACE_RAW_TP: 23, TRACE_FENTRY: 24, TRACE_FEXIT: 25,
  MODIFY_RETURN: 26, LSM_MAC: 27, TRACE_ITER: 28, CGROUP_INET4_GETPEERNAME: 29, CGROUP_INET6_GETPEERNAME: 30,
  CGROUP_INET4_GETSOCKNAME: 31, CGROUP_INET6_GETSOCKNAME: 32, XDP_DEVMAP: 33, CGROUP_INET_SOCK_RELEASE: 34,
  XDP_CPUMAP: 35, SK_LOOKUP: 36, XDP: 37, SK_SKB_VERDICT: 38, SK_REUSEPORT_SELECT: 39,
  SK_REUSEPORT_SELECT_OR_MIGRATE: 40, PERF_EVENT: 41, TRACE_KPROBE_MULTI: 42, LSM_CGROUP: 43,
  STRUCT_OPS: 44, NETFILTER: 45, TCX_INGRESS: 46, TCX_EGRESS: 47,
} as const;
export type AttachTypeName = keyof typeof AttachType;

/** The cgroup attach points by their short names, as accepted by Program.attachCgroup. */
export const CgroupAttach = {
  ingress: AttachType.CGROUP_INET_INGRESS,
  egress: AttachType.CGROUP_INET_EGRESS,
  sock_create: AttachType.CGROUP_INET_SOCK_CREATE,
  sock_release: AttachType.CGROUP_INET_SOCK_RELEASE,
  sockops: AttachType.CGROUP_SOCK_OPS,
  bind4: AttachType.CGROUP_INET4_BIND,
  bind6: AttachType.CGROUP_INET6_BIND,
  post_bind4: AttachType.CGROUP_INET4_POST_BIND,
  post_bind6: AttachType.CGROUP_INET6_POST_BIND,
  connect4: AttachType.CGROUP_INET4_CONNECT,
  connect6: AttachType.CGROUP_INET6_CONNECT,
  sendmsg4: AttachType.CGROUP_UDP4_SENDMSG,
  sendmsg6: AttachType.CGROUP_UDP6_SENDMSG,
  recvmsg4: AttachType.CGROUP_UDP4_RECVMSG,
  recvmsg6: AttachType.CGROUP_UDP6_RECVMSG,
  getpeername4: AttachType.CGROUP_INET4_GETPEERNAME,
  getpeername6: AttachType.CGROUP_INET6_GETPEERNAME,
  getsockname4: AttachType.CGROUP_INET4_GETSOCKNAME,
  getsockname6: AttachType.CGROUP_INET6_GETSOCKNAME,
  sysctl: AttachType.CGROUP_SYSCTL,
  getsockopt: AttachType.CGROUP_GETSOCKOPT,
  setsockopt: AttachType.CGROUP_SETSOCKOPT,
  device: AttachType.CGROUP_DEVICE,
} as const;
export type CgroupAttachName = keyof typeof CgroupAttach;

/** XDP attach flags (XDP_FLAGS_* in include/uapi/linux/if_link.h). */
export const XdpFlags = { UPDATE_IF_NOEXIST: 1, SKB_MODE: 2, DRV_MODE: 4, HW_MODE: 8, REPLACE: 16 } as const;

/** Flags of map updates (BPF_ANY, BPF_NOEXIST, BPF_EXIST, BPF_F_LOCK). */
export const UpdateFlags = { ANY: 0, NOEXIST: 1, EXIST: 2, LOCK: 4 } as const;

/** The name of a numeric enum value, e.g. nameOf(MapType, 27) -> 'RINGBUF'. */
export function nameOf(table: Readonly<Record<string, number>>, value: number): string {
  for (const [name, v] of Object.entries(table)) if (v === value) return name;
  return `UNKNOWN(${value})`;
}
