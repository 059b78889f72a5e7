/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The svc object's map of original destinations, per client socket address
 * (see svc.bpf.c). The packet object (its dns and http probes) declares the
 * same map and user space makes it reuse svc's (bpf_map__reuse_fd), so dns and
 * http read the client's original destination in the kernel instead of user
 * space looking it up once per record. Not reused (svc not attached): an empty
 * map, nothing found.
 */
#ifndef PODFLOW_SVC_ORIG_DST_H
#define PODFLOW_SVC_ORIG_DST_H

#include "common.h"

#define SVC_SOCKETS_MAX 65536

/*
 * One entry per live client socket a process created that has sent
 * (svc.bpf.c deletes it when the socket is released; the kernel's own sockets,
 * never released there, are not published). A plain hash: a full map refuses the insert, which
 * svc counts as map_full, where an LRU would silently evict the destination of
 * a socket still in use. The loader may resize it.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SVC_SOCKETS_MAX);
	__type(key, struct pf_svc_key);
	__type(value, struct pf_svc_orig);
} svc_orig_dst SEC(".maps");

/*
 * Copies the original destination of the client socket with this address and
 * port into out (zeroed, ip_version 0, when unknown). An unbound UDP socket is
 * published before its source address is chosen: with try_unbound, the
 * all-zero address is tried second.
 */
static __always_inline void pf_svc_original_destination(const __u8 addr[16], __u16 port, __u8 ip_version, __u8 protocol,
							  bool try_unbound, struct pf_svc_orig *out)
{
	struct pf_svc_key key = {};
	struct pf_svc_orig *o;

	__builtin_memcpy(key.addr, addr, 16);
	key.port = port;
	key.ip_version = ip_version;
	key.protocol = protocol;
	o = bpf_map_lookup_elem(&svc_orig_dst, &key);
	if (!o && try_unbound) {
		__builtin_memset(key.addr, 0, 16);
		o = bpf_map_lookup_elem(&svc_orig_dst, &key);
	}
	if (o)
		__builtin_memcpy(out, o, sizeof(*out));
	else
		__builtin_memset(out, 0, sizeof(*out));
}

#endif
