/* SPDX-License-Identifier: GPL-2.0 */
/*
 * http: one ring-buffer event per HTTP/1.x request/response exchange, seen on
 * TCP payloads without the process's cooperation; a probe of the packet
 * object (packet.bpf.c). A segment starting with a
 * request method opens an exchange, kept per client address and port in a hash
 * map (so keep-alive connections pair each request with the response after
 * it); the next segment from the server starting with "HTTP/1." closes it.
 *
 * Keying by the client's address and port (not the whole 5-tuple) pairs the
 * request seen before DNAT (to a Service IP) with the response seen after it
 * (from the backend), and makes a second sighting of the same packet on
 * another interface of the node harmless: the request's sequence number is
 * already recorded, the response finds the exchange closed.
 *
 * An exchange's entry is deleted once it is over: when its response has been
 * seen (the event is out), or when the connection ends without one (a FIN from
 * the server, a RST from either side: an event with no_response). Every sighting
 * of a request comes before the server has it, so before the response: after
 * the response nothing of that request is left to recognise. Pipelining breaks
 * that (the second request's later sighting can follow the first response): a
 * connection seen pipelining keeps its entry, answered, until it ends. The map
 * then holds the exchanges waiting for a response, not every client port ever
 * seen. Exchanges whose end this node never sees (the response or the FIN
 * take another path, the peer vanished) are swept by user space: a request
 * waiting longer than its timeout is reported (no_response TIMEOUT) and
 * deleted, so is an idle pipelining connection's entry.
 *
 * The client's address and port can be in other connections too (connect()
 * sharing a source port between servers, SNAT): a FIN or RST ends the
 * exchange only when it comes from (or, a RST, goes to) the server the request
 * went to, as seen on any interface (before or after DNAT).
 *
 * A request retransmitted after its response was seen (it crossed the
 * response) would open an exchange no response follows: answered requests'
 * sequence numbers stay a while in a small table of their own
 * (http_answered_seq), which recognises it. Keeping the answered entry in
 * http_conns instead would make that map hold every keep-alive connection
 * again.
 *
 * Only bounded prefixes are copied (request line and, when it fits, Host; the
 * status line); user space parses them.
 */
#ifndef PODFLOW_HTTP_H
#define PODFLOW_HTTP_H

#include "l7_counters.h"
#include "svc_orig_dst.h"

#define HTTP_CONNS_MAX 65536
/* Request bytes an answer may acknowledge when its server was not seen (see http_response). */
#define HTTP_ACK_WINDOW (1u << 24)

_Static_assert(PF_HTTP_REQ_MAX == 256, "the request copy's size mask assumes 256 bytes");

/*
 * An exchange leaves WAITING once, by compare-and-swap: whoever moves it
 * (the response, the connection's end, the next request, the sweep) is the
 * one that reports it, so a response and a timeout that race give one record.
 */
enum http_conn_state {
	HTTP_WAITING = 1,	/* request seen, no response yet */
	HTTP_ANSWERED = 2,	/* a pipelining connection's entry, kept until it ends */
	HTTP_UNANSWERED = 3,	/* reported without response, kept so that its retransmissions stay recognised */
	HTTP_REPLACED = 4,	/* the next request took its place before any response (for the instant before it does) */
	HTTP_PARTIAL = 5,	/* a segment that may begin a request line but ends before that can be told: the next completes it or goes */
};

struct http_conn_key {
	__u8 client_addr[16];
	__u16 client_port;
	__u8 ip_version;
	__u8 pad;
};

/* The server side of a connection: its address and port. */
struct http_server {
	__u8 addr[16];
	__u16 port;
	__u8 pad[2];
};

struct http_conn {
	struct pf_http_event ev;	/* the request half, filled when the request is seen */
	__u32 req_seq;			/* TCP sequence number of the request's first segment */
	__u8 pipelined;			/* a request came while another waited: keep the entry after answers */
	__u8 skip;			/* bytes of empty lines before the request line in that segment */
	__u16 first_len;		/* bytes of the request that segment held (as far as kept) */
	/* 1 while the request line goes on past the bytes kept (see http_continue); cleared by compare-and-swap */
	__u64 line_open;
	/* enum http_conn_state, left WAITING by http_claim only; 64 bits: clang's 32-bit atomics need -mcpu=v3 */
	__u64 state;
	__u64 client_fin_ns;		/* when the client's FIN was seen while the request waited (it gave up), else 0 */
	/* Where the request went: at its first sighting, and its last other one (another side of a DNAT). */
	struct http_server server[2];
};

/*
 * A plain hash, not an LRU: full (HTTP_CONNS_MAX, or what the loader set,
 * exchanges waiting at once), it refuses the new request, which is counted
 * (map_full); an LRU would evict a waiting request without a word. Nothing
 * stays for good: user space sweeps what waits longer than its timeout.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, HTTP_CONNS_MAX);
	__type(key, struct http_conn_key);
	__type(value, struct http_conn);
} http_conns SEC(".maps");

#define HTTP_ANSWERED_BITS 13

/* A client's last answered request. */
struct http_answered {
	struct http_conn_key key;
	__u32 req_seq;
};

