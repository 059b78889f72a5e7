// SPDX-License-Identifier: GPL-2.0
/*
 * tcp: connection lifecycle from the kernel's tracepoints, two ways to attach
 * to the same four: as BTF raw tracepoints (tp_btf, preferred: the kernel does
 * not format a trace record per hit, which is most of a classic tracepoint's
 * cost at ten state changes per short connection) and as classic tracepoints
 * (the fallback that works everywhere). User space loads one set. Only the
 * classic set hooks tcp_destroy_sock: the BTF set keeps its per-socket info in
 * socket storage, which goes with the socket (see sock_info.h).
 */
#include "tcp_lifecycle.h"
#include <bpf/bpf_tracing.h>

#define IPPROTO_TCP_NUM 6

SEC("tracepoint/sock/inet_sock_set_state")
int tcp_state_tp(struct trace_event_raw_inet_sock_set_state *ctx)
{
	if (ctx->protocol != IPPROTO_TCP_NUM)
		return 0;
	pf_tcp_state_change((struct sock *)ctx->skaddr, false, ctx->oldstate, ctx->newstate);
	return 0;
}

SEC("tracepoint/tcp/tcp_send_reset")
int tcp_send_reset_tp(struct trace_event_raw_tcp_send_reset *ctx)
{
	pf_tcp_reset((struct sock *)ctx->skaddr, false);
	return 0;
}

SEC("tracepoint/tcp/tcp_receive_reset")
int tcp_receive_reset_tp(struct trace_event_raw_tcp_event_sk *ctx)
{
	pf_tcp_reset((struct sock *)ctx->skaddr, false);
	return 0;
}

SEC("tracepoint/tcp/tcp_destroy_sock")
int tcp_destroy_tp(struct trace_event_raw_tcp_event_sk *ctx)
{
	pf_tcp_destroy((struct sock *)ctx->skaddr);
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(tcp_state_btf, struct sock *sk, int oldstate, int newstate)
{
	if (sk->sk_protocol != IPPROTO_TCP_NUM)
		return 0;
	pf_tcp_state_change(sk, true, oldstate, newstate);
	return 0;
}

/* Only the socket argument is read: later kernels added arguments after it. */
SEC("tp_btf/tcp_send_reset")
int BPF_PROG(tcp_send_reset_btf, struct sock *sk)
{
	pf_tcp_reset(sk, true);
	return 0;
}

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(tcp_receive_reset_btf, struct sock *sk)
{
	pf_tcp_reset(sk, true);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
