/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The TCP lifecycle state machine shared by the tcp probe's variants
 * (tracepoints, kprobes, fentry): each variant only extracts the socket and
 * the state change from its hook and calls pf_tcp_state_change() or
 * pf_tcp_reset().
 */
#ifndef PODFLOW_TCP_LIFECYCLE_H
#define PODFLOW_TCP_LIFECYCLE_H

#include "sock_info.h"

/* Kernel TCP states (include/net/tcp_states.h): stable ABI, also in the tracepoint's format. */
enum {
	PF_TCP_ESTABLISHED = 1,
	PF_TCP_SYN_SENT = 2,
	PF_TCP_SYN_RECV = 3,
	PF_TCP_FIN_WAIT1 = 4,
	PF_TCP_FIN_WAIT2 = 5,
	PF_TCP_TIME_WAIT = 6,
	PF_TCP_CLOSE_STATE = 7,
	PF_TCP_CLOSE_WAIT = 8,
	PF_TCP_LAST_ACK = 9,
	PF_TCP_LISTEN = 10,
	PF_TCP_CLOSING = 11,
	PF_TCP_NEW_SYN_RECV = 12,
};

/*
 * The states a socket is in once its FIN is queued: tcp_close_state() moves
 * ESTABLISHED to FIN_WAIT1 and CLOSE_WAIT to LAST_ACK before tcp_send_fin().
 */
static __always_inline bool pf_fin_queued(int state)
{
	return state == PF_TCP_FIN_WAIT1 || state == PF_TCP_FIN_WAIT2 || state == PF_TCP_CLOSING ||
	       state == PF_TCP_LAST_ACK || state == PF_TCP_TIME_WAIT;
}

/*
 * Payload bytes each way at CLOSE (oldstate: the state it closes from).
 * bytes_acked and bytes_received count sequence numbers: the SYN of an active
 * open, our FIN once acknowledged and the peer's FIN once received are one
 * each, taken off only when they happened. sk_shutdown cannot tell: close()
 * sets it whole before an abort (RST, no FIN either way) as well.
 * - The peer's FIN: tcp_fin() sets SOCK_DONE; the abort paths (tcp_close(),
 *   tcp_reset(), tcp_done()) do not, and tcp_disconnect() clears it only
 *   after its CLOSE.
 * - Ours: queued in the states of pf_fin_queued(), the last sequence number
 *   (write_seq), so acknowledged once snd_una == write_seq, the kernel's own
 *   test in FIN_WAIT1, CLOSING and LAST_ACK (tcp_rcv_state_process()).
 */
static __always_inline void pf_fill_counters(struct pf_sock_event *e, struct sock *sk, bool direct, struct tcp_sock *tp,
					     bool active_open, int oldstate)
{
	__u64 flags = PF_KREAD(direct, sk, __sk_common.skc_flags);
	__u64 acked = PF_TCP_READ(tp, sk, bytes_acked);
	__u64 received = PF_TCP_READ(tp, sk, bytes_received);

	if (active_open && acked > 0)
		acked--;
	if (pf_fin_queued(oldstate) && acked > 0 && PF_TCP_READ(tp, sk, snd_una) == PF_TCP_READ(tp, sk, write_seq))
		acked--;
	if ((flags & (1ULL << bpf_core_enum_value(enum sock_flags, SOCK_DONE))) && received > 0)
		received--;
	e->bytes_sent = acked;
	e->bytes_received = received;
	e->segs_out = PF_TCP_READ(tp, sk, segs_out);
	e->segs_in = PF_TCP_READ(tp, sk, segs_in);
	e->retransmits = PF_TCP_READ(tp, sk, total_retrans);
}

static __always_inline void pf_emit(struct sock *sk, bool direct, __u8 kind, __u8 state, struct pf_sock_info *info)
{
	struct tcp_sock *tp = pf_tcp_sk(sk, direct);
	struct pf_sock_event *e = pf_reserve(sk, direct, tp, kind, state);

	if (!e)
		return;
	if (info)
		pf_fill_info(e, info);
	if (kind == PF_TCP_CLOSE)
		pf_fill_counters(e, sk, direct, tp, info && info->side == PF_SIDE_CLIENT, state);
	if (kind == PF_TCP_OPEN || kind == PF_TCP_CLOSE)
		e->srtt_us = PF_TCP_READ(tp, sk, srtt_us) >> 3;
	if (kind == PF_TCP_FAILED)
		e->error = PF_KREAD(direct, sk, sk_err);
	pf_ringbuf_submit(&pf_events, e);
}

/*
 * Stores info as what is known of sk (replacing what was); false, counted as
 * map_full, when there is no room: the hash is full, or the kernel could not
 * allocate the socket's storage.
 */
static __always_inline bool pf_remember(struct sock *sk, bool direct, struct pf_sock_info *info)
{
	__u64 key = (__u64)sk;
	struct pf_sock_info *stored;

	if (direct) {
		stored = bpf_sk_storage_get(&pf_sock_storage, sk, NULL, BPF_SK_STORAGE_GET_F_CREATE);
		if (stored) {
			__builtin_memcpy(stored, info, sizeof(*stored));
			return true;
		}
	} else if (!bpf_map_update_elem(&pf_socks, &key, info, BPF_ANY)) {
		return true;
	}
	pf_count_loss(PF_LOSS_MAP_FULL);
	return false;
}

