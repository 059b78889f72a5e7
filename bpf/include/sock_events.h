/* SPDX-License-Identifier: Apache-2.0 */
/* The ring buffer of struct pf_sock_event and its fill helpers (tcp, retransmit). */
#ifndef PODFLOW_SOCK_EVENTS_H
#define PODFLOW_SOCK_EVENTS_H

#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} pf_events SEC(".maps");

/* Keeps the struct in every object's BTF, for the layout test. */
const struct pf_sock_event *unused_sock_event __attribute__((unused));

/* direct: the program holds a BTF-typed sk (see PF_KREAD); tp: see pf_tcp_sk. */
static __always_inline struct pf_sock_event *pf_reserve(struct sock *sk, bool direct, struct tcp_sock *tp, __u8 kind,
							__u8 state)
{
	struct pf_sock_event *e = bpf_ringbuf_reserve(&pf_events, sizeof(*e), 0);

	if (!e) {
		pf_count_loss(PF_LOSS_RINGBUF_FULL);
		return NULL;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->ts_ns = bpf_ktime_get_ns();
	e->kind = kind;
	e->state = state;
	pf_sock_tuple(sk, direct, tp, e->laddr, e->raddr, &e->lport, &e->rport, &e->ip_version);
	return e;
}

#define PF_RCV_SHUTDOWN 1
#define PF_SEND_SHUTDOWN 2

/*
 * Payload bytes each way. bytes_acked and bytes_received count sequence
 * numbers, so the SYN of an active open and each FIN are taken off.
 */
static __always_inline void pf_fill_counters(struct pf_sock_event *e, struct sock *sk, bool direct, struct tcp_sock *tp,
					     bool active_open)
{
	__u8 shutdown = direct ? BPF_CORE_READ_BITFIELD(sk, sk_shutdown) : BPF_CORE_READ_BITFIELD_PROBED(sk, sk_shutdown);
	__u64 acked = PF_TCP_READ(tp, sk, bytes_acked);
	__u64 received = PF_TCP_READ(tp, sk, bytes_received);

	if (active_open && acked > 0)
		acked--;
	if ((shutdown & PF_SEND_SHUTDOWN) && acked > 0 &&
	    PF_TCP_READ(tp, sk, snd_una) == PF_TCP_READ(tp, sk, write_seq))
		acked--;
	if ((shutdown & PF_RCV_SHUTDOWN) && received > 0)
		received--;
	e->bytes_sent = acked;
	e->bytes_received = received;
	e->segs_out = PF_TCP_READ(tp, sk, segs_out);
	e->segs_in = PF_TCP_READ(tp, sk, segs_in);
	e->srtt_us = PF_TCP_READ(tp, sk, srtt_us) >> 3;
	e->retransmits = PF_TCP_READ(tp, sk, total_retrans);
}

#endif