/*
 * The last answered requests, to recognise one retransmitted after its
 * response (see the top): a table of 8192 slots indexed by a hash of the
 * client, where a later client overwrites an earlier one of the same slot. A
 * retransmission crosses the response within a retransmission timeout, so
 * the most recently answered clients are the ones that matter; a slot lost
 * early only costs that dedupe. An array, not an LRU hash: its lookup is
 * inlined and its slots are written in place, where an LRU update per
 * response would cost a few hundred nanoseconds.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1 << HTTP_ANSWERED_BITS);
	__type(key, __u32);
	__type(value, struct http_answered);
} http_answered_seq SEC(".maps");

#define HTTP_OPEN_BITS 10

/*
 * Exchanges whose request line was cut by the end of its segment (line_open),
 * counted per slot of a hash of the client, so that a segment that starts no
 * request nor response looks for its exchange only when its client's slot
 * has one to continue (a client writing its request line in parts: "GE", then
 * "T /admin ...", or "GET /api" then "/admin ..."). The last slot holds
 * the total: while it is zero (no line open on the node), a data segment
 * pays one array load; a pod that keeps lines open makes every data segment
 * pay the client's hash (a few ns), and only those of clients in the same
 * slots the lookup. Signed; each entry's line_open is cleared once
 * (compare-and-swap), by whoever ends it, and counted down then.
 */
#define HTTP_OPEN_TOTAL (1 << HTTP_OPEN_BITS)

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, HTTP_OPEN_TOTAL + 1);
	__type(key, __u32);
	__type(value, __s64);
} http_open_lines SEC(".maps");

/* A multiplicative hash of the client's address and port, to bits bits. */
static __always_inline __u32 http_client_hash(const struct http_conn_key *key, int bits)
{
	__u32 w[5];

	_Static_assert(sizeof(*key) == sizeof(w), "the hash reads the key as 5 words");
	__builtin_memcpy(w, key, sizeof(w));
	return ((w[0] ^ w[1] ^ w[2] ^ w[3] ^ w[4]) * 0x9e3779b1u) >> (32 - bits);
}

/* The count of open lines of this client's slot, or (key NULL) of the node. */
static __always_inline __s64 *http_open_slot(const struct http_conn_key *key)
{
	__u32 slot = key ? http_client_hash(key, HTTP_OPEN_BITS) : HTTP_OPEN_TOTAL;

	return bpf_map_lookup_elem(&http_open_lines, &slot);
}

static __always_inline void http_open_add(const struct http_conn_key *key, __s64 n)
{
	__s64 *slot = http_open_slot(key), *total = http_open_slot(NULL);

	if (slot)
		__sync_fetch_and_add(slot, n);
	if (total)
		__sync_fetch_and_add(total, n);
}

/* The entry's request line is complete, or the entry goes: no longer one to continue. */
static __always_inline void http_line_closed(struct http_conn *c, const struct http_conn_key *key)
{
	if (c->line_open && __sync_val_compare_and_swap(&c->line_open, 1, 0) == 1)
		http_open_add(key, -1);
}

/* The value being built, too large for the stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct http_conn);
} http_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} http_events SEC(".maps");

/* The first 8 payload bytes as one little-endian word, masked to their first n bytes. */
#define HTTP_HEAD(w, n) ((n) == 8 ? (w) : (w) & ((1ULL << ((n) * 8)) - 1))
#define HTTP_MASK(n) ((n) >= 8 ? ~0ULL : (1ULL << ((n) * 8)) - 1)

/*
 * A request line starts with an RFC 9110 method and a space. Compared as words
 * (little-endian ASCII): byte-wise compares of a stack buffer get merged by
 * clang into pointer arithmetic the verifier refuses.
 */
static __always_inline int http_is_request(__u64 w)
{
	return HTTP_HEAD(w, 4) == 0x20544547 ||			/* "GET " */
	       HTTP_HEAD(w, 4) == 0x20545550 ||			/* "PUT " */
	       HTTP_HEAD(w, 5) == 0x2054534f50 ||		/* "POST " */
	       HTTP_HEAD(w, 5) == 0x2044414548 ||		/* "HEAD " */
	       HTTP_HEAD(w, 6) == 0x204843544150 ||		/* "PATCH " */
	       HTTP_HEAD(w, 6) == 0x204543415254 ||		/* "TRACE " */
	       HTTP_HEAD(w, 7) == 0x204554454c4544 ||		/* "DELETE " */
	       HTTP_HEAD(w, 8) == 0x20534e4f4954504fULL ||	/* "OPTIONS " */
	       HTTP_HEAD(w, 8) == 0x205443454e4e4f43ULL;	/* "CONNECT " */
}

/* Method words with their space, little-endian, and their lengths. */
#define HTTP_M_GET 0x20544547ULL, 4
#define HTTP_M_PUT 0x20545550ULL, 4
#define HTTP_M_POST 0x2054534f50ULL, 5
#define HTTP_M_HEAD 0x2044414548ULL, 5
#define HTTP_M_PATCH 0x204843544150ULL, 6
#define HTTP_M_TRACE 0x204543415254ULL, 6
#define HTTP_M_DELETE 0x204554454c4544ULL, 7
#define HTTP_M_OPTIONS 0x20534e4f4954504fULL, 8
#define HTTP_M_CONNECT 0x205443454e4e4f43ULL, 8
#define HTTP_PREFIX_OF(w, m, word, len) ((((w) ^ (word)) & (m) & HTTP_MASK(len)) == 0)
#define HTTP_PREFIX(w, m, method) HTTP_PREFIX_OF(w, m, method)

/*
 * A segment of n bytes (1 to 7, w zero past them) that a request line may
 * begin with: a method's first bytes, or a method, its space and more.
 */