/*
 * A socket established before podflow started, seen for the first time
 * while still bound: remembered with its side (so its CLOSE reads the right
 * way round and a client's SYN is not counted as a byte) and cgroup; its
 * process and start stay unknown. Returns the entry, or NULL when there was
 * no room for it.
 */
static __always_inline struct pf_sock_info *pf_adopt(struct sock *sk, bool direct)
{
	struct pf_sock_info fresh = {};

	fresh.side = pf_side_of_bucket(sk, pf_tcp_sk(sk, direct));
	fresh.cgroup_id = pf_sock_cgroup_id(sk, direct);
	fresh.adopted = 1;
	if (!pf_remember(sk, direct, &fresh))
		return NULL;
	return pf_sock_info_get(sk, direct);
}

/* direct: the hook gives a BTF-typed sk (tp_btf, fentry; see PF_KREAD). */
static __always_inline void pf_tcp_state_change(struct sock *sk, bool direct, int oldstate, int newstate)
{
	struct pf_sock_info *info, fresh = {};

	if (oldstate == newstate)
		return;
	if (newstate == PF_TCP_SYN_SENT) {
		/* connect(): the calling process is current. */
		fresh.side = PF_SIDE_CLIENT;
		fresh.pid = bpf_get_current_pid_tgid() >> 32;
		fresh.cgroup_id = bpf_get_current_cgroup_id();
		bpf_get_current_comm(fresh.comm, sizeof(fresh.comm));
		pf_remember(sk, direct, &fresh);
		return;
	}
	if (newstate == PF_TCP_ESTABLISHED) {
		info = pf_sock_info_get(sk, direct);
		if (!info) {
			/* Passive open (softirq, no process): the socket's cgroup is the server's. */
			fresh.side = oldstate == PF_TCP_SYN_SENT ? PF_SIDE_CLIENT : PF_SIDE_SERVER;
			fresh.cgroup_id = pf_sock_cgroup_id(sk, direct);
			info = &fresh;
		}
		info->start_ns = bpf_ktime_get_ns();
		if (info == &fresh)
			pf_remember(sk, direct, &fresh);
		pf_emit(sk, direct, PF_TCP_OPEN, newstate, info);
		return;
	}
	if (newstate != PF_TCP_CLOSE_STATE) {
		/* Leaving ESTABLISHED by a FIN sent or received, while the port is still bound (an abort goes straight to CLOSE). */
		if (oldstate == PF_TCP_ESTABLISHED && !pf_sock_info_get(sk, direct))
			pf_adopt(sk, direct);
		return;
	}
	info = pf_sock_info_get(sk, direct);
	if (info && info->closed)
		return;
	if (oldstate == PF_TCP_SYN_SENT)
		pf_emit(sk, direct, PF_TCP_FAILED, oldstate, info);
	else if (info && (info->start_ns || info->adopted))
		pf_emit(sk, direct, PF_TCP_CLOSE, oldstate, info);
	else if (!info && oldstate != PF_TCP_LISTEN && oldstate != PF_TCP_SYN_RECV &&
		 oldstate != PF_TCP_NEW_SYN_RECV)
		/* Established before podflow started and aborted (no FIN first): a close without its open or side. */
		pf_emit(sk, direct, PF_TCP_CLOSE, oldstate, NULL);
	if (info)
		info->closed = 1;
}

/*
 * The socket is destroyed: the hash forgets it (a later socket may reuse the
 * address). Socket storage goes with the socket: the direct variants have no
 * such hook.
 */
static __always_inline void pf_tcp_destroy(struct sock *sk)
{
	__u64 key = (__u64)sk;

	bpf_map_delete_elem(&pf_socks, &key);
}

/*
 * A reset sent or received on a socket podflow saw establish (refused connects
 * are TCP_FAILED). tcp_send_reset also runs for timewait sockets (a segment
 * reaching a closed socket's FIN_WAIT2 or TIME_WAIT remains) and request
 * sockets: no full sockets (nothing past sock_common is a tcp_sock's, the local
 * port reads 0), and their connection was reported closed already.
 */
static __always_inline void pf_tcp_reset(struct sock *sk, bool direct)
{
	struct pf_sock_info *info;
	int state;

	if (!sk)
		return;
	state = PF_KREAD(direct, sk, __sk_common.skc_state);
	if (state == PF_TCP_TIME_WAIT || state == PF_TCP_NEW_SYN_RECV)
		return;
	info = pf_sock_info_get(sk, direct);
	if (info && !info->start_ns && !info->adopted)
		return;
	/* A reset received ends a connection podflow may not have seen before (tcp_reset() runs before tcp_done()). */
	if (!info && (state == PF_TCP_ESTABLISHED || state == PF_TCP_CLOSE_WAIT || pf_fin_queued(state)))
		info = pf_adopt(sk, direct);
	pf_emit(sk, direct, PF_TCP_RESET, state, info);
}

#endif
