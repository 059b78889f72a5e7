/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dns: one ring-buffer event per DNS query and per DNS response on the
 * configured ports (UDP and TCP), parsed without trusting the packet; a probe
 * of the packet object (packet.bpf.c). User space pairs queries with responses
 * (transaction id + the client's address, port and protocol) and reports
 * timeouts.
 *
 * Every read is a bpf_skb_load_bytes checked against the message length and
 * the packet's end. The name and answer walks are bpf_loop callbacks with a
 * constant bound, so the verifier checks each body once and a compression loop
 * or a lying length can at worst exhaust the bound.
 */
#ifndef PODFLOW_DNS_H
#define PODFLOW_DNS_H

#include "l7_counters.h"
#include "svc_orig_dst.h"

#define DNS_MSG_MAX 4096	/* offsets beyond this are not followed */
#define DNS_HDR_LEN 12
#define DNS_RR_MAX 8		/* answer records examined per response */
#define DNS_LABELS_MAX 32	/* labels followed when skipping an uncompressed answer name */
#define DNS_TYPE_A 1
#define DNS_TYPE_AAAA 28

_Static_assert(PF_DNS_NAME_MAX == 256, "the name copy's size mask assumes 256 bytes");

/* The ports DNS is recognised on (0 = unused slot); set by the loader before load. */
const volatile __u16 dns_ports[PF_DNS_PORTS_MAX] = { 53, 0, 0, 0 };

/*
 * 4 MiB: ~10,000 events of 424 bytes, 100 ms at 50,000 DNS exchanges/s (a query
 * and a response each), what a pause of the agent's JavaScript thread (GC, a
 * large sink batch) must be bridged with before the kernel has to drop.
 */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} dns_events SEC(".maps");

/*
 * A message crossing two interfaces of the node (the client pod's veth, then
 * the server pod's) is seen twice: the later sightings are dropped here,
 * before the name walk and the ring buffer, instead of in user space. Keyed by
 * the client's side, so the copy after DNAT is recognised too.
 */
#define DNS_SIGHTING_WINDOW_NS 50000000ULL

struct dns_sighting_key {
	__u8 client_addr[16];
	__u16 client_port;
	__u16 id;
	__u8 ip_version;
	__u8 protocol;
	__u8 response;
	__u8 pad;
};

struct dns_sighting {
	__u64 ts_ns;
	__u32 ifindex;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct dns_sighting_key);
	__type(value, struct dns_sighting);
} dns_sightings SEC(".maps");

/* Whether this message was seen on another interface of the node moments ago; remembers this sighting otherwise. */
static __always_inline bool dns_seen_elsewhere(struct pf_parsed *p, __u16 id, bool response, __u32 ifindex, __u64 now)
{
	struct dns_sighting_key key = {};
	struct dns_sighting *seen, fresh = { .ts_ns = now, .ifindex = ifindex };

	__builtin_memcpy(key.client_addr, response ? p->key.daddr : p->key.saddr, 16);
	key.client_port = response ? p->key.dport : p->key.sport;
	key.id = id;
	key.ip_version = p->key.ip_version;
	key.protocol = p->key.protocol;
	key.response = response;
	seen = bpf_map_lookup_elem(&dns_sightings, &key);
	if (seen && seen->ifindex != ifindex && now - seen->ts_ns < DNS_SIGHTING_WINDOW_NS)
		return true;
	/* LRU: a full map evicts the oldest sighting, which costs at most a duplicate event (paired away in user space). */
	bpf_map_update_elem(&dns_sightings, &key, &fresh, BPF_ANY);
	return false;
}

/* Puts struct pf_dns_event into the object's BTF (ring-buffer maps carry no value type) for the layout test. */
const struct pf_dns_event *unused_dns_event __attribute__((unused));

static __always_inline int dns_port(__u16 port)
{
	for (int i = 0; i < PF_DNS_PORTS_MAX; i++)
		if (dns_ports[i] && dns_ports[i] == port)
			return 1;
	return 0;
}

