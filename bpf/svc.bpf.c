// SPDX-License-Identifier: GPL-2.0
/*
 * svc: remembers, per client socket, the destination it asked for at
 * connect() (TCP, connected UDP) or sendmsg() (unconnected UDP), before any
 * translation, and publishes it under the socket's own address and port once
 * the first packet leaves (only then is the source port known for UDP and
 * every TCP socket). The L7 records look the client's address and port up in
 * svc_orig_dst: when the stored destination differs from the one they saw
 * (after kube-proxy DNAT), they carry it as originalDestination.
 *
 * The entry lives as long as the socket: it is deleted when the socket is
 * released (cgroup/sock_release, at close(): replies that still arrive then
 * have no reader), or replaced when the socket republishes under another
 * address (an unconnected UDP socket connect()ed later).
 *
 * Only sockets a process created are remembered: the kernel's own sockets
 * (kernel_connect(): NFS, CIFS, iSCSI and Ceph clients, MPTCP subflows) pass
 * connect4 and egress too, but inet_release() runs sock_release only for
 * user sockets, so their entries would never go and would fill the map. The
 * hook that tells them apart is cgroup/sock_create, which inet_create() runs
 * only for sockets a process asked for: it marks the socket's storage, and
 * unmarked sockets are left alone. Sockets created before podflow attached
 * are unmarked too and get no original destination (they do get released, but
 * nothing says which unmarked socket is a process's); a restart of podflow
 * loses it for connections made from sockets opened before it.
 *
 * The cgroup hooks see the socket's view, which netfilter DNAT elsewhere on
 * the path (the node's PREROUTING) does not change; cgroup socket-LB programs
 * that rewrite the address in connect4 run in attach order, so podflow's must
 * be attached first (or at the root cgroup before them) to see the original.
 */
#include "svc_orig_dst.h"

/* What svc keeps per socket: the destination asked for, and where it is published in svc_orig_dst. */
struct svc_socket {
	struct pf_svc_orig orig;
	struct pf_svc_key key;		/* where orig is published, while keyed */
	__u8 keyed;			/* key holds an entry of svc_orig_dst */
	__u8 user;			/* created by a process (cgroup/sock_create): sock_release will run */
	__u8 pad[6];
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct svc_socket);
} svc_sk SEC(".maps");

static __always_inline int svc_v4_mapped(const __u32 a[4])
{
	return a[0] == 0 && a[1] == 0 && a[2] == bpf_htonl(0xffff);
}

/* An IPv6 socket's address as the svc structs keep it: a v4-mapped one as IPv4, in the first 4 bytes. */
static __always_inline void svc_addr6(__u8 addr[16], __u8 *ip_version, const __u32 ip6[4])
{
	if (svc_v4_mapped(ip6)) {
		__builtin_memcpy(addr, &ip6[3], 4);
		*ip_version = 4;
	} else {
		__builtin_memcpy(addr, ip6, 16);
		*ip_version = 6;
	}
}

static __always_inline int svc_same_key(const struct pf_svc_key *a, const struct pf_svc_key *b)
{
	return a->port == b->port && a->ip_version == b->ip_version && a->protocol == b->protocol &&
	       pf_same_addr(a->addr, b->addr);
}

/*
 * Deletes the socket's published entry; only if it still holds this socket's
 * destination (the cookie): sockets sharing an address and port
 * (SO_REUSEPORT) overwrite each other's, and the last one's must stay.
 */
static __always_inline void svc_unpublish(struct svc_socket *s)
{
	struct pf_svc_orig *o = bpf_map_lookup_elem(&svc_orig_dst, &s->key);

	if (o && o->cookie == s->orig.cookie)
		bpf_map_delete_elem(&svc_orig_dst, &s->key);
	s->keyed = 0;
}

/* Records the destination asked for; a new destination republishes it. */
static __always_inline void svc_remember(struct bpf_sock_addr *ctx, int v6)
{
	struct pf_svc_orig want = {}, *o;
	struct svc_socket *s;
	__u32 ip6[4];

	if (!ctx->sk)
		return;
	want.port = bpf_ntohs((__u16)ctx->user_port);
	if (v6) {
		ip6[0] = ctx->user_ip6[0];
		ip6[1] = ctx->user_ip6[1];
		ip6[2] = ctx->user_ip6[2];
		ip6[3] = ctx->user_ip6[3];
		svc_addr6(want.addr, &want.ip_version, ip6);
	} else {
		__u32 ip4 = ctx->user_ip4;

		__builtin_memcpy(want.addr, &ip4, 4);
		want.ip_version = 4;
	}
	s = bpf_sk_storage_get(&svc_sk, ctx->sk, 0, 0);
	if (!s || !s->user)
		return;
	o = &s->orig;
	if (o->ip_version == want.ip_version && o->port == want.port && pf_same_addr(o->addr, want.addr))
		return;
	want.cookie = bpf_get_socket_cookie(ctx);
	*o = want;
}

