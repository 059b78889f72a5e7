// SPDX-License-Identifier: GPL-2.0
/*
 * flows: per-flow counters aggregated in the kernel. The same accounting runs
 * from TC clsact (ingress and egress programs) or, where TC cannot attach,
 * from a socket filter on an AF_PACKET socket; user space drains pf_flows
 * with batch lookup-and-delete and joins both directions into one record.
 */
#include "packet.h"

#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_ACK 0x10

/* Not LRU: an LRU map evicts undrained counters silently; a full hash refuses and is counted. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct flow_key);
	__type(value, struct pf_flow_stats);
} pf_flows SEC(".maps");

static __always_inline void stats_start(struct pf_flow_stats *s, struct __sk_buff *skb, __u8 direction, __u64 now)
{
	s->first_ns = now;
	s->bytes = 0;
	s->packets = 0;
	s->ifindex = skb->ifindex;
	s->direction = direction;
	s->tcp_flags = 0;
	s->syn = 0;
}

static __always_inline void stats_add(struct pf_flow_stats *s, struct __sk_buff *skb, __u8 tcp_flags, __u32 bytes)
{
	__u32 segs = skb->gso_segs;

	s->bytes += bytes;
	s->packets += segs ? segs : 1;
	s->tcp_flags |= tcp_flags;
	if ((tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN)
		s->syn = 1;
}

static __always_inline void account(struct __sk_buff *skb, bool direct, __u8 direction)
{
	struct pf_packet pkt = pf_packet(skb, direct);
	struct pf_flow_stats *s, fresh;
	struct pf_parsed p;
	enum pf_parse_result r;

	r = pf_parse(&pkt, &p, false);
	if (r == PF_PARSE_NOT_IP)
		return;
	if (r == PF_PARSE_MALFORMED) {
		pf_count_loss(PF_LOSS_PARSE);
		return;
	}
	/* The clock is read once per flow and drain interval, not per packet. */
	s = bpf_map_lookup_elem(&pf_flows, &p.key);
	if (!s) {
		stats_start(&fresh, skb, direction, bpf_ktime_get_ns());
		stats_add(&fresh, skb, p.tcp_flags, p.bytes);
		if (pf_map_insert(&pf_flows, &p.key, &fresh) != -PF_EEXIST)
			return;
		/* Another CPU created the flow between lookup and insert: add to it. */
		s = bpf_map_lookup_elem(&pf_flows, &p.key);
		if (!s) {
			pf_count_loss(PF_LOSS_MAP_FULL); /* drained in between: vanishingly rare */
			return;
		}
	}
	/* An empty slot: the flow was created on another CPU. */
	if (s->packets == 0)
		stats_start(s, skb, direction, bpf_ktime_get_ns());
	else if (s->ifindex != skb->ifindex || s->direction != direction)
		return; /* counted where first seen */
	stats_add(s, skb, p.tcp_flags, p.bytes);
}

/* TC reads the packet directly; the socket filter through the helper. */
PF_PACKET_PROGRAMS(flows, account)

char LICENSE[] SEC("license") = "GPL";
