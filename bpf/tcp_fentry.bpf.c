// SPDX-License-Identifier: GPL-2.0
/*
 * tcp, fentry variant: the lifecycle through BPF trampolines, the cheapest
 * hook where the kernel allows trampolines (it refuses them on some VMs).
 */
#include "tcp_lifecycle.h"
#include <bpf/bpf_tracing.h>

SEC("fentry/tcp_set_state")
int BPF_PROG(tcp_set_state_fentry, struct sock *sk, int state)
{
	pf_tcp_state_change(sk, sk->__sk_common.skc_state, state);
	return 0;
}

SEC("fentry/tcp_reset")
int BPF_PROG(tcp_reset_fentry, struct sock *sk)
{
	pf_tcp_reset(sk);
	return 0;
}

SEC("fentry/tcp_send_active_reset")
int BPF_PROG(tcp_send_active_reset_fentry, struct sock *sk)
{
	pf_tcp_reset(sk);
	return 0;
}

SEC("fentry/tcp_v4_destroy_sock")
int BPF_PROG(tcp_destroy_fentry, struct sock *sk)
{
	pf_tcp_destroy(sk);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
