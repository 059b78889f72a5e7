/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one L3/L4 parser of the packet programs (flows, dns, http), for TC
 * clsact and for socket filters on AF_PACKET sockets. Both see Ethernet frames
 * (the network header at ETH_HLEN; an 802.1Q tag is in skb metadata, not in
 * the frame, where the NIC or veth offloads it, else the packet is not IP here).
 */
#ifndef PODFLOW_PACKET_H
#define PODFLOW_PACKET_H

#include "common.h"

#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define IPPROTO_ICMPV6 58
#define IPPROTO_HOPOPTS 0
#define IPPROTO_ROUTING 43
#define IPPROTO_FRAGMENT 44
#define IPPROTO_AH 51
#define IPPROTO_DSTOPTS 60
#define IP6_OFFSET_MASK 0xfff8
#define IP6_MF 0x0001
#define IP_OFFSET_MASK 0x1fff
#define IP_MF 0x2000
/*
 * IPv6 extension headers followed before the transport header. Linux accepts
 * any number, but a sender needs CAP_NET_RAW (IPV6_HOPOPTS, IPV6_DSTOPTS:
 * in the default capabilities of a container) for more than a fragment
 * header; a packet with more than this is counted unparsable (flows:parse_error).
 */
#define PF_IPV6_EXT_MAX 4
/* Offsets from the network header read directly (TC); beyond, through the helper. */
#define PF_DIRECT_OFF_MAX 0x7f
#define ICMP_ECHOREPLY 0
#define ICMP_ECHO 8
#define ICMPV6_ECHO_REQUEST 128
#define ICMPV6_ECHO_REPLY 129
#define TC_ACT_UNSPEC (-1)
#define PACKET_OUTGOING 4

/*
 * How a program reads the packet. TC programs read the headers directly (the
 * helper calls would double a program's cost per packet), through the helper
 * only where they lie beyond the skb's linear part; socket filters cannot, and
 * use the helper, which finds the network header by itself. `direct` is a
 * constant after inlining.
 */
struct pf_packet {
	struct __sk_buff *skb;
	void *l3;	/* direct access: the network header, and the end of the data */
	void *end;
	bool direct;
};

enum pf_parse_result { PF_PARSE_OK, PF_PARSE_NOT_IP, PF_PARSE_MALFORMED };

struct pf_parsed {
	struct flow_key key;	/* ports zero for non-first fragments and protocols without ports */
	__u32 bytes;		/* IP length (header and payload; a GSO packet's whole length) */
	__u32 payload_off;	/* with_payload: L4 payload, from the link-layer header (bpf_skb_load_bytes offsets) */
	__u32 payload_len;	/* with_payload: L4 payload bytes present in this skb */
	__u32 tcp_seq;		/* with_payload, TCP: host byte order */
	__u32 tcp_ack;		/* with_payload, TCP: host byte order */
	__u8 tcp_flags;
	__u8 fragment;		/* a non-first fragment (IPv4, or IPv6 with a fragment header) */
	__u8 more_fragments;	/* a first fragment: the datagram goes on in fragments without a transport header */
	__u8 payload_ok;	/* with_payload: a TCP or UDP payload located (lengths consistent, not a fragment) */
};

/* The packet as one program type sees it: TC reads directly, socket filters through the helper. */
static __always_inline struct pf_packet pf_packet(struct __sk_buff *skb, bool direct)
{
	struct pf_packet pkt = { .skb = skb, .direct = direct };

	if (direct) {
		/* Read once: the compiler must not re-derive them from a moved ctx pointer. */
		pkt.l3 = (void *)(long)skb->data + ETH_HLEN;
		pkt.end = (void *)(long)skb->data_end;
	}
	return pkt;
}

/* Copies len bytes at offset off from the network header. */
static __always_inline long pf_load(struct pf_packet *pkt, __u32 off, void *to, __u32 len)
{
	if (pkt->direct && off <= PF_DIRECT_OFF_MAX) {
		void *p = pkt->l3 + (off & PF_DIRECT_OFF_MAX);

		if (p + len <= pkt->end) {
			__builtin_memcpy(to, p, len);
			return 0;
		}
		return bpf_skb_load_bytes(pkt->skb, ETH_HLEN + off, to, len);
	}
	return bpf_skb_load_bytes_relative(pkt->skb, off, to, len, BPF_HDR_START_NET);
}

