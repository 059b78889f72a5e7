// SPDX-License-Identifier: GPL-2.0
/*
 * tcp, kprobe variant: the same lifecycle from kernel functions, preferred
 * where kprobes attach (they see every state change, including ones a
 * tracepoint build may lack). Needs CONFIG_KPROBES.
 */
#include "tcp_function_hooks.h"

PF_TCP_FUNCTION_HOOKS(kprobe, BPF_KPROBE, false)

char LICENSE[] SEC("license") = "GPL";
