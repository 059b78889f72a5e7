/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Every struct the kernel programs hand to user space, in one place. The
 * TypeScript decoders (src/probes/shared/layouts.ts) use the same offsets; a
 * test (test/unit/probes-layout.test.ts) compares them with the BTF of the
 * built objects so the two cannot drift apart. Only fixed-width types, explicit
 * padding, no bitfields.
 */
#ifndef PODFLOW_EVENTS_H
#define PODFLOW_EVENTS_H

/* Socket event kinds carry the numbers of podflow.v1.RecordType. */
enum pf_event_kind {
	PF_TCP_OPEN = 2,
	PF_TCP_CLOSE = 3,
	PF_TCP_FAILED = 4,
	PF_TCP_RESET = 5,
	PF_RETRANSMIT = 6,
};

enum pf_side {
	PF_SIDE_UNKNOWN = 0,
	PF_SIDE_CLIENT = 1,
	PF_SIDE_SERVER = 2,
};

enum pf_direction {
	PF_DIR_INGRESS = 1,
	PF_DIR_EGRESS = 2,
};

/* Index into each object's pf_losses per-CPU array: why an event was lost. */
enum pf_loss_reason {
	PF_LOSS_RINGBUF_FULL = 0,
	PF_LOSS_MAP_FULL = 1,	/* a map insert failed (hash full, no memory) */
	PF_LOSS_PARSE = 2,	/* a packet too short or malformed to key (flows) */
	PF_LOSS_MAX = 3,
};

/* The probes of the packet object (packet.bpf.c): each one's row of pf_losses. */
enum pf_packet_probe {
	PF_PACKET_FLOWS = 0,
	PF_PACKET_DNS = 1,
	PF_PACKET_HTTP = 2,
	PF_PACKET_PROBES = 3,
};

/*
 * The addresses, ports and protocol of a packet (L7 events), and the flows
 * map key, where its two endpoints are ordered (the smaller first) so that
 * both directions share it. IPv4 addresses use the first 4 bytes.
 */
struct flow_key {
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport;		/* host byte order; ICMP echo: the echo id */
	__u16 dport;
	__u8 ip_version;	/* 4 or 6 */
	__u8 protocol;		/* IANA number */
	__u16 pad;
};

/*
 * Counters of one direction of a conversation since user space last drained
 * the map. A packet crossing two interfaces of the node (pod veth, then the
 * uplink) is counted only where that direction was first seen: ifindex and
 * direction say where that was. There is no last-seen time: reading the clock
 * per packet would double the program's cost, and an entry present at a
 * drain had packets since the previous one.
 */
struct pf_flow_dir {
	__u64 first_ns;		/* bpf_ktime_get_ns of the first packet since the last drain */
	__u64 bytes;		/* from the IP header on (L2 excluded) */
	__u64 packets;		/* GSO super-packets count their segments */
	__u32 ifindex;
	__u8 direction;		/* enum pf_direction */
	__u8 tcp_flags;		/* OR of the flags byte */
	__u8 syn;		/* a SYN without ACK went this way: this side initiated */
	__u8 pad;
};

/*
 * The flows map value, per CPU: one entry per conversation (its key ordered,
 * see packet_flows.h), so a connection costs one map entry and one drained
 * entry, not one per direction. dir[0]: packets from the key's source
 * (saddr, sport) to its destination; dir[1]: the replies.
 */
struct pf_flow_stats {
	struct pf_flow_dir dir[2];
};

/* One socket-level event: TCP open/close/failed/reset and retransmit bursts. */
struct pf_sock_event {
	__u64 ts_ns;
	__u64 start_ns;		/* TCP_CLOSE: when the connection was established */
	__u64 cgroup_id;
	__u64 bytes_sent;	/* acknowledged payload bytes sent by this socket */
	__u64 bytes_received;
	__u32 segs_out;
	__u32 segs_in;
	__u32 srtt_us;
	__u32 retransmits;	/* TCP_CLOSE: total; RETRANSMIT: in this burst */
	__u32 pid;		/* 0 where there was no process context */
	__s32 error;		/* TCP_FAILED: the socket's error (errno) */
	__u8 laddr[16];		/* this socket's address */
	__u8 raddr[16];		/* the peer's address */
	__u16 lport;
	__u16 rport;
	__u8 kind;		/* enum pf_event_kind */
	__u8 ip_version;
	__u8 side;		/* enum pf_side */
	__u8 state;		/* kernel TCP state number */
	char comm[16];
};

/*
 * The retransmit rate limiter's value, per socket: the connection as an event
 * (so user space can report what is still pending when the socket goes quiet),
 * when the last record went out, and the retransmissions since.
 */
struct pf_retransmit_window {
	struct pf_sock_event event;
	__u64 last_emit_ns;
	__u32 pending;
	__u32 pad;
};

/*
 * Packets the kernel freed with one drop reason, for one flow and interface.
 * Also the key of the drops rate limiter, with ts_ns and count zero.
 */