struct dns_walk {
	struct __sk_buff *skb;
	struct pf_dns_event *ev;
	__u32 base;		/* packet offset of the DNS message */
	__u32 len;		/* message bytes present */
	__u32 off;		/* name walk: name bytes copied; answer walk: next record */
	__u32 next_label;	/* name walk: index of the next label length byte */
	__u32 end;		/* name walk: offset just past the terminating zero; 0 while unknown */
	__u32 bad;		/* name walk: a reserved label type (0x40, 0x80): not DNS */
};

/*
 * One question-name byte per call: ev->qname already holds the raw bytes; a
 * label length byte becomes '.'. Stops at the terminating zero, at a compression
 * pointer or reserved label type, or where the copied bytes end; name_len then
 * covers the complete labels only.
 */
static long dns_qname_byte(__u64 i, void *data)
{
	struct dns_walk *w = data;
	__u8 b;

	if (i >= w->off)
		return 1;
	if (i != w->next_label)
		return 0;
	/* Every label before this length byte is complete. */
	w->ev->name_len = i;
	b = w->ev->qname[i & (PF_DNS_NAME_MAX - 1)];
	if (b == 0) {
		w->end = DNS_HDR_LEN + i + 1;
		return 1;
	}
	if ((b & 0xC0) == 0x40 || (b & 0xC0) == 0x80) {
		w->bad = 1;
		return 1;
	}
	if (b & 0xC0)
		return 1;
	w->next_label = i + 1 + b;
	w->ev->qname[i & (PF_DNS_NAME_MAX - 1)] = '.';
	return 0;
}

/* One answer record per call: copies an A/AAAA address; returns 1 to stop. */
static long dns_answer(__u64 index, void *data)
{
	struct dns_walk *w = data;
	struct pf_dns_event *ev = w->ev;
	__u32 off = w->off;
	__u8 rr[10], b, n;
	__u16 type, rdlen;

	/* The owner name: a pointer, or labels ending in a zero or a pointer. */
	for (int l = 0; l < DNS_LABELS_MAX; l++) {
		if (off >= w->len || bpf_skb_load_bytes(w->skb, w->base + off, &b, 1))
			return 1;
		if (b == 0) {
			off += 1;
			break;
		}
		if ((b & 0xC0) == 0xC0) {
			off += 2;
			break;
		}
		if (b & 0xC0)
			return 1;
		off += 1 + b;
	}
	if (off + sizeof(rr) > w->len || bpf_skb_load_bytes(w->skb, w->base + off, rr, sizeof(rr)))
		return 1;
	type = ((__u16)rr[0] << 8) | rr[1];
	rdlen = ((__u16)rr[8] << 8) | rr[9];
	off += sizeof(rr);
	if (off + rdlen > w->len)
		return 1;
	n = ev->answer_count & (PF_DNS_ANSWERS_MAX - 1);
	if (ev->answer_count < PF_DNS_ANSWERS_MAX) {
		if (type == DNS_TYPE_A && rdlen == 4 &&
		    !bpf_skb_load_bytes(w->skb, w->base + off, ev->answers[n], 4)) {
			ev->answer_version[n] = 4;
			ev->answer_count++;
		} else if (type == DNS_TYPE_AAAA && rdlen == 16 &&
			   !bpf_skb_load_bytes(w->skb, w->base + off, ev->answers[n], 16)) {
			ev->answer_version[n] = 6;
			ev->answer_count++;
		}
	}
	w->off = off + rdlen;
	return 0;
}

