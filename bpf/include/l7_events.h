/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Events of the L7 probes (dns, http) and the service-translation map (svc).
 * Kept apart from events.h until the lead folds them in; the TypeScript
 * decoders use the offsets in src/probes/dns/layout.ts, and
 * test/unit/l7-layout.test.ts checks them against the BTF of the built objects.
 * Only fixed-width types, explicit padding, no bitfields.
 */
#ifndef PODFLOW_L7_EVENTS_H
#define PODFLOW_L7_EVENTS_H

#include "events.h"

#define PF_DNS_NAME_MAX 256	/* wire-format name bytes kept (RFC 1035: at most 255) */
#define PF_DNS_ANSWERS_MAX 4	/* A/AAAA addresses kept per response */
#define PF_DNS_PORTS_MAX 4
#define PF_HTTP_REQ_MAX 256	/* request bytes kept: request line and, when it fits, Host */
#define PF_HTTP_RESP_MAX 16	/* response bytes kept: "HTTP/1.1 200 " */

/* The addresses and ports of one packet. IPv4 addresses use the first 4 bytes. */
struct pf_l7_tuple {
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport;		/* host byte order */
	__u16 dport;
	__u8 ip_version;	/* 4 or 6 */
	__u8 protocol;		/* IANA number */
	__u16 pad;
};

/* Which program produced an event (both share one parser). */
enum pf_l7_hook {
	PF_L7_HOOK_TC = 0,
	PF_L7_HOOK_SOCKET_FILTER = 1,
};

/* Per-CPU counters of the L7 objects (index into l7_counters), summed by user space. */
enum pf_l7_counter {
	PF_L7_DNS_MALFORMED = 0,	/* on a DNS port but not a standard query/response with one well-formed question */
	PF_L7_DNS_NAME_TRUNCATED = 1,	/* query name compressed or cut short */
	PF_L7_HTTP_UNANSWERED = 2,	/* a request replaced by the next before any response */
	PF_L7_HTTP_RESP_UNMATCHED = 3,	/* a status line without a waiting request (includes second sightings) */
	PF_L7_COUNTER_MAX = 4,
};

/*
 * One DNS message (query or response) seen on the wire. The name is kept in
 * wire format with each label length byte replaced by '.', so user space reads
 * qname[1 .. name_len) as the dotted name.
 */
struct pf_dns_event {
	__u64 ts_ns;		/* bpf_ktime_get_ns */
	struct pf_l7_tuple tuple;	/* as seen in the packet */
	__u32 ifindex;
	__u16 id;
	__u16 flags;		/* DNS header flags: QR 0x8000, TC 0x0200, rcode & 0x000f */
	__u16 qtype;		/* 0 when the name could not be parsed to its end */
	__u16 ancount;
	__u16 name_len;		/* bytes of qname used, leading '.' included */
	__u8 direction;		/* enum pf_direction */
	__u8 hook;		/* enum pf_l7_hook */
	__u8 truncated;		/* name compressed, longer than kept, or cut by the packet end */
	__u8 answer_count;	/* entries of answers[] filled */
	__u8 answer_version[PF_DNS_ANSWERS_MAX];	/* 4 or 6 */
	__u16 pad;
	__u8 answers[PF_DNS_ANSWERS_MAX][16];
	char qname[PF_DNS_NAME_MAX];
};

/*
 * One HTTP/1.x exchange: the request's first segment and the first segment of
 * the response that followed it on the same connection.
 */
struct pf_http_event {
	__u64 req_ns;		/* first byte of the request seen */
	__u64 resp_ns;		/* first byte of the response seen */
	struct pf_l7_tuple req_tuple;	/* client -> server as the request was seen (may be a Service IP) */
	__u8 resp_saddr[16];	/* the responder as the response was seen (the backend after DNAT) */
	__u16 resp_sport;
	__u16 req_len;		/* bytes of req[] filled */
	__u32 req_ifindex;
	__u32 resp_ifindex;
	__u8 req_direction;	/* enum pf_direction */
	__u8 resp_direction;
	__u8 hook;		/* enum pf_l7_hook */
	__u8 resp_len;		/* bytes of resp[] filled */
	char resp[PF_HTTP_RESP_MAX];
	char req[PF_HTTP_REQ_MAX];
};

/* svc: a client socket's own address, the key of its original destination. */
struct pf_svc_key {
	__u8 addr[16];		/* IPv4 in the first 4 bytes; all zero when the socket had no address yet */
	__u16 port;		/* host byte order */
	__u8 ip_version;
	__u8 protocol;
};

/* svc: the destination the client asked for at connect()/sendmsg(). */
struct pf_svc_orig {
	__u8 addr[16];
	__u16 port;		/* host byte order */
	__u8 ip_version;
	__u8 published;		/* the socket's svc_key entry has been written */
	__u32 pad;
	__u64 cookie;		/* socket cookie, so a reused port is recognisable */
};

#endif
