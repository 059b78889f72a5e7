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

/* A UDP or TCP payload on a DNS port; the walk fields are the TCP walk's (dns_tcp_message). */
struct dns_segment {
	struct __sk_buff *skb;
	struct pf_parsed *p;
	__u32 off;		/* packet offset of the next length prefix (of the next message when body_len) */
	__u32 left;		/* segment bytes from off */
	__u32 unparsed;		/* messages seen and not parsed */
	__u16 body_len;		/* the segment starts with a message of this length, its prefix in the previous segment */
	__u8 direction;
	__u8 hook;
	__u8 stopped;		/* the walk stopped before its bound */
};

/* What the parse of one message found (dns_message). */
enum dns_msg_result {
	DNS_MSG_DONE,		/* an event is out, or the message was dropped or counted (second sighting, ring full) */
	DNS_MSG_NOT_DNS,	/* not a DNS message (counted malformed): what follows it is not followed */
	DNS_MSG_CUT,		/* its header or question continues past the segment: no event, the caller counts it */
};

/*
 * One DNS message of the segment, at packet offset base, len bytes of it
 * present; cut: the message continues past the segment (DNS over TCP), so a
 * header or question running past len is the segment's end, not a malformed
 * message. A function of its own, not inlined: the UDP path and the TCP walk
 * share its code.
 */
static __noinline enum dns_msg_result dns_message(const struct dns_segment *s, __u32 base, __u32 len, bool cut)
{
	struct __sk_buff *skb = s->skb;
	struct pf_parsed *p = s->p;
	struct dns_walk w = { .skb = skb, .base = base, .len = len };
	struct pf_dns_event *ev;
	__u8 hdr[DNS_HDR_LEN];
	__u64 now;
	__u32 n;

	if (w.len < DNS_HDR_LEN || bpf_skb_load_bytes(skb, w.base, hdr, sizeof(hdr))) {
		if (cut)
			return DNS_MSG_CUT;
		l7_count(PF_L7_DNS_MALFORMED);
		return DNS_MSG_NOT_DNS;
	}
	w.len = pf_min(w.len, DNS_MSG_MAX);
	/* Standard queries (opcode 0) with one question: what resolvers send, and what random bytes rarely are. */
	if ((hdr[2] & 0x78) != 0 || hdr[4] != 0 || hdr[5] != 1) {
		l7_count(PF_L7_DNS_MALFORMED);
		return DNS_MSG_NOT_DNS;
	}

	now = bpf_ktime_get_ns();
	if (dns_seen_elsewhere(p, ((__u16)hdr[0] << 8) | hdr[1], hdr[2] & 0x80, skb->ifindex, now)) {
		l7_count(PF_L7_DNS_SECOND_SIGHTING);
		return DNS_MSG_DONE;
	}
	ev = bpf_ringbuf_reserve(&dns_events, sizeof(*ev), 0);
	if (!ev) {
		pf_count_loss_in(PF_PACKET_DNS, PF_LOSS_RINGBUF_FULL);
		return DNS_MSG_DONE;
	}
	__builtin_memset(ev, 0, sizeof(*ev));
	w.ev = ev;
	ev->ts_ns = now;
	ev->tuple = p->key;
	ev->ifindex = skb->ifindex;
	ev->direction = s->direction;
	ev->hook = s->hook;
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
		bpf_ringbuf_discard(ev, 0);
		/* A name running past what the segment holds of a longer message: cut, not malformed. */
		if (cut && !w.bad)
			return DNS_MSG_CUT;
		/* A reserved label type, or a name running past the message's end: not a DNS message. */
		l7_count(PF_L7_DNS_MALFORMED);
		return DNS_MSG_NOT_DNS;
	}
	if (!w.end) {
		/* Compressed (legal but unusual in a question) or longer than kept: the complete labels stay. */
		ev->truncated = 1;
		l7_count(PF_L7_DNS_NAME_TRUNCATED);
		pf_ringbuf_submit(&dns_events, ev);
		return DNS_MSG_DONE;
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
	return DNS_MSG_DONE;
}

/*
 * DNS over TCP: each message after its 2-byte length. A segment may carry
 * several (RFC 7766 pipelining: glibc sends its A and AAAA queries in one),
 * and a client may send a length apart from its message. Messages parsed per
 * segment: DNS_TCP_PARSED_MAX (a resolver pipelines two, A and AAAA); the
 * length prefixes of up to DNS_TCP_WALKED_MAX are followed to count those
 * beyond as lost (dns:tcp_unparsed), so that a segment of many small
 * messages costs a bounded parse.
 */
