// The one statement of which Linux capabilities each kind of kernel hook
// needs. The agent's preflight checks its capabilities against it before it
// touches the kernel, the agent names them when no hook attached, and the
// Helm chart's DaemonSet grants exactly what the default probes need
// (test/unit/deploy-chart.test.ts holds the chart to it).
//
// The numbers are for kernels >= 5.8, which split CAP_BPF and CAP_PERFMON
// out of CAP_SYS_ADMIN (see kernel/bpf/syscall.c: bpf_prog_load's
// is_net_admin_prog_type / is_perfmon_prog_type checks). Older kernels know
// neither and need CAP_SYS_ADMIN for everything BPF.
import { PROBE_NAMES, type ProbeName } from './probes/types.js';

export const LINUX_CAPABILITIES = [
  'CAP_BPF', 'CAP_PERFMON', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_SYS_ADMIN', 'CAP_SYS_RESOURCE', 'CAP_SYS_PTRACE',
] as const;
export type LinuxCapability = (typeof LINUX_CAPABILITIES)[number];

/** Bit numbers in the capability sets (include/uapi/linux/capability.h). */
export const CAPABILITY_BITS: Readonly<Record<LinuxCapability, number>> = {
  CAP_NET_ADMIN: 12, CAP_NET_RAW: 13, CAP_SYS_PTRACE: 19, CAP_SYS_ADMIN: 21, CAP_SYS_RESOURCE: 24, CAP_PERFMON: 38, CAP_BPF: 39,
};

export const HOOK_KINDS = [
  'tracepoint', 'raw_tp', 'tp_btf', 'kprobe', 'fentry', 'tc', 'tcx', 'socket_filter', 'cgroup_skb', 'sockops',
  'cgroup_sock_addr', 'cgroup_sock', 'xdp', 'uprobe', 'ringbuf_maps', 'bpffs_pin', 'proc_read',
] as const;
/** A kind of kernel hook, or a kernel facility every probe leans on (maps, bpffs, /proc). */
export type HookKind = (typeof HOOK_KINDS)[number];

/** Extra capabilities a hook needs only in a stated situation. */
export interface ConditionalNeed {
  capabilities: readonly LinuxCapability[];
  when: string;
}

export interface HookRequirement {
  /** Needed always (on kernels >= 5.8). */
  capabilities: readonly LinuxCapability[];
  /** Why the kernel asks for them. */
  why: string;
  conditional: readonly ConditionalNeed[];
  /** Host paths the hook reads or writes (mounted into the container on Kubernetes). */
  paths: readonly string[];
}

/** Kernels before this lack CAP_BPF and CAP_PERFMON: every BPF operation needs CAP_SYS_ADMIN. */
export const CAP_BPF_SINCE: readonly [number, number] = [5, 8];
/** Kernels before this charge BPF memory to RLIMIT_MEMLOCK instead of the memory cgroup. */
export const MEMCG_ACCOUNTING_SINCE: readonly [number, number] = [5, 11];

const MOUNT_TRACEFS: ConditionalNeed = {
  capabilities: ['CAP_SYS_ADMIN'],
  when: 'tracefs is not mounted on the node and the agent has to mount it',
};

