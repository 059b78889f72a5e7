// SPDX-License-Identifier: GPL-2.0
/*
 * rtt: a log2 histogram of smoothed RTT samples (microseconds), kept in the
 * kernel (as bcc's tcprtt) and read by user space. Preferred: sockops RTT
 * callbacks on the cgroup v2 root; fallback: the tcp:tcp_probe tracepoint.
 */
#include "common.h"

#define RTT_BUCKETS 32
#define SOCK_OPS_RTT_CB_FLAG 8 /* BPF_SOCK_OPS_RTT_CB_FLAG */

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RTT_BUCKETS);
	__type(key, __u32);
	__type(value, __u64);
} pf_rtt_hist SEC(".maps");

static __always_inline void record_srtt(__u32 srtt_us)
{
	__u32 bucket = 0;
	__u64 *n;

	/* bucket b holds [2^b, 2^(b+1)) us; 0 holds 0 and 1. */
	while (srtt_us > 1 && bucket < RTT_BUCKETS - 1) {
		srtt_us >>= 1;
		bucket++;
	}
	n = bpf_map_lookup_elem(&pf_rtt_hist, &bucket);
	if (n)
		*n += 1;
}

SEC("sockops")
int rtt_sockops(struct bpf_sock_ops *skops)
{
	switch (skops->op) {
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags | SOCK_OPS_RTT_CB_FLAG);
		break;
	case BPF_SOCK_OPS_RTT_CB:
		record_srtt(skops->srtt_us >> 3);
		break;
	}
	return 1;
}

SEC("tracepoint/tcp/tcp_probe")
int rtt_tcp_probe(struct trace_event_raw_tcp_probe *ctx)
{
	record_srtt(ctx->srtt);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
