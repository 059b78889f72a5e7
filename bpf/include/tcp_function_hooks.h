/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The tcp probe's two function-hook variants (fentry, kprobe) attach to the
 * same three kernel functions with the same bodies; only the section kind and
 * the argument-unpacking macro differ, so both are stamped from this one
 * definition. Programs are named <function>_<kind> (tcp_set_state_fentry, ...).
 * The kprobe variant also hooks the socket's destroy (see pf_tcp_destroy).
 */
#ifndef PODFLOW_TCP_FUNCTION_HOOKS_H
#define PODFLOW_TCP_FUNCTION_HOOKS_H

#include "tcp_lifecycle.h"
#include <bpf/bpf_tracing.h>

/*
 * KIND: fentry or kprobe; ARGS: BPF_PROG or BPF_KPROBE (both take name, typed
 * arguments); DIRECT: whether sk is BTF-typed (fentry) and read without helpers.
 */
#define PF_TCP_FUNCTION_HOOKS(KIND, ARGS, DIRECT)						\
	SEC(#KIND "/tcp_set_state")							\
	int ARGS(tcp_set_state_##KIND, struct sock *sk, int state)			\
	{										\
		pf_tcp_state_change(sk, DIRECT, PF_KREAD(DIRECT, sk, __sk_common.skc_state), state); \
		return 0;								\
	}										\
	SEC(#KIND "/tcp_reset")								\
	int ARGS(tcp_reset_##KIND, struct sock *sk)					\
	{										\
		pf_tcp_reset(sk, DIRECT);						\
		return 0;								\
	}										\
	SEC(#KIND "/tcp_send_active_reset")						\
	int ARGS(tcp_send_active_reset_##KIND, struct sock *sk)				\
	{										\
		pf_tcp_reset(sk, DIRECT);						\
		return 0;								\
	}

#endif