export const HOOK_REQUIREMENTS: Readonly<Record<HookKind, HookRequirement>> = {
  tracepoint: {
    capabilities: ['CAP_BPF', 'CAP_PERFMON'],
    why: 'tracepoint programs are a perfmon program type, and perf_event_open of a tracepoint needs CAP_PERFMON unless perf_event_paranoid is -1',
    conditional: [MOUNT_TRACEFS],
    paths: ['/sys/kernel/tracing'],
  },
  raw_tp: {
    capabilities: ['CAP_BPF', 'CAP_PERFMON'],
    why: 'raw tracepoint programs read kernel memory, which the verifier allows only with CAP_PERFMON',
    conditional: [],
    paths: [],
  },
  tp_btf: {
    capabilities: ['CAP_BPF', 'CAP_PERFMON'],
    why: 'BTF tracepoints are tracing programs (perfmon type) and are typed against the kernel BTF',
    conditional: [],
    paths: ['/sys/kernel/btf'],
  },
  kprobe: {
    capabilities: ['CAP_BPF', 'CAP_PERFMON'],
    why: 'kprobe programs are a perfmon program type and the kprobe PMU refuses perf_event_open without CAP_PERFMON',
    conditional: [{ capabilities: ['CAP_SYS_ADMIN'], when: 'the kernel has no kprobe PMU and libbpf falls back to writing tracefs kprobe_events, with tracefs to mount' }],
    paths: ['/sys/kernel/tracing'],
  },
  fentry: {
    capabilities: ['CAP_BPF', 'CAP_PERFMON'],
    why: 'fentry/fexit are tracing programs (perfmon type) attached through a BPF trampoline typed by the kernel BTF',
    conditional: [],
    paths: ['/sys/kernel/btf'],
  },
  tc: {
    capabilities: ['CAP_BPF', 'CAP_NET_ADMIN'],
    why: 'sched_cls is a net-admin program type, and adding the clsact qdisc and filters over rtnetlink needs CAP_NET_ADMIN in the host network namespace',
    conditional: [],
    paths: [],
  },
  tcx: {
    capabilities: ['CAP_BPF', 'CAP_NET_ADMIN'],
    why: 'sched_cls is a net-admin program type, and BPF_LINK_CREATE for tcx_ingress/tcx_egress checks CAP_NET_ADMIN',
    conditional: [],
    paths: [],
  },
  socket_filter: {
    capabilities: ['CAP_BPF', 'CAP_NET_RAW'],
    why: 'the filter is loaded with CAP_BPF (unprivileged BPF is off on most nodes) and the AF_PACKET socket it attaches to needs CAP_NET_RAW',
    conditional: [],
    paths: [],
  },
  cgroup_skb: {
    capabilities: ['CAP_BPF', 'CAP_NET_ADMIN'],
    why: 'cgroup_skb is a net-admin program type; attaching needs only an open fd of a cgroup v2 directory',
    conditional: [{ capabilities: ['CAP_SYS_ADMIN'], when: 'no cgroup v2 hierarchy is mounted on the node and the agent has to mount one' }],
    paths: ['/sys/fs/cgroup'],
  },
  sockops: {
    capabilities: ['CAP_BPF', 'CAP_NET_ADMIN'],
    why: 'sock_ops is a net-admin program type attached to a cgroup v2 directory',
    conditional: [{ capabilities: ['CAP_SYS_ADMIN'], when: 'no cgroup v2 hierarchy is mounted on the node and the agent has to mount one' }],
    paths: ['/sys/fs/cgroup'],
  },
  cgroup_sock_addr: {
    capabilities: ['CAP_BPF', 'CAP_NET_ADMIN'],
    why: 'cgroup/connect4/6 and sendmsg4/6 are net-admin program types attached to a cgroup v2 directory',
    conditional: [{ capabilities: ['CAP_SYS_ADMIN'], when: 'no cgroup v2 hierarchy is mounted on the node and the agent has to mount one' }],
    paths: ['/sys/fs/cgroup'],
  },
  cgroup_sock: {
    capabilities: ['CAP_BPF', 'CAP_NET_ADMIN'],
    why: 'cgroup/sock_create and sock_release are net-admin program types attached to a cgroup v2 directory',
    conditional: [{ capabilities: ['CAP_SYS_ADMIN'], when: 'no cgroup v2 hierarchy is mounted on the node and the agent has to mount one' }],
    paths: ['/sys/fs/cgroup'],
  },
  xdp: {
    capabilities: ['CAP_BPF', 'CAP_NET_ADMIN'],
    why: 'XDP is a net-admin program type and attaching it to a device (netlink or BPF link) checks CAP_NET_ADMIN',
    conditional: [],
    paths: [],
  },
  uprobe: {
    capabilities: ['CAP_BPF', 'CAP_PERFMON'],
    why: 'uprobe programs are a perfmon program type and the uprobe PMU refuses perf_event_open without CAP_PERFMON',
    conditional: [{ capabilities: ['CAP_SYS_PTRACE'], when: 'the traced binary lives in another container and is reached through /proc/<pid>/root' }],
    paths: ['/proc'],
  },
  ringbuf_maps: {
    capabilities: ['CAP_BPF'],
    why: 'creating ring buffers, hash and array maps needs CAP_BPF when unprivileged BPF is disabled',
    conditional: [{ capabilities: ['CAP_SYS_RESOURCE'], when: 'the kernel is older than 5.11 (maps charged to RLIMIT_MEMLOCK, which must be raised)' }],
    paths: [],
  },
  bpffs_pin: {
    capabilities: [],
    why: 'pinning is a file create in the node\'s bpffs, allowed by its ownership (root) alone',
    conditional: [{ capabilities: ['CAP_SYS_ADMIN'], when: 'bpffs is not mounted at /sys/fs/bpf on the node and the agent has to mount it' }],
    paths: ['/sys/fs/bpf'],
  },
  proc_read: {
    capabilities: [],
    why: 'comm, cmdline and cgroup of any process are world-readable in the host /proc mounted into the agent',
    conditional: [{ capabilities: ['CAP_SYS_PTRACE'], when: 'the agent reads /proc/<pid>/exe, environ or root of processes it does not own' }],
    paths: ['/proc'],
  },
};

