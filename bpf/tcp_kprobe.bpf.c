// SPDX-License-Identifier: GPL-2.0
/*
 * tcp, kprobe variant: the same lifecycle from kernel functions, preferred
 * where kprobes attach (they see every state change, including ones a
 * tracepoint build may lack). Needs CONFIG_KPROBES.
 */
#include "tcp_function_hooks.h"

PF_TCP_FUNCTION_HOOKS(kprobe, BPF_KPROBE, false)

/* tcp_v6_destroy_sock() calls it too. */
SEC("kprobe/tcp_v4_destroy_sock")
int BPF_KPROBE(tcp_destroy_kprobe, struct sock *sk)
{
	pf_tcp_destroy(sk);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
