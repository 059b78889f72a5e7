/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the tcp probe knows about each socket it saw open: its side, when it
 * was established, and the process (pf_socks, keyed by struct sock *). The
 * retransmit object reuses the tcp object's map (user space hands it over
 * before loading), so its records carry the same side and process.
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
	__u8 closed;		/* CLOSE was reported; kept until destroy for a reset sent at close */
	__u8 pad[2];
	char comm[16];
};

struct {
	/* LRU: a socket whose destroy was missed cannot leak an entry for good. */
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);	/* struct sock * */
	__type(value, struct pf_sock_info);
} pf_socks SEC(".maps");

static __always_inline void pf_fill_info(struct pf_sock_event *e, struct pf_sock_info *info)
{
	e->start_ns = info->start_ns;
	e->cgroup_id = info->cgroup_id;
	e->pid = info->pid;
	e->side = info->side;
	__builtin_memcpy(e->comm, info->comm, sizeof(e->comm));
}

#endif
