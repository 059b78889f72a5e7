// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* A ring-buffer producer driven by BPF_PROG_TEST_RUN: each run emits
 * records_per_run 64-byte records numbered by a global sequence; a failed
 * reserve is counted in `dropped`, as a real probe counts its own drops.
 * With wake_at_quarter, the records that take the ring past a quarter full
 * (within 4 KiB) are submitted with BPF_RB_FORCE_WAKEUP, which ends a
 * lingering consumer's wait, as podflow's probes do (off for the throughput
 * benchmark: the two queries are a sixth of this producer's cost per record). One producer at a time (the counters are not
 * atomic). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct event {
	__u64 seq;
	__u64 pad[7];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} events SEC(".maps");

const volatile __u32 records_per_run = 1;
const volatile __u8 wake_at_quarter = 0;
__u64 produced = 0;
__u64 dropped = 0;

static long emit(__u64 i, void *ctx)
{
	__u64 seq = produced++, quarter, used;
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		dropped++;
		return 0;
	}
	e->seq = seq;
	for (int j = 0; j < 7; j++)
		e->pad[j] = seq ^ j;
	if (!wake_at_quarter) {
		bpf_ringbuf_submit(e, 0);
		return 0;
	}
	quarter = bpf_ringbuf_query(&events, BPF_RB_RING_SIZE) / 4;
	used = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	bpf_ringbuf_submit(e, used > quarter && used <= quarter + 4096 ? BPF_RB_FORCE_WAKEUP : 0);
	return 0;
}

SEC("tc")
int lbt_rb_produce(struct __sk_buff *skb)
{
	bpf_loop(records_per_run, emit, NULL, 0);
	return -1; /* TC_ACT_UNSPEC: harmless if attached to a live interface (the leak test does) */
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