static __always_inline bool http_may_begin_request(__u64 w, __u32 n)
{
	__u64 m = (1ULL << ((n & 7) * 8)) - 1;

	return HTTP_PREFIX(w, m, HTTP_M_GET) || HTTP_PREFIX(w, m, HTTP_M_PUT) || HTTP_PREFIX(w, m, HTTP_M_POST) ||
	       HTTP_PREFIX(w, m, HTTP_M_HEAD) || HTTP_PREFIX(w, m, HTTP_M_PATCH) || HTTP_PREFIX(w, m, HTTP_M_TRACE) ||
	       HTTP_PREFIX(w, m, HTTP_M_DELETE) || HTTP_PREFIX(w, m, HTTP_M_OPTIONS) || HTTP_PREFIX(w, m, HTTP_M_CONNECT);
}

/*
 * RFC 9110 tchar ("!#$%&'*+-.^_`|~", digits, letters) as bitmaps of the bytes
 * 0-63 and 64-127: a method is a token, and servers serve methods outside the
 * nine above (Node: PROPFIND, PURGE, MKCOL, SEARCH, REPORT, QUERY, ...; nginx:
 * any of A-Z, '-', '_'; Go's net/http: any token, lowercase too, to a handler
 * without a method pattern).
 */
#define HTTP_TCHAR_LO 0x03ff6cfa00000000ULL
#define HTTP_TCHAR_HI 0x57ffffffc7fffffeULL
/* The longest other method taken (IANA's longest registered is UPDATEREDIRECTREF, 17). */
#define HTTP_TOKEN_METHOD_MAX 20

static __always_inline bool http_tchar(__u8 b)
{
	return b < 64 ? (HTTP_TCHAR_LO >> b) & 1 : b < 128 && (HTTP_TCHAR_HI >> (b - 64)) & 1;
}

/*
 * The first 8 bytes may begin a request line with another method: a tchar,
 * and the first byte that is a space, a control or not ASCII (if any in the
 * 8) is a space, followed (if within the 8) by what may begin a request
 * target. Word operations, inline: most segments that begin no request
 * (binary, TLS, JSON, text) stop here without the call of http_token_request.
 */
static __always_inline bool http_may_be_token_request(__u64 w)
{
	__u64 low7 = w & 0x7f7f7f7f7f7f7f7fULL, ctl, at;
	__u32 i, t;

	if (!http_tchar(w))
		return false;
	/* Per byte, bit 7: below 0x21, or 0x7f and above (all carries stay within their byte). */
	ctl = (~(low7 + 0x5f5f5f5f5f5f5f5fULL) | (low7 + 0x0101010101010101ULL) | w) & 0x8080808080808080ULL;
	if (!ctl)
		return true;
	/* The lowest flagged byte's index: bytes below it, and its own bit 0, counted by a multiply. */
	at = ((ctl & -ctl) - 1) & 0x0101010101010101ULL;
	i = ((at * 0x0101010101010101ULL) >> 56) - 1;
	if (((w >> (i * 8)) & 0xff) != ' ')
		return false;
	/* A request target's first byte, when within the 8: "Hello world" stops here. */
	t = i < 7 ? (w >> (i * 8 + 8)) & 0xff : '/';
	return t == '/' || t == '*' || (t | 0x20) == 'h';
}

static __always_inline int http_is_response(__u64 w)
{
	return HTTP_HEAD(w, 7) == 0x2e312f50545448;		/* "HTTP/1." */
}

/*
 * An interim response (1xx but 101): 100 Continue (a client that sent
 * "Expect: 100-continue" before its body, as curl and many SDKs do for
 * uploads), 103 Early Hints. The final response follows on the same
 * connection; 101 Switching Protocols is the exchange's last HTTP/1.x answer.
 * Needs the status code (head_len 16: bytes 9 to 11).
 */
static __always_inline bool http_is_interim(const char *head, __u8 head_len)
{
	__u64 w;

	if (head_len < 12)
		return false;
	__builtin_memcpy(&w, head + 8, sizeof(w));
	return ((w >> 8) & 0xff) == '1' && ((w >> 16) & 0xffff) != 0x3130; /* " 1", not "01" */
}

static __always_inline void http_server_set(struct http_server *s, const __u8 addr[16], __u16 port)
{
	__builtin_memcpy(s->addr, addr, 16);
	s->port = port;
}

static __always_inline bool http_server_is(const struct http_server *s, const __u8 addr[16], __u16 port)
{
	return s->port == port && pf_same_addr(s->addr, addr);
}

/* The slot of http_answered_seq for this client (a multiplicative hash of its address and port). */
static __always_inline struct http_answered *http_answered_slot(const struct http_conn_key *key)
{
	__u32 slot = http_client_hash(key, HTTP_ANSWERED_BITS);

	return bpf_map_lookup_elem(&http_answered_seq, &slot);
}

/* This client's request with this sequence number has been answered already. */
static __always_inline bool http_was_answered(const struct http_conn_key *key, __u32 seq)
{
	struct http_answered *a = http_answered_slot(key);

	return a && a->req_seq == seq && a->key.client_port == key->client_port &&
	       a->key.ip_version == key->ip_version && pf_same_addr(a->key.client_addr, key->client_addr);
}

/* Takes the exchange off WAITING to `to`; true for the one caller that did (it reports the exchange). */
static __always_inline bool http_claim(struct http_conn *c, __u64 to)
{
	return __sync_val_compare_and_swap(&c->state, HTTP_WAITING, to) == HTTP_WAITING;
}

