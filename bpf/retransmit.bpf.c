// SPDX-License-Identifier: GPL-2.0
/*
 * retransmit: one record per connection and interval, carrying how many
 * segments were retransmitted since the previous record, so that a
 * retransmission storm costs one ring-buffer record per second per flow. The
 * first retransmission is reported at once; user space reports what is still
 * pending when a connection goes quiet.
 */
#include "sock_info.h"
#include <bpf/bpf_tracing.h>

#define RETRANSMIT_INTERVAL_NS 1000000000ULL

/* Not LRU: eviction would lose pending counts silently; windows are deleted when quiet (user space). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);	/* struct sock * */
	__type(value, struct pf_retransmit_window);
} pf_retransmit_windows SEC(".maps");

/* A zeroed window, copied into the map: too large for the BPF stack next to the rest. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pf_retransmit_window);
} pf_retransmit_scratch SEC(".maps");

/* Segments in the retransmitted skb (what total_retrans counts): TCP_SKB_CB(skb)->tcp_gso_segs. */
static __always_inline __u32 skb_segments(const struct sk_buff *skb)
{
	struct tcp_skb_cb *cb = (struct tcp_skb_cb *)__builtin_preserve_access_index(&skb->cb);
	__u16 segs = BPF_CORE_READ(cb, tcp_gso_segs);

	return segs ? segs : 1;
}

/*
 * The socket's state and smoothed RTT at its last retransmission, kept in its
 * window: what the tail record (user space, once the connection is quiet)
 * says of the socket, like the records sent from here. Its side and process
 * come from the tcp probe's per-socket map (this object reuses the one that
 * probe's variant fills: socket storage or the hash, see sock_info.h; typed:
 * sk is BTF-typed, which reading socket storage needs); a socket it does not
 * know (opened before podflow started, no tcp probe, or socket storage read
 * from the classic tracepoint) has its side from its port's bind bucket and
 * no process.
 */
static __always_inline void note_socket(struct pf_sock_event *e, struct sock *sk, bool typed)
{
	struct pf_sock_info *info = pf_sock_info_get(sk, typed);

	if (!info && typed)
		info = pf_sock_info_get(sk, false);
	e->state = BPF_CORE_READ(sk, __sk_common.skc_state);
	e->srtt_us = BPF_CORE_READ((struct tcp_sock *)sk, srtt_us) >> 3;
	if (info)
		pf_fill_info(e, info);
	else
		e->side = pf_side_of_bucket(sk, NULL);
}

static __always_inline void on_retransmit(struct sock *sk, bool typed, __u32 segs)
{
	struct pf_retransmit_window *w;
	struct pf_sock_event *e;
	__u64 key = (__u64)sk, now = bpf_ktime_get_ns();
	__u32 zero = 0, count;

	w = bpf_map_lookup_elem(&pf_retransmit_windows, &key);
	if (!w) {
		w = bpf_map_lookup_elem(&pf_retransmit_scratch, &zero);
		if (!w)
			return;
		__builtin_memset(w, 0, sizeof(*w));
		w->event.kind = PF_RETRANSMIT;
		pf_sock_tuple(sk, false, NULL, w->event.laddr, w->event.raddr, &w->event.lport,
			      &w->event.rport, &w->event.ip_version);
		w->last_emit_ns = now;
		note_socket(&w->event, sk, typed);
		/*
		 * Not a loss when this fails: the event below is reported at once either
		 * way; a full map (or another CPU's window) only costs rate limiting. Pending
		 * counts live only in inserted windows, which nothing evicts.
		 */
		bpf_map_update_elem(&pf_retransmit_windows, &key, w, BPF_NOEXIST);
		count = segs;
		w = NULL;
	} else {
		w->pending += segs;
		note_socket(&w->event, sk, typed);
		if (now - w->last_emit_ns < RETRANSMIT_INTERVAL_NS)
			return;
		count = w->pending;
	}
	e = pf_reserve(sk, false, NULL, PF_RETRANSMIT, 0);
	if (!e)
		return; /* still pending in the window: reported later */
	e->retransmits = count;
	note_socket(e, sk, typed);
	pf_ringbuf_submit(&pf_events, e);
	if (w) {
		w->pending = 0;
		w->last_emit_ns = now;
	}
}

/*
 * Kernels that pass the retransmission's error (6.13+: the tracepoint has an
 * err field) also trace failed attempts, which total_retrans does not count.
 */
static __always_inline bool has_err_arg(void)
{
	return bpf_core_field_exists(struct trace_event_raw_tcp_retransmit_skb, err);
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(retransmit_btf, const struct sock *sk, const struct sk_buff *skb)
{
	if (has_err_arg() && (int)ctx[2] != 0)
		return 0;
	on_retransmit((struct sock *)sk, true, skb_segments(skb));
	return 0;
}

SEC("tracepoint/tcp/tcp_retransmit_skb")
int retransmit_tp(struct trace_event_raw_tcp_retransmit_skb *ctx)
{
	if (has_err_arg() && BPF_CORE_READ(ctx, err) != 0)
		return 0;
	on_retransmit((struct sock *)ctx->skaddr, false, skb_segments(ctx->skbaddr));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
