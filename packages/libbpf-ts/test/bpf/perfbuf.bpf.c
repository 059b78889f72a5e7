// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The perf-buffer twin of ringbuf.bpf.c: 64-byte numbered records per test run. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct event {
	__u64 seq;
	__u64 pad[7];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} pevents SEC(".maps");

const volatile __u32 records_per_run = 1;
__u64 produced = 0;
__u64 failed = 0;

struct emit_ctx {
	struct __sk_buff *skb;
};

static long emit(__u64 i, struct emit_ctx *c)
{
	struct event e = { .seq = produced++ };
	if (bpf_perf_event_output(c->skb, &pevents, BPF_F_CURRENT_CPU, &e, sizeof(e)) < 0)
		failed++;
	return 0;
}

SEC("tc")
int lbt_pb_produce(struct __sk_buff *skb)
{
	struct emit_ctx c = { .skb = skb };
	bpf_loop(records_per_run, emit, &c, 0);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