struct pf_drop_event {
	__u64 ts_ns;
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport;
	__u16 dport;
	__u32 reason;		/* enum skb_drop_reason value on this kernel */
	__u32 ifindex;
	__u32 count;		/* drops since the previous record of this key */
	__u8 ip_version;	/* 0 when the IP header could not be read */
	__u8 protocol;
	__u16 pad;
	__u32 pad2;
};

/* Slots of the drops probe's reason filter: reason values below the last slot index themselves, the rest share it. */
#define PF_DROP_REASON_SLOTS 256

/* The drops rate limiter's value: at most one record per key and interval. */
struct pf_drop_window {
	__u64 last_emit_ns;
	__u32 pending;		/* drops not yet reported */
	__u32 pad;
};

/* L7 probes (dns, http) and service translation (svc). */

#define PF_DNS_NAME_MAX 256	/* wire-format name bytes kept (RFC 1035: at most 255) */
#define PF_DNS_ANSWERS_MAX 4	/* A/AAAA addresses kept per response */
#define PF_DNS_PORTS_MAX 4
#define PF_HTTP_REQ_MAX 256	/* request bytes kept: request line and, when it fits, Host */
#define PF_HTTP_RESP_MAX 16	/* response bytes kept: "HTTP/1.1 200 " */

/* Which program produced an event (both share one parser). */
enum pf_l7_hook {
	PF_L7_HOOK_TC = 0,
	PF_L7_HOOK_SOCKET_FILTER = 1,
};

/* Per-CPU counters of the L7 objects (index into l7_counters), summed by user space. */
enum pf_l7_counter {
	PF_L7_DNS_MALFORMED = 0,	/* on a DNS port but not a standard query/response with one well-formed question */
	PF_L7_DNS_NAME_TRUNCATED = 1,	/* query name compressed or cut short */
	PF_L7_HTTP_UNANSWERED = 2,	/* a request replaced by the next on its connection before any response */
	PF_L7_HTTP_RESP_UNMATCHED = 3,	/* a status line without a waiting request (includes second sightings) */
	PF_L7_DNS_SECOND_SIGHTING = 4,	/* a DNS message seen again on another interface of the node, dropped */
	PF_L7_DNS_TCP_UNPARSED = 5,	/* a DNS-over-TCP message not parsed (cut by the segment's end, beyond the bound): lost */
	PF_L7_HTTP_EMPTY_LINES = 6,	/* a segment starting with more empty lines than skipped before a request line: lost */
	PF_L7_DNS_FRAGMENT_UNPARSED = 7,	/* a UDP DNS message whose header or question lies past its first IP fragment: lost */
	PF_L7_HTTP_CONFLICTING_COPY = 8,	/* a request's sequence number again with other bytes: which the server took is unknown */
	PF_L7_HTTP_FRAGMENTED = 9,	/* a TCP segment with payload in IP fragments: not parsed (a request in it is lost) */
	PF_L7_COUNTER_MAX = 10,
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

/*
 * One DNS message (query or response) seen on the wire. The name is kept in
 * wire format with each label length byte replaced by '.', so user space reads
 * qname[1 .. name_len) as the dotted name.
 */
struct pf_dns_event {
	__u64 ts_ns;		/* bpf_ktime_get_ns */
	struct flow_key tuple;	/* as seen in the packet */
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
	struct pf_svc_orig orig;	/* queries: the client socket's connect()/sendmsg() destination (svc); ip_version 0: not known */
};

/*
 * Why a request got no response (pf_http_event.no_response). TIMEOUT comes
 * from the sweep of http_conns that user space runs every tick.
 */
enum pf_http_no_response {
	PF_HTTP_ANSWERED = 0,
	PF_HTTP_NO_RESPONSE_RESET = 1,	/* a RST from either side */
	PF_HTTP_NO_RESPONSE_CLOSED = 2,	/* a FIN from the server */
	PF_HTTP_NO_RESPONSE_TIMEOUT = 3,
	PF_HTTP_NO_RESPONSE_CLIENT_CLOSED = 4,	/* the client's FIN, then its end (the client gave up) */
};

/*
 * One HTTP/1.x exchange: the request's first segment and the first segment of
 * the response that followed it on the same connection; or the request and
 * the end of its connection without a response (no_response; resp[] empty,
 * resp_* describe the packet that ended it, resp_saddr/resp_sport the server).
 */
struct pf_http_event {
	__u64 req_ns;		/* first byte of the request seen */
	__u64 resp_ns;		/* first byte of the response seen (or the connection's end) */
	struct flow_key req_tuple;	/* client -> server as the request was seen (may be a Service IP) */
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
	struct pf_svc_orig orig;	/* the client socket's connect() destination (svc); ip_version 0: not known */
	__u8 no_response;	/* enum pf_http_no_response: 0 when resp[] holds the response's status line */
	__u8 pad[7];
};

#endif
