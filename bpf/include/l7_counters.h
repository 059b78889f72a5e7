/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the L7 probes of the packet object (dns, http) saw that is worth
 * counting (enum pf_l7_counter), per CPU. Their payload reads go through
 * bpf_skb_load_bytes, which checks each read against the packet's end (and
 * reads beyond the linear part): a short or lying packet makes a load fail,
 * never read out of bounds.
 */
#ifndef PODFLOW_L7_COUNTERS_H
#define PODFLOW_L7_COUNTERS_H

#include "packet.h"

PF_COUNTERS(l7_counters, PF_L7_COUNTER_MAX);

static __always_inline void l7_count_n(__u32 counter, __u64 n)
{
	__u64 *c = bpf_map_lookup_elem(&l7_counters, &counter);

	if (c)
		*c += n;
}

static __always_inline void l7_count(__u32 counter)
{
	l7_count_n(counter, 1);
}

#endif
