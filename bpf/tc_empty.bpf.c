// SPDX-License-Identifier: GPL-2.0
/* The baseline of bench/flows-tc.bench.ts: a TC program that does nothing. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

SEC("tc")
int tc_empty(struct __sk_buff *skb)
{
	return -1; /* TC_ACT_UNSPEC, as the flows programs return */
}

char LICENSE[] SEC("license") = "GPL";