/*
 * Whether a segment with a waiting request's sequence number carries the bytes
 * kept of it (as far as both go). A retransmission or a second sighting does;
 * other bytes under the same number are two versions of the stream, of which
 * the server keeps one: the first that passes its checksum test, which runs
 * after TC. A pod with CAP_NET_RAW sends a harmless request with a bad
 * checksum (dropped by the server's kernel), then the real one: the record
 * would name the harmless one. Which version the server took cannot be told
 * here, so the caller counts it lost. A copy shorter than the first is
 * counted so too: the rest of its stream comes in other segments, which may
 * differ (a retransmission is never shorter: TCP resends from the first
 * unacknowledged byte at least what it sent). Paid only by a request seen again.
 */
static __always_inline bool http_same_bytes(struct __sk_buff *skb, struct pf_parsed *p, __u32 skip,
					    const struct http_conn *old)
{
	struct http_conn *now;
	__u32 zero = 0, n, i;

	if (p->payload_len - skip < old->first_len)
		return false;
	n = pf_min(p->payload_len - skip, old->ev.req_len);
	now = bpf_map_lookup_elem(&http_scratch, &zero);
	if (!now || n == 0 || n > PF_HTTP_REQ_MAX)
		return true;
	/* n - 1 masked, plus 1: [1, 256] for the verifier (as in http_request). */
	n -= 1;
	asm volatile("%0 &= 0xff" : "+r"(n));
	n += 1;
	if (bpf_skb_load_bytes(skb, p->payload_off + skip, now->ev.req, n))
		return true;
	for (i = 0; i < PF_HTTP_REQ_MAX / 8 && i * 8 < n; i++) {
		__u64 a, b, left = n - i * 8;

		__builtin_memcpy(&a, old->ev.req + i * 8, sizeof(a));
		__builtin_memcpy(&b, now->ev.req + i * 8, sizeof(b));
		if (left < 8)
			a ^= (a ^ b) & (~0ULL << (left * 8));	/* the bytes past n do not count */
		if (a != b)
			return false;
	}
	return true;
}

/* Whether buf[0, len) holds a line feed (len <= PF_HTTP_REQ_MAX): word by word, from the start, where it usually is. */
static __always_inline bool http_has_lf(const char *buf, __u32 len)
{
	__u32 i;

	for (i = 0; i < PF_HTTP_REQ_MAX / 8 && i * 8 < len; i++) {
		__u64 x, left = len - i * 8;

		__builtin_memcpy(&x, buf + i * 8, sizeof(x));
		if (left < 8)
			x |= ~0ULL << (left * 8);	/* bytes past len: 0xff, not a line feed */
		x ^= 0x0a0a0a0a0a0a0a0aULL;
		/* A zero byte in x (one that was '\n'): the classic test, exact for "any". */
		if ((x - 0x0101010101010101ULL) & ~x & 0x8080808080808080ULL)
			return true;
	}
	return false;
}

/* http_request's last argument: how the segment was seen, and where its request line starts. */
#define HTTP_HOW(direction, hook, skip, partial) ((direction) | (hook) << 8 | (skip) << 16 | (partial) << 24)
/* Added to it: a method other than the nine (http_token_request). */
#define HTTP_HOW_TOKEN (1u << 25)

/*
 * A request whose line starts skip bytes into the payload (after empty lines);
 * partial: a segment that may begin one (HTTP_PARTIAL): fewer than 8 bytes, or
 * a method other than the nine cut before its target.
 * A global function, verified once on its own: inlined at its two call sites
 * it took the packet programs past the verifier's million instructions.
 */
__noinline int http_request(struct __sk_buff *skb, struct pf_parsed *p, __u32 how)
{
	__u8 direction = how & 0xff, hook = (how >> 8) & 0xff;
	__u32 skip = (how >> 16) & 0xff;
	bool partial = (how >> 24) & 1, token = (how >> 25) & 1;
	struct http_conn_key key = {};
	struct http_conn *c, *old;
	__u32 zero = 0, n;
	__u8 pipelined = 0;
	bool replaced, longer = false;

	if (!p || p->payload_len <= skip)
		return 0;

	__builtin_memcpy(key.client_addr, p->key.saddr, 16);
	key.client_port = p->key.sport;
	key.ip_version = p->key.ip_version;
	old = bpf_map_lookup_elem(&http_conns, &key);
	if (old) {
		/* The same segment again: a retransmission or a second interface of this node. */
		if (old->req_seq == p->tcp_seq) {
			if (!http_server_is(&old->server[0], p->key.daddr, p->key.dport))
				http_server_set(&old->server[1], p->key.daddr, p->key.dport);
			if (!http_same_bytes(skb, p, skip, old)) {
				l7_count(PF_L7_HTTP_CONFLICTING_COPY);
				return 0;
			}
			/*
			 * A longer copy of a cut request line (a retransmission that
			 * took in what followed, or the real request after a cut
			 * decoy the server dropped): it takes the entry's place.
			 */
			if (!old->line_open || p->payload_len - skip <= old->ev.req_len)
				return 0;
			longer = true;
		}
		/*
		 * A waiting request keeps its place against a segment that may only
		 * begin one, and against one of another method: a body segment
		 * starting "Word /x" would otherwise take it ("GET /x" only would).
		 */
		if ((partial || token) && old->state == HTTP_WAITING)
			return 0;
		replaced = !longer && old->state == HTTP_WAITING && http_claim(old, HTTP_REPLACED);
		if (replaced)
			l7_count(PF_L7_HTTP_UNANSWERED);
		pipelined = old->pipelined || replaced;
		http_line_closed(old, &key);
	} else if (http_was_answered(&key, p->tcp_seq)) {
		return 0;
	}
	c = bpf_map_lookup_elem(&http_scratch, &zero);
	if (!c)
		return 0;
	__builtin_memset(c, 0, sizeof(*c));
	c->pipelined = pipelined;
	c->ev.req_ns = longer && old ? old->ev.req_ns : bpf_ktime_get_ns();
	c->ev.req_tuple = p->key;
	c->ev.req_ifindex = skb->ifindex;
	c->ev.req_direction = direction;
	c->ev.hook = hook;
	c->req_seq = p->tcp_seq;
	c->skip = skip;
	c->state = partial ? HTTP_PARTIAL : HTTP_WAITING;
	http_server_set(&c->server[0], p->key.daddr, p->key.dport);
	c->server[1] = c->server[0];
	/*
	 * The client socket's original destination, looked up once here and carried
	 * to the event: the socket published it at its SYN, and it goes when the
	 * socket is released, which may come before the exchange ends (a client that
	 * gave up and closed: its server's FIN or the sweep reports it later). On the
	 * request's path the entry is also still in this CPU's cache, where the
	 * response's softirq may run on the server's CPU.
	 */
	pf_svc_original_destination(p->key.saddr, p->key.sport, p->key.ip_version, IPPROTO_TCP, false, &c->ev.orig);
	/* The head from its request line: user space parses it from the method on. */
	n = pf_min(p->payload_len - skip, PF_HTTP_REQ_MAX);
	if (n > 0) {
		/* n - 1 masked, plus 1: a no-op clang cannot drop that gives the verifier [1, 256]. */
		n -= 1;
		asm volatile("%0 &= 0xff" : "+r"(n));
		if (!bpf_skb_load_bytes(skb, p->payload_off + skip, c->ev.req, n + 1))
			c->ev.req_len = n + 1;
	}
	c->first_len = c->ev.req_len;
	/*
	 * The request line goes on past the segment: the server reads it from the
	 * stream, so the next segment's bytes are appended. (One cut by the copy's
	 * 256 bytes is recorded cut.)
	 */
	if (partial || (c->ev.req_len && c->ev.req_len < PF_HTTP_REQ_MAX && !http_has_lf(c->ev.req, c->ev.req_len)))
		c->line_open = 1;
	if (bpf_map_update_elem(&http_conns, &key, c, BPF_ANY)) {
		pf_count_loss_in(PF_PACKET_HTTP, PF_LOSS_MAP_FULL);
		return 0;
	}
	if (c->line_open)
		http_open_add(&key, 1);
	return 0;
}

