// SPDX-License-Identifier: GPL-2.0
/*
 * drops: IP packets the kernel freed with a drop reason. The reason numbers
 * differ between kernels: the filter uses CO-RE enum values and user space
 * names them from the running kernel's BTF. Rate-limited per flow, reason and
 * interface: the first drop is reported at once, then at most one record per
 * interval carrying the count; user space reports what is still pending when
 * a key goes quiet.
 */
#include "common.h"

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define IPPROTO_TCP_NUM 6
#define IPPROTO_UDP_NUM 17
#define IPPROTO_ICMP_NUM 1
#define IPPROTO_ICMPV6_NUM 58
#define IP_OFFSET_MASK 0x1fff
#define DROP_INTERVAL_NS 1000000000ULL

/* The inode of the agent's network namespace (set by the loader): interface indexes are per namespace. */
const volatile __u32 drops_netns_ino = 0;

/*
 * The reason filter, one slot per drop reason value (reasons of other
 * subsystems, and values past the table, share the last slot). User space
 * sets report to 1 for each reason its allow/deny lists let through: normal
 * teardown (QUEUE_PURGE, NOT_SPECIFIED) is not packet loss, and one DROP per
 * closed connection would cost more than the connection itself.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PF_DROP_REASON_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
} pf_drop_reason_report SEC(".maps");

/*
 * Drops left out, per slot: policy, not loss, but never silent. The slot past
 * the reasons counts skbs that were not IP (netlink and unix messages, ARP):
 * a DROP without addresses would give a consumer no flow to join it to.
 */
#define PF_DROP_NOT_IP_SLOT PF_DROP_REASON_SLOTS
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PF_DROP_REASON_SLOTS + 1);
	__type(key, __u32);
	__type(value, __u64);
} pf_drop_reason_filtered SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} pf_events SEC(".maps");

/* Not LRU: eviction would lose pending counts silently; windows are deleted when quiet (user space). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct pf_drop_event);	/* ts_ns and count zero */
	__type(value, struct pf_drop_window);
} pf_drop_windows SEC(".maps");

const struct pf_drop_event *unused_drop_event __attribute__((unused));

/* An ICMP or ICMPv6 echo request or reply (packet.h keys those by their id, as flows does). */
static __always_inline bool is_echo(__u8 protocol, __u8 type)
{
	return protocol == IPPROTO_ICMP_NUM ? type == 0 || type == 8 : type == 128 || type == 129;
}

/*
 * proto (network order) is ETH_P_IP or ETH_P_IPV6: drops_tp leaves out the rest.
 * The ports are those the flows probe keys the packet by (packet.h), so that a
 * DROP joins its flow's conversation: zero for a non-first fragment (no
 * transport header), the echo id as both for an ICMP echo.
 */
static __always_inline void read_tuple(struct sk_buff *skb, __u16 proto, struct pf_drop_event *e)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u16 nh = BPF_CORE_READ(skb, network_header);
	__u16 th;
	__u16 ports[2] = {};
	__u8 icmp[6];

	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr ip;

		if (bpf_probe_read_kernel(&ip, sizeof(ip), head + nh))
			return;
		e->ip_version = 4;
		e->protocol = ip.protocol;
		__builtin_memcpy(e->saddr, &ip.saddr, 4);
		__builtin_memcpy(e->daddr, &ip.daddr, 4);
		if (ip.frag_off & bpf_htons(IP_OFFSET_MASK))
			return;
		/* transport_header may not be set yet on early drops: derive it. */
		th = nh + ip.ihl * 4;
	} else {
		struct ipv6hdr ip6;

		if (bpf_probe_read_kernel(&ip6, sizeof(ip6), head + nh))
			return;
		e->ip_version = 6;
		e->protocol = ip6.nexthdr;
		__builtin_memcpy(e->saddr, &ip6.saddr, 16);
		__builtin_memcpy(e->daddr, &ip6.daddr, 16);
		th = nh + sizeof(ip6);
	}
	if ((e->protocol == IPPROTO_TCP_NUM || e->protocol == IPPROTO_UDP_NUM) &&
	    !bpf_probe_read_kernel(ports, sizeof(ports), head + th)) {
		e->sport = bpf_ntohs(ports[0]);
		e->dport = bpf_ntohs(ports[1]);
	} else if ((e->protocol == IPPROTO_ICMP_NUM || e->protocol == IPPROTO_ICMPV6_NUM) &&
		   !bpf_probe_read_kernel(icmp, sizeof(icmp), head + th) && is_echo(e->protocol, icmp[0])) {
		e->sport = (icmp[4] << 8) | icmp[5];
		e->dport = e->sport;
	}
}

SEC("tracepoint/skb/kfree_skb")
int drops_tp(struct trace_event_raw_kfree_skb *ctx)
{
	__u32 reason = ctx->reason, slot, *report;
	struct sk_buff *skb = ctx->skbaddr;
	struct pf_drop_window *w, fresh = {};
	struct pf_drop_event key = {}, *e;
	__u64 now;
	__u32 count = 1;
	__u16 proto;

	if (reason == bpf_core_enum_value(enum skb_drop_reason, SKB_CONSUMED) ||
	    reason == bpf_core_enum_value(enum skb_drop_reason, SKB_NOT_DROPPED_YET))
		return 0;
	slot = reason < PF_DROP_REASON_SLOTS - 1 ? reason : PF_DROP_REASON_SLOTS - 1;
	report = bpf_map_lookup_elem(&pf_drop_reason_report, &slot);
	if (!report || !*report) {
		pf_count(&pf_drop_reason_filtered, slot);
		return 0;
	}
	proto = BPF_CORE_READ(skb, protocol);
	if (proto != bpf_htons(ETH_P_IP) && proto != bpf_htons(ETH_P_IPV6)) {
		pf_count(&pf_drop_reason_filtered, PF_DROP_NOT_IP_SLOT);
		return 0;
	}
	key.reason = reason;
	/*
	 * Interface indexes are per network namespace: a drop inside a pod's (its
	 * eth0, say) has an index that means nothing where the agent names
	 * interfaces (the host's), or names another interface there. Only those of
	 * the agent's namespace are reported.
	 */
	if (BPF_CORE_READ(skb, dev, nd_net.net, ns.inum) == drops_netns_ino) {
		key.ifindex = BPF_CORE_READ(skb, skb_iif);
		if (!key.ifindex)
			key.ifindex = BPF_CORE_READ(skb, dev, ifindex);
	}
	read_tuple(skb, proto, &key);

	now = bpf_ktime_get_ns();
	w = bpf_map_lookup_elem(&pf_drop_windows, &key);
	if (w) {
		w->pending += 1;
		if (now - w->last_emit_ns < DROP_INTERVAL_NS)
			return 0;
		count = w->pending;
	} else {
		fresh.last_emit_ns = now;
		/*
		 * Not a loss when this fails: the event below is reported at once either
		 * way; a full map (or another CPU's window) only costs rate limiting. Pending
		 * counts live only in inserted windows, which nothing evicts.
		 */
		bpf_map_update_elem(&pf_drop_windows, &key, &fresh, BPF_NOEXIST);
	}
	e = bpf_ringbuf_reserve(&pf_events, sizeof(*e), 0);
	if (!e) {
		/* Still pending in the window (when there is one): reported later. */
		pf_count_loss(PF_LOSS_RINGBUF_FULL);
		return 0;
	}
	__builtin_memcpy(e, &key, sizeof(*e));
	e->ts_ns = now;
	e->count = count;
	pf_ringbuf_submit(&pf_events, e);
	if (w) {
		w->pending = 0;
		w->last_emit_ns = now;
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
