// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Tiny programs that features.ts loads one at a time and tries to attach:
 * each one answers "does this kind of hook work on this kernel". */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("tracepoint/sched/sched_switch")
int probe_tracepoint(void *ctx) { return 0; }

SEC("raw_tp/sched_switch")
int probe_raw_tp(void *ctx) { return 0; }

SEC("tp_btf/sched_switch")
int probe_tp_btf(void *ctx) { return 0; }

SEC("kprobe/schedule")
int probe_kprobe(void *ctx) { return 0; }

SEC("fentry/schedule")
int probe_fentry(void *ctx) { return 0; }

SEC("uprobe")
int probe_uprobe(void *ctx) { return 0; }

/* TC_ACT_UNSPEC (TCX_NEXT): while attached for the probe, every other program on the hook still runs. */
SEC("tc")
int probe_tc(struct __sk_buff *skb) { return -1; }

char LICENSE[] SEC("license") = "Dual BSD/GPL";
