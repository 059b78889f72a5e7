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

/* Kernel-side losses of this object, per reason (enum pf_loss_reason). */
PF_COUNTERS(pf_losses, PF_LOSS_MAX);

static __always_inline void pf_count_loss(__u32 reason)
{
	pf_count(&pf_losses, reason);
}

#define PF_EEXIST 17

/*
 * Inserts a new entry into a plain (non-LRU) hash, which fails with -E2BIG
 * when full instead of evicting silently: that is counted as map_full.
 * Returns -PF_EEXIST when another CPU inserted the key first; the caller
 * then adds to that entry (not a loss).
 */
static __always_inline long pf_map_insert(void *map, const void *key, const void *value)
{
	long err = bpf_map_update_elem(map, key, value, BPF_NOEXIST);

	if (err && err != -PF_EEXIST)
		pf_count_loss(PF_LOSS_MAP_FULL);
	return err;
}

/*
 * Fills the addresses and ports of a socket, in this socket's own view. The
 * local port comes from inet_sport: skc_num is already 0 when the CLOSE
 * state change is traced (the port was released just before).
 */
static __always_inline void pf_sock_tuple(struct sock *sk, __u8 laddr[16], __u8 raddr[16],
					  __u16 *lport, __u16 *rport, __u8 *ip_version)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	*lport = bpf_ntohs(BPF_CORE_READ((struct inet_sock *)sk, inet_sport));
	*rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (family == AF_INET6) {
		*ip_version = 6;
		BPF_CORE_READ_INTO((struct in6_addr *)laddr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO((struct in6_addr *)raddr, sk, __sk_common.skc_v6_daddr);
	} else {
		*ip_version = 4;
		BPF_CORE_READ_INTO((__u32 *)laddr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO((__u32 *)raddr, sk, __sk_common.skc_daddr);
	}
}

/* The cgroup v2 id of the socket (set at creation, inherited by accepted children). */
static __always_inline __u64 pf_sock_cgroup_id(struct sock *sk)
{
	return BPF_CORE_READ(sk, sk_cgrp_data.cgroup, kn, id);
}

#endif