/**
 * The hook kinds each probe may use: its preferred hook and every fallback
 * (../shared/DESIGN.md "Probes and hooks"). A probe's attach plan uses only
 * kinds listed here, so that what the chart grants covers every choice the
 * capability probe can make on a node.
 */
export const PROBE_HOOK_KINDS: Readonly<Record<ProbeName, readonly HookKind[]>> = {
  flows: ['tc', 'tcx', 'socket_filter'],
  tcp: ['tracepoint', 'tp_btf', 'raw_tp', 'fentry', 'kprobe'],
  retransmit: ['tp_btf', 'tracepoint'],
  drops: ['tracepoint', 'tp_btf'],
  rtt: ['sockops', 'tracepoint'],
  // dns and http load svc's cgroup programs (original destinations of Service connections) too.
  dns: ['tc', 'tcx', 'socket_filter', 'cgroup_sock_addr', 'cgroup_sock', 'cgroup_skb'],
  http: ['tc', 'tcx', 'socket_filter', 'fentry', 'kprobe', 'cgroup_sock_addr', 'cgroup_sock', 'cgroup_skb'],
  // Process context rides on the tcp probe's records: its hooks, nothing of its own.
  process: ['tracepoint', 'tp_btf', 'raw_tp', 'fentry', 'kprobe'],
};

/**
 * What every running agent uses whatever its probes: maps and ring buffers.
 * Not bpffs_pin (nothing is pinned: programs and maps live as long as the
 * agent's fds) nor proc_read (nothing reads other processes' /proc).
 */
export const AGENT_HOOK_KINDS: readonly HookKind[] = ['ringbuf_maps'];

export interface KernelVersion {
  major: number;
  minor: number;
}

function before(kernel: KernelVersion, [major, minor]: readonly [number, number]): boolean {
  return kernel.major < major || (kernel.major === major && kernel.minor < minor);
}

/**
 * The capabilities an agent running these hook kinds needs, sorted. Without a
 * kernel version the answer is for kernels >= 5.11; older kernels add
 * CAP_SYS_ADMIN (< 5.8, in place of CAP_BPF and CAP_PERFMON) and
 * CAP_SYS_RESOURCE (< 5.11). Conditional needs other than the kernel's are
 * left out: they are the node's set-up, reported by `conditionalNeeds`.
 */
export function capabilitiesFor(kinds: Iterable<HookKind>, kernel?: KernelVersion): LinuxCapability[] {
  const needed = new Set<LinuxCapability>();
  for (const kind of kinds) for (const cap of HOOK_REQUIREMENTS[kind].capabilities) needed.add(cap);
  if (kernel !== undefined && before(kernel, MEMCG_ACCOUNTING_SINCE) && needed.has('CAP_BPF')) needed.add('CAP_SYS_RESOURCE');
  if (kernel !== undefined && before(kernel, CAP_BPF_SINCE) && (needed.has('CAP_BPF') || needed.has('CAP_PERFMON'))) {
    needed.delete('CAP_BPF');
    needed.delete('CAP_PERFMON');
    needed.add('CAP_SYS_ADMIN');
  }
  return LINUX_CAPABILITIES.filter((cap) => needed.has(cap));
}

/** The hook kinds the given probes (default: all) and the agent itself may use. */
export function hookKindsFor(probes: readonly ProbeName[] = PROBE_NAMES): HookKind[] {
  const kinds = new Set<HookKind>(AGENT_HOOK_KINDS);
  for (const probe of probes) for (const kind of PROBE_HOOK_KINDS[probe]) kinds.add(kind);
  return HOOK_KINDS.filter((kind) => kinds.has(kind));
}

/** The situational needs of these hook kinds, one entry per distinct situation. */
export function conditionalNeeds(kinds: Iterable<HookKind>): ConditionalNeed[] {
  const byWhen = new Map<string, ConditionalNeed>();
  for (const kind of kinds) for (const need of HOOK_REQUIREMENTS[kind].conditional) byWhen.set(need.when, need);
  return [...byWhen.values()];
}

/** Host paths these hook kinds read or write, sorted. */
export function hostPathsFor(kinds: Iterable<HookKind>): string[] {
  const paths = new Set<string>();
  for (const kind of kinds) for (const path of HOOK_REQUIREMENTS[kind].paths) paths.add(path);
  return [...paths].sort();
}

/** The running kernel's version from a release string such as os.release() ("6.18.0-1-amd64"); undefined when unparsable. */
export function parseKernelRelease(release: string): KernelVersion | undefined {
  const match = /^(\d+)\.(\d+)/.exec(release);
  return match ? { major: Number(match[1]), minor: Number(match[2]) } : undefined;
}

/** The Kubernetes spelling of a capability (securityContext.capabilities.add drops the CAP_ prefix). */
export function kubernetesCapabilityName(cap: LinuxCapability): string {
  return cap.slice('CAP_'.length);
}
