// SPDX-License-Identifier: GPL-2.0
/*
 * tcp, fentry variant: the lifecycle through BPF trampolines, the cheapest
 * hook where the kernel allows trampolines (it refuses them on some VMs).
 */
#include "tcp_function_hooks.h"

PF_TCP_FUNCTION_HOOKS(fentry, BPF_PROG, true)

char LICENSE[] SEC("license") = "GPL";
