/* SPDX-License-Identifier: Apache-2.0 */
/* The ring buffer of struct pf_sock_event and its reserve helper (tcp, retransmit). */
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

#endif
