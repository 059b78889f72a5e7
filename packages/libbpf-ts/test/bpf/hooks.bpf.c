// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* One program per hook kind; each counts its calls in `counts` so that the
 * kernel tests can prove the hook fired on their own traffic. Port-filtered
 * where the hook sees the whole machine (tracepoints). */
#include <linux/bpf.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "hooks.h"

/* The two fields we need, matched against the kernel's BTF by CO-RE. */
struct sock_common {
	__be16 skc_dport;
	__u16 skc_num;
} __attribute__((preserve_access_index));

struct sock {
	struct sock_common __sk_common;
} __attribute__((preserve_access_index));

/* The tracepoint's record, from /sys/kernel/tracing/events/sock/inet_sock_set_state/format. */
struct inet_sock_set_state_args {
	__u64 common;
	const void *skaddr;
	int oldstate;
	int newstate;
	__u16 sport;
	__u16 dport;
	__u16 family;
	__u16 protocol;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, HOOK_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

/* Local TCP port whose state changes the tracepoint programs count. */
const volatile __u16 target_port = 0;

static __always_inline void count(__u32 hook)
{
	__u64 *v = bpf_map_lookup_elem(&counts, &hook);
	if (v)
		__sync_fetch_and_add(v, 1);
}

static __always_inline int ours(const struct sock *sk)
{
	return BPF_CORE_READ(sk, __sk_common.skc_num) == target_port ||
	       BPF_CORE_READ(sk, __sk_common.skc_dport) == bpf_htons(target_port);
}

SEC("tracepoint/sock/inet_sock_set_state")
int lbt_tracepoint(struct inet_sock_set_state_args *ctx)
{
	if (ctx->sport == target_port || ctx->dport == target_port)
		count(HOOK_TRACEPOINT);
	return 0;
}

SEC("raw_tp/inet_sock_set_state")
int lbt_raw_tp(struct bpf_raw_tracepoint_args *ctx)
{
	if (ours((const struct sock *)ctx->args[0]))
		count(HOOK_RAW_TP);
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(lbt_tp_btf, const struct sock *sk, int oldstate, int newstate)
{
	if (ours(sk))
		count(HOOK_TP_BTF);
	return 0;
}

SEC("kprobe/tcp_connect")
int lbt_kprobe(void *ctx)
{
	count(HOOK_KPROBE);
	return 0;
}

SEC("uprobe")
int lbt_uprobe(void *ctx)
{
	count(HOOK_UPROBE);
	return 0;
}

SEC("tc")
int lbt_tc_ingress(struct __sk_buff *skb)
{
	count(HOOK_TC_INGRESS);
	return -1; /* TC_ACT_UNSPEC / TCX_NEXT: let later programs on the hook run */
}

SEC("tc")
int lbt_tc_egress(struct __sk_buff *skb)
{
	count(HOOK_TC_EGRESS);
	return -1;
}

SEC("socket")
int lbt_socket(struct __sk_buff *skb)
{
	count(HOOK_SOCKET);
	return 0; /* keep nothing in the socket's queue */
}

SEC("cgroup_skb/egress")
int lbt_cg_egress(struct __sk_buff *skb)
{
	count(HOOK_CGROUP_SKB_EGRESS);
	return 1;
}

SEC("cgroup_skb/ingress")
int lbt_cg_ingress(struct __sk_buff *skb)
{
	count(HOOK_CGROUP_SKB_INGRESS);
	return 1;
}

SEC("sockops")
int lbt_sockops(struct bpf_sock_ops *ops)
{
	if (ops->op == BPF_SOCK_OPS_TCP_CONNECT_CB)
		count(HOOK_SOCKOPS);
	return 1;
}

SEC("cgroup/connect4")
int lbt_connect4(struct bpf_sock_addr *ctx)
{
	count(HOOK_CONNECT4);
	return 1;
}

SEC("xdp")
int lbt_xdp(struct xdp_md *ctx)
{
	count(HOOK_XDP);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