/* A TCP or UDP packet with its payload located (payload_ok); anything not on a DNS port leaves at once. */
static __always_inline void dns_packet(struct __sk_buff *skb, bool tc, struct pf_parsed *p, __u8 direction)
{
	__u8 hook = tc ? PF_L7_HOOK_TC : PF_L7_HOOK_SOCKET_FILTER;
	struct dns_walk w = { .skb = skb };
	struct pf_dns_event *ev;
	__u8 hdr[DNS_HDR_LEN];
	__u64 now;
	__u32 n;

	if (!dns_port(p->key.sport) && !dns_port(p->key.dport))
		return;
	w.base = p->payload_off;
	w.len = p->payload_len;
	if (p->key.protocol == IPPROTO_TCP) {
		/* DNS over TCP: a 2-byte length, then the message; only segments starting a message are parsed. */
		if (w.len == 0)
			return;
		if (w.len < 2 + DNS_HDR_LEN) {
			l7_count(PF_L7_DNS_MALFORMED);
			return;
		}
		w.base += 2;
		w.len -= 2;
	}
	if (w.len < DNS_HDR_LEN || bpf_skb_load_bytes(skb, w.base, hdr, sizeof(hdr))) {
		l7_count(PF_L7_DNS_MALFORMED);
		return;
	}
	w.len = pf_min(w.len, DNS_MSG_MAX);
	/* Standard queries (opcode 0) with one question: what resolvers send, and what random bytes rarely are. */
	if ((hdr[2] & 0x78) != 0 || hdr[4] != 0 || hdr[5] != 1) {
		l7_count(PF_L7_DNS_MALFORMED);
		return;
	}

	now = bpf_ktime_get_ns();
	if (dns_seen_elsewhere(p, ((__u16)hdr[0] << 8) | hdr[1], hdr[2] & 0x80, skb->ifindex, now)) {
		l7_count(PF_L7_DNS_SECOND_SIGHTING);
		return;
	}
	ev = bpf_ringbuf_reserve(&dns_events, sizeof(*ev), 0);
	if (!ev) {
		pf_count_loss_in(PF_PACKET_DNS, PF_LOSS_RINGBUF_FULL);
		return;
	}
	__builtin_memset(ev, 0, sizeof(*ev));
	w.ev = ev;
	ev->ts_ns = now;
	ev->tuple = p->key;
	ev->ifindex = skb->ifindex;
	ev->direction = direction;
	ev->hook = hook;
	ev->id = ((__u16)hdr[0] << 8) | hdr[1];
	ev->flags = ((__u16)hdr[2] << 8) | hdr[3];
	ev->ancount = ((__u16)hdr[6] << 8) | hdr[7];
	if (!(ev->flags & 0x8000))
		pf_svc_original_destination(p->key.saddr, p->key.sport, p->key.ip_version, p->key.protocol, true, &ev->orig);

	/* The question name: copy what is there (at most 255 bytes), then walk it in place. */
	n = pf_min(w.len - DNS_HDR_LEN, PF_DNS_NAME_MAX - 1);
	if (n > 0) {
		/* n - 1 masked, plus 1: a no-op clang cannot drop that gives the verifier [1, 256]. */
		n -= 1;
		asm volatile("%0 &= 0xff" : "+r"(n));
		if (!bpf_skb_load_bytes(skb, w.base + DNS_HDR_LEN, ev->qname, n + 1)) {
			w.off = n + 1;
			bpf_loop(PF_DNS_NAME_MAX - 1, dns_qname_byte, &w, 0);
		}
	}
	if (w.bad || (!w.end && w.off < PF_DNS_NAME_MAX - 1 && w.next_label >= w.off)) {
		/* A reserved label type, or a name running past the message's end: not a DNS message. */
		bpf_ringbuf_discard(ev, 0);
		l7_count(PF_L7_DNS_MALFORMED);
		return;
	}
	if (!w.end) {
		/* Compressed (legal but unusual in a question) or longer than kept: the complete labels stay. */
		ev->truncated = 1;
		l7_count(PF_L7_DNS_NAME_TRUNCATED);
		pf_ringbuf_submit(&dns_events, ev);
		return;
	}
	if (w.end + 4 <= w.len) {
		__u8 q[2];

		if (!bpf_skb_load_bytes(skb, w.base + w.end, q, sizeof(q)))
			ev->qtype = ((__u16)q[0] << 8) | q[1];
		/* The answers follow the (single) question. */
		if ((ev->flags & 0x8000) && ev->ancount) {
			w.off = w.end + 4;
			bpf_loop(DNS_RR_MAX, dns_answer, &w, 0);
		}
	}
	pf_ringbuf_submit(&dns_events, ev);
}

#endif
