// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Maps of the kinds the map tests exercise, and a program that bumps a per-CPU counter. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u64);
} hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} percpu SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u32);
} percpu_hash SEC(".maps");

struct lpm_key {
	__u32 prefixlen;
	__u32 addr;
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 256);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_key);
	__type(value, __u32);
} lpm SEC(".maps");

SEC("tc")
int lbt_percpu_inc(struct __sk_buff *skb)
{
	__u32 key = 0;
	__u64 *v = bpf_map_lookup_elem(&percpu, &key);
	if (v)
		*v += 1;
	return 0;
}

/* A writer racing a user-space drain: each run inserts fill_per_run new keys (values = keys). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} fill SEC(".maps");

const volatile __u32 fill_per_run = 64;
__u32 fill_next = 0;
__u64 fill_inserted = 0;

static long fill_one(__u64 i, void *ctx)
{
	__u32 key = fill_next++;
	__u64 value = key;
	/* A full map refuses the key: it never existed, so the drain must not see it. */
	if (bpf_map_update_elem(&fill, &key, &value, BPF_NOEXIST) == 0)
		fill_inserted++;
	return 0;
}

SEC("tc")
int lbt_hash_fill(struct __sk_buff *skb)
{
	bpf_loop(fill_per_run, fill_one, NULL, 0);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
