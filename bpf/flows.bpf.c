// SPDX-License-Identifier: GPL-2.0
/*
 * flows: per-flow counters aggregated in the kernel. The same accounting runs
 * from TC clsact (ingress and egress programs) or, where TC cannot attach,
 * from a socket filter on an AF_PACKET socket; user space drains pf_flows
 * with batch lookup-and-delete and joins both directions into one record.
 */
#include "common.h"

#define ETH_HLEN 14
#define IPPROTO_ICMPV6 58
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define IP_OFFSET_MASK 0x1fff
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_ACK 0x10
#define ICMP_ECHOREPLY 0
#define ICMP_ECHO 8
#define ICMPV6_ECHO_REQUEST 128
#define ICMPV6_ECHO_REPLY 129
#define TC_ACT_UNSPEC (-1)
#define PACKET_OUTGOING 4

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct flow_key);
	__type(value, struct pf_flow_stats);
} pf_flows SEC(".maps");

enum parse_result { PARSE_OK, PARSE_NOT_IP, PARSE_MALFORMED };

/*
 * Copies len bytes at offset off from the network header. TC programs read
 * the packet directly (an Ethernet frame: the helper calls would double the
 * cost per packet); socket filters cannot, and use the helper, which finds
 * the network header by itself. `direct` is a constant after inlining.
 */
struct packet {
	struct __sk_buff *skb;
	void *l3;	/* direct access: the network header, and the end of the data */
	void *end;
	bool direct;
};

static __always_inline long load(struct packet *pkt, __u32 off, void *to, __u32 len)
{
	if (pkt->direct) {
		void *p = pkt->l3 + (off & 0x7f);

		if (p + len > pkt->end)
			return -1;
		__builtin_memcpy(to, p, len);
		return 0;
	}
	return bpf_skb_load_bytes_relative(pkt->skb, off, to, len, BPF_HDR_START_NET);
}

/*
 * Keys the packet and sets *bytes to its IP length; leaves ports zero for
 * non-first fragments and protocols without ports.
 */
static __always_inline enum parse_result parse(struct packet *pkt, struct flow_key *k, __u8 *tcp_flags, __u32 *bytes)
{
	struct __sk_buff *skb = pkt->skb;
	__u32 l4off;

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr ip;

		if (load(pkt, 0, &ip, sizeof(ip)) || ip.ihl < 5 || ip.version != 4)
			return PARSE_MALFORMED;
		/* GSO packets carry their whole length here (BIG TCP writes 0: use the skb's). */
		*bytes = ip.tot_len ? bpf_ntohs(ip.tot_len) : skb->len - ETH_HLEN;
		k->ip_version = 4;
		k->protocol = ip.protocol;
		__builtin_memcpy(k->saddr, &ip.saddr, 4);
		__builtin_memcpy(k->daddr, &ip.daddr, 4);
		if (ip.frag_off & bpf_htons(IP_OFFSET_MASK))
			return PARSE_OK;
		l4off = ip.ihl * 4;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ip6;

		if (load(pkt, 0, &ip6, sizeof(ip6)) || ip6.version != 6)
			return PARSE_MALFORMED;
		*bytes = ip6.payload_len ? sizeof(ip6) + bpf_ntohs(ip6.payload_len) : skb->len - ETH_HLEN;
		k->ip_version = 6;
		k->protocol = ip6.nexthdr;
		__builtin_memcpy(k->saddr, &ip6.saddr, 16);
		__builtin_memcpy(k->daddr, &ip6.daddr, 16);
		l4off = sizeof(ip6);
	} else {
		return PARSE_NOT_IP;
	}

	switch (k->protocol) {
	case IPPROTO_TCP: {
		__u8 th[14];

		if (load(pkt, l4off, th, sizeof(th)))
			return PARSE_MALFORMED;
		k->sport = (th[0] << 8) | th[1];
		k->dport = (th[2] << 8) | th[3];
		*tcp_flags = th[13];
		break;
	}
	case IPPROTO_UDP: {
		__u8 uh[4];

		if (load(pkt, l4off, uh, sizeof(uh)))
			return PARSE_MALFORMED;
		k->sport = (uh[0] << 8) | uh[1];
		k->dport = (uh[2] << 8) | uh[3];
		break;
	}
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6: {
		/* Echo request and reply share the echo id, so a ping is one conversation. */
		__u8 ih[6];

		if (load(pkt, l4off, ih, sizeof(ih)))
			return PARSE_MALFORMED;
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
	return PARSE_OK;
}

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
	struct packet pkt = { .skb = skb, .direct = direct };
	struct flow_key k = {};
	struct pf_flow_stats *s, fresh;
	enum parse_result r;
	__u8 tcp_flags = 0;
	__u32 bytes = 0;

	if (direct) {
		/* Read once: the compiler must not re-derive them from a moved ctx pointer. */
		pkt.l3 = (void *)(long)skb->data + ETH_HLEN;
		pkt.end = (void *)(long)skb->data_end;
	}
	r = parse(&pkt, &k, &tcp_flags, &bytes);
	if (r == PARSE_NOT_IP)
		return;
	if (r == PARSE_MALFORMED) {
		pf_count_loss(PF_LOSS_PARSE);
		return;
	}
	/* The clock is read once per flow and drain interval, not per packet. */
	s = bpf_map_lookup_elem(&pf_flows, &k);
	if (s) {
		/* An empty slot: the flow was created on another CPU. */
		if (s->packets == 0)
			stats_start(s, skb, direction, bpf_ktime_get_ns());
		else if (s->ifindex != skb->ifindex || s->direction != direction)
			return; /* counted where first seen */
		stats_add(s, skb, tcp_flags, bytes);
		return;
	}
	stats_start(&fresh, skb, direction, bpf_ktime_get_ns());
	stats_add(&fresh, skb, tcp_flags, bytes);
	if (bpf_map_update_elem(&pf_flows, &k, &fresh, BPF_NOEXIST))
		pf_count_loss(PF_LOSS_MAP_FULL);
}

SEC("tc")
int flows_tc_ingress(struct __sk_buff *skb)
{
	account(skb, true, PF_DIR_INGRESS);
	return TC_ACT_UNSPEC;
}

SEC("tc")
int flows_tc_egress(struct __sk_buff *skb)
{
	account(skb, true, PF_DIR_EGRESS);
	return TC_ACT_UNSPEC;
}

/* Fallback: on an AF_PACKET socket; returns 0 so no packet is ever queued to it. */
SEC("socket")
int flows_socket(struct __sk_buff *skb)
{
	account(skb, false, skb->pkt_type == PACKET_OUTGOING ? PF_DIR_EGRESS : PF_DIR_INGRESS);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
