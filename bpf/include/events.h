/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Every struct the kernel programs hand to user space, in one place. The
 * TypeScript decoders (src/probes/layouts.ts) use the same offsets; a test
 * (test/unit/probes-layout.test.ts) compares them with the BTF of the built
 * objects so the two cannot drift apart. Only fixed-width types, explicit
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

/* Per-flow aggregation key (one direction). IPv4 addresses use the first 4 bytes. */
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
 * Per-CPU counters of one flow direction since user space last drained the
 * map. A packet crossing two interfaces of the node (pod veth, then the
 * uplink) is counted only where the flow was first seen: ifindex and
 * direction say where that was. There is no last-seen time: reading the clock
 * per packet would double the program's cost, and an entry present at a
 * drain had packets since the previous one.
 */
struct pf_flow_stats {
	__u64 first_ns;		/* bpf_ktime_get_ns of the first packet since the last drain */
	__u64 bytes;		/* from the IP header on (L2 excluded) */
	__u64 packets;		/* GSO super-packets count their segments */
	__u32 ifindex;
	__u8 direction;		/* enum pf_direction */
	__u8 tcp_flags;		/* OR of the flags byte */
	__u8 syn;		/* a SYN without ACK went this way: this side initiated */
	__u8 pad;
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
	__u8 ip_version;	/* 0 when the packet was not IP */
	__u8 protocol;
	__u16 pad;
	__u32 pad2;
};

/* The drops rate limiter's value: at most one record per key and interval. */
struct pf_drop_window {
	__u64 last_emit_ns;
	__u32 pending;		/* drops not yet reported */
	__u32 pad;
};

#endif