/*
 * The response is out: the exchange's entry goes, unless the connection
 * pipelines (see the top); its request's sequence number stays to recognise
 * a late retransmission.
 */
static __always_inline void http_answered(struct http_conn *c, struct http_conn_key *key)
{
	struct http_answered *a;

	http_line_closed(c, key);
	if (c->pipelined)
		return;
	a = http_answered_slot(key);
	if (a) {
		a->key = *key;
		a->req_seq = c->req_seq;
	}
	bpf_map_delete_elem(&http_conns, key);
}

static __always_inline void http_response(struct __sk_buff *skb, struct pf_parsed *p, __u8 direction,
					  const char *head, __u8 head_len)
{
	struct http_conn_key key = {};
	struct pf_http_event *ev;
	struct http_conn *c;

	__builtin_memcpy(key.client_addr, p->key.daddr, 16);
	key.client_port = p->key.dport;
	key.ip_version = p->key.ip_version;
	c = bpf_map_lookup_elem(&http_conns, &key);
	if (!c || c->state != HTTP_WAITING) {
		l7_count(PF_L7_HTTP_RESP_UNMATCHED);
		return;
	}
	/*
	 * Ports are unique per 4-tuple, so a client's connections to two servers
	 * may share its port: pairing the other connection's answer with this
	 * request would make one record of two exchanges. An answer is this
	 * request's when it comes from where the request was seen going (before
	 * or after a DNAT), or when it acknowledges the request's bytes (its ACK
	 * number just past the request's first byte), which also holds when the
	 * request was seen only before a DNAT and the answer only after it.
	 * Another connection's sequence numbers are its own: its answer passes
	 * that test by chance once in 256.
	 */
	if (!http_server_is(&c->server[0], p->key.saddr, p->key.sport) &&
	    !http_server_is(&c->server[1], p->key.saddr, p->key.sport) &&
	    p->tcp_ack - c->req_seq - 1 >= HTTP_ACK_WINDOW) {
		l7_count(PF_L7_HTTP_RESP_UNMATCHED);
		return;
	}
	/* Not the answer yet: the exchange waits for its final response (its latency runs on). */
	if (http_is_interim(head, head_len))
		return;
	if (!http_claim(c, HTTP_ANSWERED)) {
		/* Reported meanwhile: its connection ended, or it timed out (a late answer). */
		l7_count(PF_L7_HTTP_RESP_UNMATCHED);
		return;
	}
	ev = bpf_ringbuf_reserve(&http_events, sizeof(*ev), 0);
	if (!ev) {
		pf_count_loss_in(PF_PACKET_HTTP, PF_LOSS_RINGBUF_FULL);
		http_answered(c, &key);
		return;
	}
	__builtin_memcpy(ev, &c->ev, sizeof(*ev));
	ev->resp_ns = bpf_ktime_get_ns();
	__builtin_memcpy(ev->resp_saddr, p->key.saddr, 16);
	ev->resp_sport = p->key.sport;
	ev->resp_ifindex = skb->ifindex;
	ev->resp_direction = direction;
	__builtin_memcpy(ev->resp, head, PF_HTTP_RESP_MAX);
	ev->resp_len = head_len;
	pf_ringbuf_submit(&http_events, ev);
	http_answered(c, &key);
}