static __always_inline __u32 pf_min(__u32 a, __u32 b)
{
	return a < b ? a : b;
}

/*
 * Keys an IPv4/IPv6 packet (ICMP echo: the echo id as both ports, so a ping is
 * one conversation). with_payload (known at load: flows alone does not pay for
 * it) also locates the TCP/UDP payload, checking the lengths the headers
 * claim; where they do not add up the packet is still keyed (flows counts it),
 * only payload_ok stays 0. IPv6 extension headers (hop-by-hop, routing,
 * destination options, fragment, AH) are followed, up to PF_IPV6_EXT_MAX: a
 * pod with CAP_NET_RAW can put a destination options header on every packet
 * of a normal socket (setsockopt IPV6_DSTOPTS), and its peer accepts them.
 */
static __always_inline enum pf_parse_result pf_parse(struct pf_packet *pkt, struct pf_parsed *p, bool with_payload)
{
	struct __sk_buff *skb = pkt->skb;
	struct flow_key *k = &p->key;
	__u32 l4off, ip_payload;

	/* Only what this program uses is cleared: it runs per packet. */
	__builtin_memset(k, 0, sizeof(*k));
	p->tcp_flags = 0;
	p->fragment = 0;
	p->more_fragments = 0;
	p->payload_ok = 0;
	if (with_payload) {
		p->payload_off = 0;
		p->payload_len = 0;
		p->tcp_seq = 0;
		p->tcp_ack = 0;
	}
	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr ip;

		if (pf_load(pkt, 0, &ip, sizeof(ip)) || ip.ihl < 5 || ip.version != 4)
			return PF_PARSE_MALFORMED;
		/* GSO packets carry their whole length here (BIG TCP writes 0: use the skb's). */
		p->bytes = ip.tot_len ? bpf_ntohs(ip.tot_len) : skb->len - ETH_HLEN;
		k->ip_version = 4;
		k->protocol = ip.protocol;
		__builtin_memcpy(k->saddr, &ip.saddr, 4);
		__builtin_memcpy(k->daddr, &ip.daddr, 4);
		if (ip.frag_off & bpf_htons(IP_OFFSET_MASK)) {
			p->fragment = 1;
			return PF_PARSE_OK;
		}
		p->more_fragments = !!(ip.frag_off & bpf_htons(IP_MF));
		l4off = ip.ihl * 4;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ip6;

		if (pf_load(pkt, 0, &ip6, sizeof(ip6)) || ip6.version != 6)
			return PF_PARSE_MALFORMED;
		p->bytes = ip6.payload_len ? sizeof(ip6) + bpf_ntohs(ip6.payload_len) : skb->len - ETH_HLEN;
		k->ip_version = 6;
		k->protocol = ip6.nexthdr;
		__builtin_memcpy(k->saddr, &ip6.saddr, 16);
		__builtin_memcpy(k->daddr, &ip6.daddr, 16);
		l4off = sizeof(ip6);
		/*
		 * A fragment is keyed by the protocol it carries, as an IPv4 one: the
		 * first has the transport header after the fragment header (its ports
		 * join the conversation), the others none (ports zero). The loop's
		 * first test is all an IPv6 packet without extension headers pays.
		 */
#pragma unroll
		for (int i = 0; i < PF_IPV6_EXT_MAX; i++) {
			__u8 eh[4];

			if (k->protocol != IPPROTO_HOPOPTS && k->protocol != IPPROTO_ROUTING &&
			    k->protocol != IPPROTO_DSTOPTS && k->protocol != IPPROTO_FRAGMENT && k->protocol != IPPROTO_AH)
				break;
			if (pf_load(pkt, l4off, eh, sizeof(eh)))
				return PF_PARSE_MALFORMED;
			if (k->protocol == IPPROTO_FRAGMENT) {
				if (((eh[2] << 8) | eh[3]) & IP6_OFFSET_MASK) {
					k->protocol = eh[0];
					p->fragment = 1;
					return PF_PARSE_OK;
				}
				p->more_fragments = eh[3] & IP6_MF;
				l4off += 8;
			} else if (k->protocol == IPPROTO_AH) {
				l4off += (eh[1] + 2) * 4;	/* RFC 4302: in 4-byte units, minus 2 */
			} else {
				l4off += (eh[1] + 1) * 8;	/* RFC 8200: in 8-byte units, not counting the first 8 */
			}
			k->protocol = eh[0];
		}
		/* More extension headers than followed: no transport header to key by. */
		if (k->protocol == IPPROTO_HOPOPTS || k->protocol == IPPROTO_ROUTING || k->protocol == IPPROTO_DSTOPTS ||
		    k->protocol == IPPROTO_FRAGMENT || k->protocol == IPPROTO_AH)
			return PF_PARSE_MALFORMED;
	} else {
		return PF_PARSE_NOT_IP;
	}
	/* 0 when the IP length claims less than its own header: no payload is located then. */
	ip_payload = p->bytes > l4off ? p->bytes - l4off : 0;

	switch (k->protocol) {
	case IPPROTO_TCP: {
		/* Ports, sequence number, data offset and flags: the first 14 bytes of the header. */
		__u8 th[14];
		__u32 hlen;

		if (pf_load(pkt, l4off, th, sizeof(th)))
			return PF_PARSE_MALFORMED;
		k->sport = (th[0] << 8) | th[1];
		k->dport = (th[2] << 8) | th[3];
		p->tcp_flags = th[13];
		if (!with_payload)
			break;
		hlen = (th[12] >> 4) * 4;
		if (hlen < 20 || ip_payload < hlen)
			break;
		p->tcp_seq = ((__u32)th[4] << 24) | ((__u32)th[5] << 16) | ((__u32)th[6] << 8) | th[7];
		p->tcp_ack = ((__u32)th[8] << 24) | ((__u32)th[9] << 16) | ((__u32)th[10] << 8) | th[11];
		p->payload_off = ETH_HLEN + l4off + hlen;
		p->payload_len = ip_payload - hlen;
		p->payload_ok = 1;
		break;
	}
	case IPPROTO_UDP: {
		__u8 uh[4];

		if (pf_load(pkt, l4off, uh, sizeof(uh)))
			return PF_PARSE_MALFORMED;
		k->sport = (uh[0] << 8) | uh[1];
		k->dport = (uh[2] << 8) | uh[3];
		if (!with_payload)
			break;
		if (ip_payload < 8)
			break;
		p->payload_off = ETH_HLEN + l4off + 8;
		p->payload_len = ip_payload - 8;
		p->payload_ok = 1;
		break;
	}
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6: {
		__u8 ih[6];

		if (pf_load(pkt, l4off, ih, sizeof(ih)))
			return PF_PARSE_MALFORMED;
		if (ih[0] == ICMP_ECHO || ih[0] == ICMP_ECHOREPLY || ih[0] == ICMPV6_ECHO_REQUEST ||
		    ih[0] == ICMPV6_ECHO_REPLY) {
			k->sport = (ih[4] << 8) | ih[5];
			k->dport = k->sport;
		}
		break;
	}
	default:
		break;
	}
	/* The IP length may claim more than the skb holds (or a GSO packet less): trust neither alone. */
	if (with_payload)
		p->payload_len = skb->len > p->payload_off ? pf_min(p->payload_len, skb->len - p->payload_off) : 0;
	return PF_PARSE_OK;
}

