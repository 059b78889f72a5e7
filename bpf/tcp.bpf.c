// SPDX-License-Identifier: GPL-2.0
/* tcp: connection lifecycle from the stable tracepoints (the fallback that works everywhere). */
#include "tcp_lifecycle.h"

#define IPPROTO_TCP_NUM 6

SEC("tracepoint/sock/inet_sock_set_state")
int tcp_state_tp(struct trace_event_raw_inet_sock_set_state *ctx)
{
	if (ctx->protocol != IPPROTO_TCP_NUM)
		return 0;
	pf_tcp_state_change((struct sock *)ctx->skaddr, ctx->oldstate, ctx->newstate);
	return 0;
}

SEC("tracepoint/tcp/tcp_send_reset")
int tcp_send_reset_tp(struct trace_event_raw_tcp_send_reset *ctx)
{
	pf_tcp_reset((struct sock *)ctx->skaddr);
	return 0;
}

SEC("tracepoint/tcp/tcp_receive_reset")
int tcp_receive_reset_tp(struct trace_event_raw_tcp_event_sk *ctx)
{
	pf_tcp_reset((struct sock *)ctx->skaddr);
	return 0;
}

SEC("tracepoint/tcp/tcp_destroy_sock")
int tcp_destroy_tp(struct trace_event_raw_tcp_event_sk *ctx)
{
	pf_tcp_destroy((struct sock *)ctx->skaddr);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