#define HTTP_TCP_FIN 0x01
#define HTTP_TCP_RST 0x04

/*
 * Reports a request that got no response (the caller claimed it): the
 * request half with why (enum pf_http_no_response) and when it ended. A client
 * that had given up (its FIN seen) is what ended it, whatever came after.
 */
static __always_inline void http_unanswered(struct http_conn *c, __u32 ifindex, __u8 direction, __u8 why, __u64 now)
{
	struct pf_http_event *ev = bpf_ringbuf_reserve(&http_events, sizeof(*ev), 0);

	if (!ev) {
		pf_count_loss_in(PF_PACKET_HTTP, PF_LOSS_RINGBUF_FULL);
		return;
	}
	__builtin_memcpy(ev, &c->ev, sizeof(*ev));
	ev->resp_ns = c->client_fin_ns ? c->client_fin_ns : now;
	/* The server where the request was last seen going: the backend when it was seen after a DNAT. */
	__builtin_memcpy(ev->resp_saddr, c->server[1].addr, 16);
	ev->resp_sport = c->server[1].port;
	ev->resp_ifindex = ifindex;
	ev->resp_direction = direction;
	ev->no_response = c->client_fin_ns ? PF_HTTP_NO_RESPONSE_CLIENT_CLOSED : why;
	pf_ringbuf_submit(&http_events, ev);
}

/* The exchange of this client address and port, if it is with this server (as seen before or after a DNAT). */
static __always_inline struct http_conn *http_exchange_with(const __u8 addr[16], __u16 port, const __u8 server_addr[16],
							   __u16 server_port, __u8 ip_version, struct http_conn_key *key)
{
	struct http_conn *c;

	__builtin_memcpy(key->client_addr, addr, 16);
	key->client_port = port;
	key->ip_version = ip_version;
	c = bpf_map_lookup_elem(&http_conns, key);
	if (!c || !(http_server_is(&c->server[0], server_addr, server_port) ||
		    http_server_is(&c->server[1], server_addr, server_port)))
		return NULL;
	return c;
}

/* Forgets the exchange of this client with this server, if any; one still waiting is reported unanswered. */
static __always_inline void http_forget(struct __sk_buff *skb, __u8 direction, const __u8 addr[16], __u16 port,
					const __u8 server_addr[16], __u16 server_port, __u8 ip_version, __u8 why)
{
	struct http_conn_key key = {};
	struct http_conn *c = http_exchange_with(addr, port, server_addr, server_port, ip_version, &key);

	if (!c)
		return;
	if (c->state == HTTP_WAITING && http_claim(c, HTTP_UNANSWERED))
		http_unanswered(c, skb->ifindex, direction, why, bpf_ktime_get_ns());
	http_line_closed(c, &key);
	bpf_map_delete_elem(&http_conns, &key);
}

/*
 * The connection ends: a FIN from the server (its destination is the client)
 * means no response is coming; a RST from either side ends it too. A FIN from
 * the client is only a half-close (the server may still answer): it is noted,
 * and if the exchange then ends without a response, the client gave up first.
 */
static __always_inline void http_connection_end(struct __sk_buff *skb, struct pf_parsed *p, __u8 direction)
{
	__u8 why = p->tcp_flags & HTTP_TCP_RST ? PF_HTTP_NO_RESPONSE_RESET : PF_HTTP_NO_RESPONSE_CLOSED;
	struct http_conn_key key = {};
	struct http_conn *c;

	http_forget(skb, direction, p->key.daddr, p->key.dport, p->key.saddr, p->key.sport, p->key.ip_version, why);
	if (p->tcp_flags & HTTP_TCP_RST) {
		http_forget(skb, direction, p->key.saddr, p->key.sport, p->key.daddr, p->key.dport, p->key.ip_version, why);
		return;
	}
	c = http_exchange_with(p->key.saddr, p->key.sport, p->key.daddr, p->key.dport, p->key.ip_version, &key);
	if (c && c->state == HTTP_WAITING && !c->client_fin_ns)
		c->client_fin_ns = bpf_ktime_get_ns();
}

/* What one sweep of http_conns (http_sweep in packet.bpf.c) is given and finds. */
struct http_sweep {
	__u64 timeout_before;	/* requests seen before this (bpf_ktime_get_ns) have waited too long */
	__u64 forget_before;	/* reported requests seen before this are forgotten */
	__u32 waiting;		/* requests left waiting */
};

/*
 * One exchange of the sweep: a request waiting too long is reported (TIMEOUT,
 * or CLIENT_CLOSED when the client's FIN came and the server never answered
 * nor closed), and kept as reported so that its retransmissions are still
 * recognised, until the forget horizon (TCP gives up retransmitting after
 * ~15 minutes by default); an idle pipelining connection's answered entry goes
 * after the timeout.
 */
static long http_sweep_one(struct bpf_map *map, struct http_conn_key *key, struct http_conn *c, struct http_sweep *s)
{
	__u64 seen = c->ev.req_ns;

	if (c->state == HTTP_WAITING) {
		if (seen > s->timeout_before)
			s->waiting++;
		else if (http_claim(c, HTTP_UNANSWERED)) {
			http_unanswered(c, c->ev.req_ifindex, 0, PF_HTTP_NO_RESPONSE_TIMEOUT, bpf_ktime_get_ns());
			http_line_closed(c, key);	/* reported as far as it came */
		}
		return 0;
	}
	if (seen <= (c->state == HTTP_UNANSWERED ? s->forget_before : s->timeout_before)) {
		http_line_closed(c, key);
		bpf_map_delete_elem(map, key);
	}
	return 0;
}

