/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the tcp probe knows about each socket it saw open: its side, when it
 * was established, and the process. The retransmit object reuses the tcp
 * object's map (user space hands it over before loading), so its records
 * carry the same side and process.
 */
#ifndef PODFLOW_SOCK_INFO_H
#define PODFLOW_SOCK_INFO_H

#include "sock_events.h"

/* What is known about a socket between its first state change and CLOSE. */
struct pf_sock_info {
	__u64 start_ns;		/* established at; 0 while connecting */
	__u64 cgroup_id;
	__u32 pid;
	__u8 side;
	__u8 closed;		/* CLOSE was reported; kept while the socket lives, for a reset sent at close */
	__u8 adopted;		/* established before podflow started: side from pf_side_of_bucket, no start */
	__u8 pad;
	char comm[16];
};

/*
 * Where that lives depends on the hook (`direct`, see PF_KREAD):
 * - A BTF-typed socket (tp_btf, fentry): socket-local storage, freed with the
 *   socket. No size limit and nothing evicted, however many sockets are open
 *   (a proxy node, or a pod holding tens of thousands in an accept queue).
 * - Otherwise (classic tracepoints, kprobes: bpf_sk_storage_get() is not
 *   theirs): a plain hash keyed by the socket's address, deleted when the
 *   socket is destroyed. Full, it refuses the insert, counted as map_full (the
 *   socket's records then lack its process and start). Not an LRU: with more
 *   sockets open than it holds, an LRU evicts the entry of a socket still open
 *   without a word. Unused by the direct variants (user space shrinks it).
 */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct pf_sock_info);
} pf_sock_storage SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);	/* struct sock * */
	__type(value, struct pf_sock_info);
} pf_socks SEC(".maps");

/* What is known of sk, or NULL; direct: sk is BTF-typed (see above). */
static __always_inline struct pf_sock_info *pf_sock_info_get(struct sock *sk, bool direct)
{
	__u64 key = (__u64)sk;

	if (direct)
		return bpf_sk_storage_get(&pf_sock_storage, sk, NULL, 0);
	return bpf_map_lookup_elem(&pf_socks, &key);
}

/*
 * The side of a socket podflow did not see open (established before it
 * started), from the bind bucket of its local port; read while the port is
 * still bound (tcp_set_state() releases it just before CLOSE is traced).
 * connect() marks a bucket it allocates a port in with fastreuse -1 and
 * shares only such buckets (__inet_hash_connect); an accepted socket shares
 * its listener's bucket (__inet_inherit_port), which bind() made with
 * fastreuse 0 or 1. A client that bound its port itself before connect()
 * (bind() without IP_BIND_ADDRESS_NO_PORT) reads as a server.
 */
static __always_inline __u8 pf_side_of_bucket(struct sock *sk, struct tcp_sock *tp)
{
	struct inet_bind_bucket *tb = PF_TCP_READ(tp, sk, inet_conn.icsk_bind_hash);

	if (!tb)
		return PF_SIDE_UNKNOWN;
	return BPF_CORE_READ(tb, fastreuse) < 0 ? PF_SIDE_CLIENT : PF_SIDE_SERVER;
}

static __always_inline void pf_fill_info(struct pf_sock_event *e, struct pf_sock_info *info)
{
	e->start_ns = info->start_ns;
	e->cgroup_id = info->cgroup_id;
	e->pid = info->pid;
	e->side = info->side;
	__builtin_memcpy(e->comm, info->comm, sizeof(e->comm));
}

#endif
