/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The packet this CPU's TC ingress program handled last, for the egress
 * program (packet.bpf.c). A packet that comes in by one watched interface and
 * leaves by another is seen at both, the egress sighting right after the
 * ingress one on the same CPU (forwarding runs in the receiving softirq).
 * When it leaves with the interface it came in by (ingress_ifindex) and the
 * key it had there, the probes that handled it at ingress have nothing to add,
 * and skip their map lookups. A packet translated on the way (NAT,
 * encapsulation) has another key, and any packet not the CPU's last is not
 * recognised: both are handled as before.
 */
#ifndef PODFLOW_LAST_INGRESS_H
#define PODFLOW_LAST_INGRESS_H

#include "packet.h"

/* What the ingress program did with the packet (tag bits); 0: nothing to skip for. */
#define PF_HANDLED_FLOWS 0x01	/* counted in its conversation */
#define PF_HANDLED_HTTP 0x02	/* looked at by http */

struct pf_last_ingress {
	struct flow_key key;	/* as parsed: not ordered */
	__u32 ifindex;
	__u8 tag;
	__u8 pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pf_last_ingress);
} pf_last_ingress SEC(".maps");

static __always_inline struct pf_last_ingress *pf_last_ingress_slot(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&pf_last_ingress, &zero);
}

static __always_inline bool pf_same_key(const struct flow_key *a, const struct flow_key *b)
{
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;

	_Static_assert(sizeof(*a) == 5 * sizeof(__u64), "the key is compared as five words");
	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3] && x[4] == y[4];
}

/* At TC ingress, before the probes run: this packet; its tag is set once they are done. */
static __always_inline void pf_note_ingress(struct pf_last_ingress *last, struct __sk_buff *skb,
					    const struct flow_key *k)
{
	last->key = *k;
	last->ifindex = skb->ifindex;
	last->tag = 0;
}

/* At TC egress: the tag the ingress program left for this packet, 0 when it is not the one it last handled. */
static __always_inline __u8 pf_handled_on_ingress(const struct pf_last_ingress *last, struct __sk_buff *skb,
						  const struct flow_key *k)
{
	return last->tag && last->ifindex == skb->ingress_ifindex && pf_same_key(&last->key, k) ? last->tag : 0;
}

#endif