/*
 * Empty lines before a request line: RFC 9112 2.2 has servers ignore at least
 * one, and Node (llhttp) and nginx skip any number of CR and LF bytes, Go up
 * to 4 (RFC 2616's buggy clients add one CRLF after a POST body). Up to
 * HTTP_EMPTY_LINES_MAX bytes are skipped (3 CRLF, more than Go takes), the
 * most that keeps the method within the 16 bytes http_packet loaded: no
 * further read. A segment starting with more is counted as a request lost
 * (http:leading_empty_lines; so is a body segment starting so, rarely).
 */
#define HTTP_EMPTY_LINES_MAX 7

static __always_inline bool http_is_eol(__u8 b)
{
	return b == '\r' || b == '\n';
}

/*
 * A segment whose first byte is CR or LF, head: its first 16 bytes. Returns
 * the bytes to skip to the request line (1 to HTTP_EMPTY_LINES_MAX) with *w
 * the 8 bytes there (little-endian), or more than HTTP_EMPTY_LINES_MAX (counted).
 */
static __always_inline __u32 http_empty_lines(const char *head, __u64 *w)
{
	__u64 w0, w1;
	__u32 skip = 1;

	__builtin_memcpy(&w0, head, sizeof(w0));
	__builtin_memcpy(&w1, head + 8, sizeof(w1));
#pragma unroll
	for (int k = 1; k <= HTTP_EMPTY_LINES_MAX; k++) {
		if (!http_is_eol(w0 >> (8 * k)))
			break;
		skip++;
	}
	if (skip > HTTP_EMPTY_LINES_MAX) {
		l7_count(PF_L7_HTTP_EMPTY_LINES);
		return skip;
	}
	/* The rest of the first word, then the second's start. */
	*w = (w0 >> (8 * skip)) | (w1 << (64 - 8 * skip));
	return skip;
}

/* Appended to a cut request line per bpf_skb_load_bytes: a bound the verifier can add to an offset within req[]. */
#define HTTP_APPEND_CHUNK 64

/*
 * Whether b[0, len) (len <= PF_HTTP_REQ_MAX) begins a request line with a
 * method other than the nine of http_is_request: 1 to HTTP_TOKEN_METHOD_MAX
 * tchars, a space, and a request target's start ("/", "*", or "http" of an
 * absolute-form). 1 when it does, 0 when it cannot, -1 when it ends before
 * that can be told (a request line written in parts: "PROPF", "IND /admin").
 */
static __always_inline int http_token_line(const char *b, __u32 len)
{
	__u32 i, k;

	for (i = 0; i <= HTTP_TOKEN_METHOD_MAX && i < len; i++)
		if (!http_tchar(b[i]))
			break;
	if (i >= len)
		return i > HTTP_TOKEN_METHOD_MAX ? 0 : -1;
	if (i == 0 || i > HTTP_TOKEN_METHOD_MAX || b[i] != ' ')
		return 0;
	if (i + 1 >= len)
		return -1;
	if (b[i + 1] == '/' || b[i + 1] == '*')
		return 1;
	for (k = 0; k < 4; k++) {
		if (i + 1 + k >= len)
			return -1;
		if ((b[i + 1 + k] | 0x20) != "http"[k])
			return 0;
	}
	return 1;
}

/*
 * A request line with another method (http_token_line) opens an exchange as
 * the others do, or a partial entry when the segment ends before it can be
 * told; user space takes any token for the method. Anything else that starts
 * so (a protocol of its own: "HELLO /x v1") makes no record: its answer is no
 * status line, and when its connection ends user space finds no request line
 * in it (counted, http:malformed_exchange). Unanswered exchanges of other
 * methods are reported as the nine's are: a request that crashed or reset its
 * server is the one to see. Returns whether it opened one. A
 * global function, verified once (see http_request); it reads the segment
 * into the per-CPU scratch that http_request then fills.
 */
__noinline int http_token_request(struct __sk_buff *skb, struct pf_parsed *p, __u32 how)
{
	__u32 skip = (how >> 16) & 0xff, zero = 0, n;
	struct http_conn *c;
	int line;

	if (!p || p->payload_len <= skip)
		return false;
	c = bpf_map_lookup_elem(&http_scratch, &zero);
	if (!c)
		return false;
	/* Up to 32 bytes: the longest method, its space and "http". */
	n = pf_min(p->payload_len - skip, 32) - 1;
	asm volatile("%0 &= 0x1f" : "+r"(n));
	if (bpf_skb_load_bytes(skb, p->payload_off + skip, c->ev.req, n + 1))
		return false;
	line = http_token_line(c->ev.req, n + 1);
	if (!line)
		return false;
	http_request(skb, p, how | (line < 0) << 24 | HTTP_HOW_TOKEN);
	return true;
}

/*
 * A segment that starts neither a request nor a response, while a request
 * line of its client's slot is open: when it carries the bytes right after
 * those kept of its client's request (to the same server), they are
 * appended, up to the 256 kept. A partial entry becomes the request once its method and space are
 * there, and goes when they are not. The server reads the request line from
 * the stream, however the client cut it: before, "GE" then "T /admin ..."
 * gave no record, and "GET /api" then "/admin ..." one of GET /api. A copy
 * of the cut segment, or one after a gap, adds nothing. True when it was the
 * continuation. A global function, verified once (see http_request).
 */
