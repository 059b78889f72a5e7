/* SPDX-License-Identifier: GPL-2.0 */
/*
 * flows: per-flow counters aggregated in the kernel, a probe of the packet
 * object (packet.bpf.c: TC clsact ingress and egress or, where TC cannot
 * attach, a socket filter on an AF_PACKET socket); user space drains pf_flows
 * with batch lookup-and-delete. Both directions of a conversation share one
 * entry (a short connection inserts one entry, not two); user space decides
 * which side initiated it.
 */
#ifndef PODFLOW_FLOWS_H
#define PODFLOW_FLOWS_H

#include "packet.h"

#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_ACK 0x10

/*
 * Not LRU: an LRU map evicts undrained counters silently; a full hash refuses
 * and is counted. It holds the conversations with packets since the last
 * drain (every second at most). The value is per CPU (64 bytes x possible
 * CPUs per entry): the agent sizes the map to a memory budget before loading
 * (flowMapEntries in src/probes/flows/plan.ts), 65,536 entries at most.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct flow_key);
	__type(value, struct pf_flow_stats);
} pf_flows SEC(".maps");

#define PF_EEXIST 17

static __always_inline void stats_start(struct pf_flow_dir *s, struct __sk_buff *skb, __u8 direction, __u64 now)
{
	s->first_ns = now;
	s->bytes = 0;
	s->packets = 0;
	s->ifindex = skb->ifindex;
	s->direction = direction;
	s->tcp_flags = 0;
	s->syn = 0;
}

static __always_inline void stats_add(struct pf_flow_dir *s, struct __sk_buff *skb, __u8 tcp_flags, __u32 bytes)
{
	__u32 segs = skb->gso_segs;

	s->bytes += bytes;
	s->packets += segs ? segs : 1;
	s->tcp_flags |= tcp_flags;
	if ((tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN)
		s->syn = 1;
}

/*
 * Orders the key's endpoints, the smaller (address as two native 64-bit words,
 * then port) first: any fixed order does, user space does not depend on it. Returns
 * the packet's direction within the conversation: 0 when it goes from the
 * ordered key's source to its destination, 1 when it was swapped.
 */
static __always_inline int conversation_key(struct flow_key *k)
{
	__u64 s0, s1, d0, d1;
	__u16 port;

	__builtin_memcpy(&s0, k->saddr, 8);
	__builtin_memcpy(&s1, k->saddr + 8, 8);
	__builtin_memcpy(&d0, k->daddr, 8);
	__builtin_memcpy(&d1, k->daddr + 8, 8);
	if (s0 < d0 || (s0 == d0 && (s1 < d1 || (s1 == d1 && k->sport <= k->dport))))
		return 0;
	__builtin_memcpy(k->saddr, &d0, 8);
	__builtin_memcpy(k->saddr + 8, &d1, 8);
	__builtin_memcpy(k->daddr, &s0, 8);
	__builtin_memcpy(k->daddr + 8, &s1, 8);
	port = k->sport;
	k->sport = k->dport;
	k->dport = port;
	return 1;
}

/*
 * Counts a packet in its conversation (key ordered, way from
 * conversation_key); false when it was not counted here: the conversation's
 * direction was first seen elsewhere, or the map was full (counted). A plain
 * hash, not an LRU: a full map refuses the insert (-E2BIG) instead of evicting.
 */
static __always_inline bool count_packet(struct __sk_buff *skb, const struct flow_key *key, struct pf_parsed *p,
					 int way, __u8 direction)
{
	struct pf_flow_stats *s, fresh;
	struct pf_flow_dir *d;
	long err;

	/*
	 * The clock is read once per direction and drain interval, not per packet.
	 * A SYN without ACK nearly always opens its conversation: its insert is
	 * tried first, without the lookup that would miss (a cold bucket walk per
	 * connection); a retransmitted SYN finds the entry at the insert.
	 */
	s = (p->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN ? NULL : bpf_map_lookup_elem(&pf_flows, key);
	if (!s) {
		__builtin_memset(&fresh, 0, sizeof(fresh));
		d = way ? &fresh.dir[1] : &fresh.dir[0];
		stats_start(d, skb, direction, bpf_ktime_get_ns());
		stats_add(d, skb, p->tcp_flags, p->bytes);
		err = bpf_map_update_elem(&pf_flows, key, &fresh, BPF_NOEXIST);
		if (err != -PF_EEXIST) {
			if (err)
				pf_count_loss_in(PF_PACKET_FLOWS, PF_LOSS_MAP_FULL);
			return !err;
		}
		/* There already (another CPU created it between lookup and insert, or a SYN's): add to it. */
		s = bpf_map_lookup_elem(&pf_flows, key);
		if (!s) {
			pf_count_loss_in(PF_PACKET_FLOWS, PF_LOSS_MAP_FULL); /* drained in between: vanishingly rare */
			return false;
		}
	}
	d = way ? &s->dir[1] : &s->dir[0];
	/* An empty direction: its first packet here (this CPU's copy, or the replies). */
	if (d->packets == 0)
		stats_start(d, skb, direction, bpf_ktime_get_ns());
	else if (d->ifindex != skb->ifindex || d->direction != direction)
		return false; /* counted where first seen */
	stats_add(d, skb, p->tcp_flags, p->bytes);
	return true;
}

/*
 * Counts a parsed packet; true when it was counted here (its egress sighting
 * then has nothing to add). Orders p->key in place (a copy would cost the
 * flows-only program ~3 ns a packet): the caller's last use of the key.
 */
static __always_inline bool flows_packet(struct __sk_buff *skb, struct pf_parsed *p, __u8 direction)
{
	int way = conversation_key(&p->key);

	return count_packet(skb, &p->key, p, way, direction);
}

#endif
