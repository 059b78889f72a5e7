// SPDX-License-Identifier: GPL-2.0
/*
 * tcp, kprobe variant: the same lifecycle from kernel functions, preferred
 * where kprobes attach (they see every state change, including ones a
 * tracepoint build may lack). Needs CONFIG_KPROBES.
 */
#include "tcp_lifecycle.h"
#include <bpf/bpf_tracing.h>

SEC("kprobe/tcp_set_state")
int BPF_KPROBE(tcp_set_state_kprobe, struct sock *sk, int state)
{
	pf_tcp_state_change(sk, BPF_CORE_READ(sk, __sk_common.skc_state), state);
	return 0;
}

SEC("kprobe/tcp_reset")
int BPF_KPROBE(tcp_reset_kprobe, struct sock *sk)
{
	pf_tcp_reset(sk);
	return 0;
}

SEC("kprobe/tcp_send_active_reset")
int BPF_KPROBE(tcp_send_active_reset_kprobe, struct sock *sk)
{
	pf_tcp_reset(sk);
	return 0;
}

SEC("kprobe/tcp_v4_destroy_sock")
int BPF_KPROBE(tcp_destroy_kprobe, struct sock *sk)
{
	pf_tcp_destroy(sk);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
