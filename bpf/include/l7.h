/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the L7 programs (dns, http) share beyond the packet parser: their
 * per-CPU counters and the TCP/UDP packets they look at. Payload reads go
 * through bpf_skb_load_bytes, which checks each read against the packet's
 * end (and reads beyond the linear part): a short or lying packet makes a
 * load fail, never read out of bounds.
 */
#ifndef PODFLOW_L7_H
#define PODFLOW_L7_H

#include "packet.h"

/* What these programs saw that is worth counting (enum pf_l7_counter). */
PF_COUNTERS(l7_counters, PF_L7_COUNTER_MAX);

static __always_inline void l7_count(__u32 counter)
{
	pf_count(&l7_counters, counter);
}

/*
 * Parses a TCP or UDP packet with its payload located; returns 0 for one, -1
 * for anything else (not an error: not ours), non-first fragments included.
 * TC reads the headers directly: these programs run on every packet too, and
 * most (handshakes, ACKs, other ports) leave right after the parse.
 */
static __always_inline int l7_parse(struct __sk_buff *skb, bool tc, struct pf_parsed *p)
{
	struct pf_packet pkt = pf_packet(skb, tc);

	if (pf_parse(&pkt, p, true) != PF_PARSE_OK || p->fragment)
		return -1;
	return p->key.protocol == IPPROTO_TCP || p->key.protocol == IPPROTO_UDP ? 0 : -1;
}

#endif
