/* SPDX-License-Identifier: Apache-2.0 */
/* Maps and helpers every podflow kernel object shares. */
#ifndef PODFLOW_COMMON_H
#define PODFLOW_COMMON_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "events.h"

#define AF_INET 2
#define AF_INET6 10

/* A per-CPU array of counters indexed by an enum (no atomics needed); user space sums the CPUs. */
#define PF_COUNTERS(name, max)					\
	struct {						\
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);	\
		__uint(max_entries, max);			\
		__type(key, __u32);				\
		__type(value, __u64);				\
	} name SEC(".maps")

static __always_inline void pf_count(void *counters, __u32 index)
{
	__u64 *n = bpf_map_lookup_elem(counters, &index);

	if (n)
		*n += 1;
}

/* Records that end within this many bytes past a quarter of the ring force a wakeup (see pf_ringbuf_submit). */
#define PF_RB_WAKE_WINDOW 4096

/*
 * Submits a reserved ring-buffer record. The agent's consumer lingers ~10 ms
 * after a wakeup and drains that interval's records as one batch (libbpf-ts
 * RingBufferConsumer); the records that take the ring past a quarter full wake
 * it at once, so that a burst is drained before the ring runs out of room.
 * Only those (a window, as producers on other CPUs race for the crossing):
 * while the consumer is held up (JavaScript behind), a forced wakeup per
 * record would be an interrupt per record for nothing; the consumer checks
 * the fill level itself before it lingers.
 */
static __always_inline void pf_ringbuf_submit(void *ring, void *record)
{
	__u64 quarter = bpf_ringbuf_query(ring, BPF_RB_RING_SIZE) / 4;
	__u64 used = bpf_ringbuf_query(ring, BPF_RB_AVAIL_DATA);

	bpf_ringbuf_submit(record, used > quarter && used <= quarter + PF_RB_WAKE_WINDOW ? BPF_RB_FORCE_WAKEUP : 0);
}

/*
 * Kernel-side losses of this object, per reason (enum pf_loss_reason); an
 * object serving several probes (packet.bpf.c) defines PF_LOSS_ROWS, one row
 * of reasons per probe.
 */
#ifndef PF_LOSS_ROWS
#define PF_LOSS_ROWS 1
#endif
PF_COUNTERS(pf_losses, PF_LOSS_MAX * PF_LOSS_ROWS);

static __always_inline void pf_count_loss_in(__u32 row, __u32 reason)
{
	pf_count(&pf_losses, row * PF_LOSS_MAX + reason);
}

static __always_inline void pf_count_loss(__u32 reason)
{
	pf_count_loss_in(0, reason);
}

/* Two 16-byte addresses (IPv4 in the first 4 bytes, the rest zero) compared as two words each. */
static __always_inline bool pf_same_addr(const __u8 a[16], const __u8 b[16])
{
	__u64 a0, a1, b0, b1;

	__builtin_memcpy(&a0, a, 8);
	__builtin_memcpy(&a1, a + 8, 8);
	__builtin_memcpy(&b0, b, 8);
	__builtin_memcpy(&b1, b + 8, 8);
	return a0 == b0 && a1 == b1;
}

/*
 * Reads a kernel field chain (BPF_CORE_READ's arguments). `direct` (a constant
 * after inlining) is for programs given BTF-typed pointers (tp_btf, fentry):
 * they load the field itself (a plain load the verifier guards, CO-RE
 * relocated through vmlinux.h), where the others pay a bpf_probe_read_kernel
 * call per field, which the tcp probe made ten times per event.
 */
#define PF_KREAD(direct, src, ...) ((direct) ? ___arrow((src), __VA_ARGS__) : BPF_CORE_READ((src), __VA_ARGS__))

/*
 * The verifier types a BTF pointer by its declared struct: a cast of the hook's
 * struct sock * to a tcp_sock gives no direct access to the TCP fields. tp is
 * the socket as the kernel's checked tcp_sock (direct programs), or NULL: the
 * field is then read through the helper.
 */
static __always_inline struct tcp_sock *pf_tcp_sk(struct sock *sk, bool direct)
{
	return direct ? bpf_skc_to_tcp_sock(sk) : NULL;
}

#define PF_TCP_READ(tp, sk, ...) ((tp) ? ___arrow((tp), __VA_ARGS__) : BPF_CORE_READ((struct tcp_sock *)(sk), __VA_ARGS__))

/* Copies an address field of a socket (sizeof(dst) bytes), as PF_KREAD reads. */
#define PF_KREAD_INTO(direct, dst, sk, field)						\
	do {										\
		if (direct)								\
			__builtin_memcpy((dst), &(sk)->field, sizeof(*(dst)));		\
		else									\
			BPF_CORE_READ_INTO((dst), (sk), field);				\
	} while (0)

/*
 * Fills the addresses and ports of a socket, in this socket's own view. The
 * local port comes from inet_sport: skc_num is already 0 when the CLOSE
 * state change is traced (the port was released just before). tp: see pf_tcp_sk.
 */
static __always_inline void pf_sock_tuple(struct sock *sk, bool direct, struct tcp_sock *tp, __u8 laddr[16],
					  __u8 raddr[16], __u16 *lport, __u16 *rport, __u8 *ip_version)
{
	__u16 family = PF_KREAD(direct, sk, __sk_common.skc_family);

	*lport = bpf_ntohs(PF_TCP_READ(tp, sk, inet_conn.icsk_inet.inet_sport));
	*rport = bpf_ntohs(PF_KREAD(direct, sk, __sk_common.skc_dport));
	if (family == AF_INET6) {
		*ip_version = 6;
		PF_KREAD_INTO(direct, (struct in6_addr *)laddr, sk, __sk_common.skc_v6_rcv_saddr);
		PF_KREAD_INTO(direct, (struct in6_addr *)raddr, sk, __sk_common.skc_v6_daddr);
	} else {
		*ip_version = 4;
		PF_KREAD_INTO(direct, (__u32 *)laddr, sk, __sk_common.skc_rcv_saddr);
		PF_KREAD_INTO(direct, (__u32 *)raddr, sk, __sk_common.skc_daddr);
	}
}

/* The cgroup v2 id of the socket (set at creation, inherited by accepted children). */
static __always_inline __u64 pf_sock_cgroup_id(struct sock *sk, bool direct)
{
	return PF_KREAD(direct, sk, sk_cgrp_data.cgroup, kn, id);
}

#endif