__noinline int http_continue(struct __sk_buff *skb, struct pf_parsed *p)
{
	struct http_conn_key key = {};
	struct http_conn *c;
	__u32 len, n, i, done = 0;
	__s64 *open;
	int line;
	__u64 w;

	if (!p)
		return false;
	__builtin_memcpy(key.client_addr, p->key.saddr, 16);
	key.client_port = p->key.sport;
	key.ip_version = p->key.ip_version;
	open = http_open_slot(&key);
	if (!open || *open <= 0)
		return false;
	c = http_exchange_with(p->key.saddr, p->key.sport, p->key.daddr, p->key.dport, p->key.ip_version, &key);
	if (!c || !c->line_open)
		return false;
	len = c->ev.req_len;
	if (p->tcp_seq != c->req_seq + c->skip + len || len >= PF_HTTP_REQ_MAX)
		return false;
	n = pf_min(p->payload_len, PF_HTTP_REQ_MAX - len);
	for (i = 0; i < PF_HTTP_REQ_MAX / HTTP_APPEND_CHUNK && done < n; i++) {
		__u32 off = (len + done) & (PF_HTTP_REQ_MAX - 1);
		__u32 k = pf_min(n - done, HTTP_APPEND_CHUNK) - 1;

		/* k + 1 in [1, 64] at off in [0, 255]: within the entry for the verifier, within req[] by n. */
		asm volatile("%0 &= 0x3f" : "+r"(k));
		if (bpf_skb_load_bytes(skb, p->payload_off + done, c->ev.req + off, k + 1))
			break;
		done += k + 1;
	}
	c->ev.req_len = len + done;
	if (c->state == HTTP_PARTIAL) {
		__builtin_memcpy(&w, c->ev.req, sizeof(w));
		line = c->ev.req_len >= 8 ? http_is_request(w) : http_may_begin_request(w, c->ev.req_len) ? -1 : 0;
		if (!line)
			line = http_token_line(c->ev.req, c->ev.req_len);
		if (!line) {
			http_line_closed(c, &key);
			bpf_map_delete_elem(&http_conns, &key);
			return true;
		}
		if (line > 0)
			c->state = HTTP_WAITING;
	}
	if (c->ev.req_len >= PF_HTTP_REQ_MAX || http_has_lf(c->ev.req, c->ev.req_len))
		http_line_closed(c, &key);
	return true;
}

/* Some request line is open on the node: checked before the call, which would cost every data segment. */
static __always_inline bool http_lines_open(void)
{
	__s64 *total = http_open_slot(NULL);

	return total && *total > 0;
}

/* A segment of 1 to 7 bytes: the next part of a cut request line, or maybe the start of one. */
static __always_inline void http_short(struct __sk_buff *skb, struct pf_parsed *p, __u8 direction, __u8 hook)
{
	__u32 n = p->payload_len - 1;
	__u64 w = 0;

	asm volatile("%0 &= 7" : "+r"(n));
	if (bpf_skb_load_bytes(skb, p->payload_off, &w, n + 1))
		return;
	if (http_lines_open() && http_continue(skb, p))
		return;
	/* Bytes past the segment as tchars: "PROPF" may begin a method of its own. */
	if (http_may_begin_request(w, n + 1) || http_may_be_token_request(w | (0x4141414141414141ULL << ((n + 1) * 8))))
		http_request(skb, p, HTTP_HOW(direction, hook, 0, 1));
}

/*
 * A TCP packet with its payload located (payload_ok). A packet the ingress
 * program handled is not seen again untranslated at egress (packet.bpf.c):
 * its request is recorded already, its response closed the exchange (a
 * second look would count it as unmatched), its FIN or RST ended it.
 * Translated (DNAT), it still records the server's other address.
 */
static __always_inline void http_packet(struct __sk_buff *skb, bool tc, struct pf_parsed *p, __u8 direction)
{
	__u8 hook = tc ? PF_L7_HOOK_TC : PF_L7_HOOK_SOCKET_FILTER;
	char head[PF_HTTP_RESP_MAX] = {};
	__u32 skip = 0;
	__u8 head_len;
	__u64 w;

	/* Every method and "HTTP/1." fit in 8 bytes; the status code needs 12. */
	head_len = p->payload_len < sizeof(head) ? 8 : sizeof(head);
	/*
	 * A TCP segment in IP fragments (Linux sends TCP with DF and never
	 * fragments it; a pod with CAP_NET_RAW can): the fragments after the
	 * first carry no TCP header, so a request line in it would be recorded
	 * cut where the sender chose ("GET /api" of "GET /api/admin ...").
	 */
	if (p->more_fragments) {
		if (p->payload_len)
			l7_count(PF_L7_HTTP_FRAGMENTED);
	} else if (p->payload_len >= 8 && !bpf_skb_load_bytes(skb, p->payload_off, head, head_len)) {
		__builtin_memcpy(&w, head, sizeof(w));
		if (http_is_eol(w) && head_len == sizeof(head))
			skip = http_empty_lines(head, &w);
		if (http_is_request(w))
			http_request(skb, p, HTTP_HOW(direction, hook, skip, 0));
		else if (!skip && http_is_response(w))
			http_response(skb, p, direction, head, head_len);
		/* The next part of a cut line first: "PROPF" then "IND /admin ..." is one request. */
		else if (!(http_lines_open() && http_continue(skb, p)) && http_may_be_token_request(w))
			http_token_request(skb, p, HTTP_HOW(direction, hook, skip, 0));
	} else if (p->payload_len && p->payload_len < 8) {
		http_short(skb, p, direction, hook);
	}
	/* After the payload: a response can carry the server's FIN. */
	if (p->tcp_flags & (HTTP_TCP_FIN | HTTP_TCP_RST))
		http_connection_end(skb, p, direction);
}

#endif