#define DNS_TCP_PARSED_MAX 4
#define DNS_TCP_WALKED_MAX 32

/*
 * A segment that ended with a length prefix alone: its message starts the
 * next segment of that direction of the connection, at sequence number seq.
 * Keyed by the segment's own addresses and ports (as seen on its interface:
 * before or after a DNAT, each sighting has its own entry, alike on both
 * interfaces without one). Kept after its message came (the message is seen
 * once per interface); a later split or the LRU replaces it.
 */
struct dns_tcp_split {
	__u32 seq;
	__u16 len;
	__u16 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, struct flow_key);
	__type(value, struct dns_tcp_split);
} dns_tcp_splits SEC(".maps");

/* One message of a TCP segment per call; returns 1 to stop. */
static long dns_tcp_message(__u64 i, void *data)
{
	struct dns_segment *t = data;
	__u32 mlen, hlen = 2, present;
	enum dns_msg_result r;
	__u8 pre[2];

	t->stopped = 1;
	if (t->left == 0)
		return 1;
	if (t->body_len) {
		mlen = t->body_len;
		hlen = 0;
		t->body_len = 0;
	} else {
		if (t->left == 1 || bpf_skb_load_bytes(t->skb, t->off, pre, sizeof(pre))) {
			t->unparsed++;
			return 1;
		}
		mlen = ((__u32)pre[0] << 8) | pre[1];
		if (t->left == 2) {
			/* The length alone ends the segment: its message is the next segment's start. */
			struct dns_tcp_split split = {
				.seq = t->p->tcp_seq + (t->off + 2 - t->p->payload_off),
				.len = mlen,
			};

			if (mlen)
				bpf_map_update_elem(&dns_tcp_splits, &t->p->key, &split, BPF_ANY);
			return 1;
		}
	}
	present = pf_min(mlen, t->left - hlen);
	if (i >= DNS_TCP_PARSED_MAX) {
		t->unparsed++;
	} else {
		r = dns_message(t, t->off + hlen, present, present < mlen);
		if (r == DNS_MSG_NOT_DNS)
			return 1;	/* not on a message boundary: the lengths after it mean nothing */
		if (r == DNS_MSG_CUT)
			t->unparsed++;
	}
	/* A message continuing past the segment is its last (its tail starts the next segment: not followed). */
	if (present < mlen)
		return 1;
	t->off += hlen + mlen;
	t->left -= hlen + mlen;
	t->stopped = 0;
	return 0;
}

/* A TCP or UDP packet with its payload located (payload_ok); anything not on a DNS port leaves at once. */
static __always_inline void dns_packet(struct __sk_buff *skb, bool tc, struct pf_parsed *p, __u8 direction)
{
	struct dns_segment t;
	struct dns_tcp_split *split;

	if (!dns_port(p->key.sport) && !dns_port(p->key.dport))
		return;
	t = (struct dns_segment){
		.skb = skb,
		.p = p,
		.off = p->payload_off,
		.left = p->payload_len,
		.direction = direction,
		.hook = tc ? PF_L7_HOOK_TC : PF_L7_HOOK_SOCKET_FILTER,
	};
	/*
	 * A first fragment holds only the message's start, and its sender chose
	 * where the cut is (with CAP_NET_RAW: right after the UDP header); the
	 * fragments after it carry no ports. A header or question it cuts is a
	 * query or response lost, not a packet that is not DNS.
	 */
	if (p->key.protocol != IPPROTO_TCP) {
		if (dns_message(&t, t.off, t.left, p->more_fragments) == DNS_MSG_CUT)
			l7_count(PF_L7_DNS_FRAGMENT_UNPARSED);
		return;
	}
	if (t.left == 0)
		return;
	split = bpf_map_lookup_elem(&dns_tcp_splits, &p->key);
	if (split && split->seq == p->tcp_seq)
		t.body_len = split->len;
	bpf_loop(DNS_TCP_WALKED_MAX, dns_tcp_message, &t, 0);
	/* Lengths left after the walk's bound: at least one more message. */
	if (!t.stopped && t.left)
		t.unparsed++;
	if (t.unparsed)
		l7_count_n(PF_L7_DNS_TCP_UNPARSED, t.unparsed);
}

#endif
