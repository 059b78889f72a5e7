/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Packet parsing shared by the L7 programs. Every program type that uses it
 * (TC clsact, socket filter on AF_PACKET) sees the packet from its link-layer
 * header, so one parser serves both. Reads go through bpf_skb_load_bytes, which
 * checks each read against the packet's end: a short or lying packet makes a
 * load fail, never read out of bounds.
 */
#ifndef PODFLOW_L7_PACKET_H
#define PODFLOW_L7_PACKET_H

#include "common.h"
#include "l7_events.h"

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define IPPROTO_TCP_NUM 6
#define IPPROTO_UDP_NUM 17
#define PACKET_OUTGOING_TYPE 4
#define TC_ACT_UNSPEC (-1)

struct l7_packet {
	struct pf_l7_tuple tuple;
	__u32 payload_off;	/* from the link-layer header */
	__u32 payload_len;	/* L4 payload bytes present in this skb */
	__u32 tcp_seq;		/* host byte order; TCP only */
};

/* Per-CPU counters of this object (enum pf_l7_counter). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PF_L7_COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
} l7_counters SEC(".maps");

static __always_inline void l7_count(__u32 counter)
{
	__u64 *n = bpf_map_lookup_elem(&l7_counters, &counter);

	if (n)
		*n += 1;
}

static __always_inline __u32 l7_min(__u32 a, __u32 b)
{
	return a < b ? a : b;
}

/*
 * Fills p from an Ethernet (optionally 802.1Q) IPv4/IPv6 TCP/UDP packet.
 * Returns 0 on success, -1 for anything else (not an error: not ours).
 * IPv6 extension headers and non-first fragments are not followed.
 */
static __always_inline int l7_parse(struct __sk_buff *skb, struct l7_packet *p)
{
	__u32 off = 14, ip_len, l4_len;
	__u16 eth_type;
	__u8 proto;

	if (bpf_skb_load_bytes(skb, 12, &eth_type, sizeof(eth_type)))
		return -1;
	if (eth_type == bpf_htons(ETH_P_8021Q)) {
		if (bpf_skb_load_bytes(skb, 16, &eth_type, sizeof(eth_type)))
			return -1;
		off = 18;
	}
	__builtin_memset(&p->tuple, 0, sizeof(p->tuple));
	if (eth_type == bpf_htons(ETH_P_IP)) {
		struct iphdr ip;
		__u32 ihl;

		if (bpf_skb_load_bytes(skb, off, &ip, sizeof(ip)))
			return -1;
		if (ip.frag_off & bpf_htons(0x1fff))
			return -1;
		ihl = (ip.ihl & 0xf) * 4;
		if (ihl < sizeof(ip))
			return -1;
		ip_len = bpf_ntohs(ip.tot_len);
		if (ip_len < ihl)
			return -1;
		ip_len -= ihl;
		off += ihl;
		proto = ip.protocol;
		__builtin_memcpy(p->tuple.saddr, &ip.saddr, 4);
		__builtin_memcpy(p->tuple.daddr, &ip.daddr, 4);
		p->tuple.ip_version = 4;
	} else if (eth_type == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ip6;

		if (bpf_skb_load_bytes(skb, off, &ip6, sizeof(ip6)))
			return -1;
		ip_len = bpf_ntohs(ip6.payload_len);
		off += sizeof(ip6);
		proto = ip6.nexthdr;
		__builtin_memcpy(p->tuple.saddr, &ip6.saddr, 16);
		__builtin_memcpy(p->tuple.daddr, &ip6.daddr, 16);
		p->tuple.ip_version = 6;
	} else {
		return -1;
	}
	p->tuple.protocol = proto;
	if (proto == IPPROTO_UDP_NUM) {
		struct udphdr udp;

		if (bpf_skb_load_bytes(skb, off, &udp, sizeof(udp)))
			return -1;
		p->tuple.sport = bpf_ntohs(udp.source);
		p->tuple.dport = bpf_ntohs(udp.dest);
		l4_len = sizeof(udp);
		p->tcp_seq = 0;
	} else if (proto == IPPROTO_TCP_NUM) {
		struct tcphdr tcp;

		if (bpf_skb_load_bytes(skb, off, &tcp, sizeof(tcp)))
			return -1;
		p->tuple.sport = bpf_ntohs(tcp.source);
		p->tuple.dport = bpf_ntohs(tcp.dest);
		l4_len = tcp.doff * 4;
		if (l4_len < sizeof(tcp))
			return -1;
		p->tcp_seq = bpf_ntohl(tcp.seq);
	} else {
		return -1;
	}
	if (ip_len < l4_len)
		return -1;
	off += l4_len;
	p->payload_off = off;
	/* The IP length may claim more than the skb holds (or a GSO packet less): trust neither alone. */
	p->payload_len = skb->len > off ? l7_min(ip_len - l4_len, skb->len - off) : 0;
	return 0;
}

/* The direction of a socket-filter packet on an AF_PACKET socket. */
static __always_inline __u8 l7_socket_direction(struct __sk_buff *skb)
{
	return skb->pkt_type == PACKET_OUTGOING_TYPE ? PF_DIR_EGRESS : PF_DIR_INGRESS;
}

#endif