/* A socket a process created (never the kernel's own): only these are remembered. */
SEC("cgroup/sock_create")
int svc_create(struct bpf_sock *ctx)
{
	struct svc_socket *s = bpf_sk_storage_get(&svc_sk, ctx, 0, BPF_SK_STORAGE_GET_F_CREATE);

	if (s)
		s->user = 1;
	else
		pf_count_loss(PF_LOSS_MAP_FULL);
	return 1; /* allow */
}

SEC("cgroup/connect4")
int svc_connect4(struct bpf_sock_addr *ctx)
{
	svc_remember(ctx, 0);
	return 1; /* allow */
}

SEC("cgroup/connect6")
int svc_connect6(struct bpf_sock_addr *ctx)
{
	svc_remember(ctx, 1);
	return 1;
}

SEC("cgroup/sendmsg4")
int svc_sendmsg4(struct bpf_sock_addr *ctx)
{
	svc_remember(ctx, 0);
	return 1;
}

SEC("cgroup/sendmsg6")
int svc_sendmsg6(struct bpf_sock_addr *ctx)
{
	svc_remember(ctx, 1);
	return 1;
}

#define SVC_ETH_P_IP 0x0800
#define SVC_ETH_P_IPV6 0x86DD
#define SVC_TCP_FLAG_SYN 0x02

/*
 * A TCP segment without SYN: a connect()ed TCP socket's first packet is its
 * SYN (publishing happens there), so the others need no socket storage lookup;
 * that is most of a connection's packets. The headers of a locally sent
 * packet are in the linear part, which cgroup_skb reads directly (from the
 * network header); anything not recognised here takes the full path.
 */
static __always_inline bool svc_tcp_without_syn(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	__u8 *tcp;

	if (skb->protocol == bpf_htons(SVC_ETH_P_IP)) {
		struct iphdr *ip = data;

		if ((void *)(ip + 1) > end || ip->protocol != IPPROTO_TCP)
			return false;
		tcp = data + ((ip->ihl * 4) & 0x3c);
	} else if (skb->protocol == bpf_htons(SVC_ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = data;

		if ((void *)(ip6 + 1) > end || ip6->nexthdr != IPPROTO_TCP)
			return false;
		tcp = (__u8 *)(ip6 + 1);
	} else {
		return false;
	}
	if ((void *)(tcp + 14) > end)
		return false;
	return !(tcp[13] & SVC_TCP_FLAG_SYN);
}

/* Publishes a socket's remembered destination under its own address once its first packet leaves. */
SEC("cgroup_skb/egress")
int svc_egress(struct __sk_buff *skb)
{
	struct pf_svc_key key = {};
	struct svc_socket *s;
	struct bpf_sock *sk = skb->sk;
	__u32 ip6[4];

	if (!sk || svc_tcp_without_syn(skb))
		return 1;
	sk = bpf_sk_fullsock(sk);
	if (!sk)
		return 1;
	s = bpf_sk_storage_get(&svc_sk, sk, 0, 0);
	/* No destination remembered (ip_version 0): a process's socket that sent without connect4 or sendmsg4. */
	if (!s || !s->orig.ip_version || s->orig.published)
		return 1;
	key.port = sk->src_port;
	key.protocol = sk->protocol;
	if (sk->family == AF_INET6) {
		ip6[0] = sk->src_ip6[0];
		ip6[1] = sk->src_ip6[1];
		ip6[2] = sk->src_ip6[2];
		ip6[3] = sk->src_ip6[3];
		svc_addr6(key.addr, &key.ip_version, ip6);
	} else {
		__u32 ip4 = sk->src_ip4;

		__builtin_memcpy(key.addr, &ip4, 4);
		key.ip_version = 4;
	}
	/* Republished under another address: the old entry is this socket's, and stale. */
	if (s->keyed && !svc_same_key(&s->key, &key))
		svc_unpublish(s);
	if (bpf_map_update_elem(&svc_orig_dst, &key, &s->orig, BPF_ANY)) {
		pf_count_loss(PF_LOSS_MAP_FULL);
		return 1;
	}
	s->orig.published = 1;
	s->key = key;
	s->keyed = 1;
	return 1; /* allow */
}

/* The socket is closed: its original destination goes with it. */
SEC("cgroup/sock_release")
int svc_release(struct bpf_sock *ctx)
{
	struct svc_socket *s = bpf_sk_storage_get(&svc_sk, ctx, 0, 0);

	if (s && s->keyed)
		svc_unpublish(s);
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