/* The direction of a packet seen by a socket filter on an AF_PACKET socket. */
static __always_inline __u8 pf_socket_direction(struct __sk_buff *skb)
{
	return skb->pkt_type == PACKET_OUTGOING ? PF_DIR_EGRESS : PF_DIR_INGRESS;
}

/*
 * The three entry points of a packet object: TC ingress and egress, which
 * observe only (TC_ACT_UNSPEC, TCX_NEXT: the programs after this one still
 * run), and the AF_PACKET socket filter fallback, which returns 0 so nothing
 * is ever queued to the observing socket. handle(skb, bool tc, __u8 direction).
 */
#define PF_PACKET_PROGRAMS(prefix, handle)					\
	SEC("tc")								\
	int prefix##_tc_ingress(struct __sk_buff *skb)				\
	{									\
		handle(skb, true, PF_DIR_INGRESS);				\
		return TC_ACT_UNSPEC;						\
	}									\
	SEC("tc")								\
	int prefix##_tc_egress(struct __sk_buff *skb)				\
	{									\
		handle(skb, true, PF_DIR_EGRESS);				\
		return TC_ACT_UNSPEC;						\
	}									\
	SEC("socket")								\
	int prefix##_socket(struct __sk_buff *skb)				\
	{									\
		handle(skb, false, pf_socket_direction(skb));			\
		return 0;							\
	}

#endif
