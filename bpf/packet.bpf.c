// SPDX-License-Identifier: GPL-2.0
/*
 * packet: the per-packet programs of the flows, dns and http probes, one
 * object. Each packet is dispatched and parsed once for the three (three
 * programs per hook cost three dispatches and three parses per packet, on
 * the softirq path of every watched interface), then handed to each probe
 * the loader enabled: the packet_* flags are read-only globals set before
 * load, so the verifier removes what a disabled probe would have run. Each
 * probe keeps its own maps (see flows.h, dns.h, http.h) and its own row of
 * pf_losses (enum pf_packet_probe).
 */
#define PF_LOSS_ROWS PF_PACKET_PROBES

#include "flows.h"
#include "dns.h"
#include "http.h"
#include "last_ingress.h"

const volatile bool packet_flows = false;
const volatile bool packet_dns = false;
const volatile bool packet_http = false;

static __always_inline void packet_handle(struct __sk_buff *skb, bool tc, __u8 direction)
{
	struct pf_packet pkt = pf_packet(skb, tc);
	struct pf_last_ingress *last = NULL;
	struct pf_parsed p;
	enum pf_parse_result r;
	__u8 skip = 0, handled = 0;

	r = pf_parse(&pkt, &p, packet_dns || packet_http);
	if (r == PF_PARSE_NOT_IP)
		return;
	if (r == PF_PARSE_MALFORMED) {
		if (packet_flows)
			pf_count_loss_in(PF_PACKET_FLOWS, PF_LOSS_PARSE);
		return;
	}
	/* TC only (see last_ingress.h): the socket filter sees each packet once per interface, without ingress_ifindex. */
	if (tc && (packet_flows || packet_http)) {
		last = pf_last_ingress_slot();
		if (last && direction == PF_DIR_EGRESS)
			skip = pf_handled_on_ingress(last, skb, &p.key);
		else if (last)
			pf_note_ingress(last, skb, &p.key);
	}
	if (p.payload_ok) {
		if (packet_dns)
			dns_packet(skb, tc, &p, direction);
		if (packet_http && p.key.protocol == IPPROTO_TCP && !(skip & PF_HANDLED_HTTP)) {
			http_packet(skb, tc, &p, direction);
			handled |= PF_HANDLED_HTTP;
		}
	}
	/* Last: it orders the key in place. */
	if (packet_flows && !(skip & PF_HANDLED_FLOWS) && flows_packet(skb, &p, direction))
		handled |= PF_HANDLED_FLOWS;
	if (last && direction == PF_DIR_INGRESS)
		last->tag = handled;
}

PF_PACKET_PROGRAMS(packet, packet_handle)

/*
 * The http probe's sweep of the requests waiting too long (see http.h), run
 * by user space with BPF_PROG_TEST_RUN every tick: in the kernel, so that an
 * exchange leaves WAITING by the same compare-and-swap as a response or the
 * connection's end (one record whichever comes first), and without copying
 * the map out. skb->cb[0..1] and cb[2..3]: struct http_sweep's two times (low
 * word first). Returns the requests left waiting.
 */
SEC("tc")
int http_sweep(struct __sk_buff *skb)
{
	struct http_sweep s = {};

	if (!packet_http)
		return 0;
	s.timeout_before = (__u64)skb->cb[1] << 32 | skb->cb[0];
	s.forget_before = (__u64)skb->cb[3] << 32 | skb->cb[2];
	bpf_for_each_map_elem(&http_conns, http_sweep_one, &s, 0);
	return s.waiting;
}

char LICENSE[] SEC("license") = "GPL";
