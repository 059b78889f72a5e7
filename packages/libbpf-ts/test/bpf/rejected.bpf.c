// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Programs the kernel refuses: one the verifier rejects, one (fentry) that
 * this kernel cannot load at all. Tests load each alone and check the error. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("socket")
int lbt_bad_access(struct __sk_buff *skb)
{
	/* Out of the context's bounds: "invalid bpf_context access". */
	return *(volatile __u32 *)((char *)skb + 4096);
}

SEC("fentry/tcp_connect")
int lbt_fentry(void *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
