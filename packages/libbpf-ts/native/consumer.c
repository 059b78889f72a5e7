/* Batch consumers: a native thread drains BPF ring buffers (read directly from
 * their mmapped pages, as libbpf's ring_buffer does) or perf buffers (through
 * libbpf's perf_buffer) into a fixed pool of JS-owned batch Buffers, and hands
 * each filled batch to JavaScript through one threadsafe-function call.
 *
 * Backpressure: a batch is busy from when the thread starts filling it until
 * JavaScript releases it. When every batch is busy the thread waits, without
 * advancing the ring's consumer position, so the kernel's bpf_ringbuf_reserve
 * (or perf output) fails and the BPF program counts the drop. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "addon.h"

#define RB_BUSY_BIT (1u << 31)
#define RB_DISCARD_BIT (1u << 30)
#define RB_HDR_SZ 8u
#define STOP_TOKEN UINT32_MAX

struct ring {
	int map_fd;
	unsigned long *consumer_pos;
	unsigned long *producer_pos;
	uint8_t *data;
	size_t mask;
	size_t page_size;
	size_t data_size;
};

struct consumer {
	/* Batch pool: JS-owned Buffers and offset arrays, referenced until finalize. */
	uint32_t nbatches;
	size_t batch_bytes;
	uint32_t offsets_cap;
	uint8_t **bufs;
	uint32_t **offs;
	napi_ref *refs; /* 2 * nbatches: buffers then offset arrays */
	uint32_t *ready_count;
	size_t *ready_bytes;

	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool *busy;
	uint32_t busy_count;
	bool stop;
	/* Set by the thread once it stopped on a stop request: what was committed by then still goes
	 * to JavaScript, in batches that are free, without waiting (see final_drain). */
	bool final_drain;

	/* Owned by the consumer thread. */
	int cur;
	uint32_t cur_count;
	size_t cur_bytes;

	uint64_t batches, records, bytes, stalls, lost, oversized, dropped_at_stop;

	napi_env env;
	napi_threadsafe_function tsfn;
	pthread_t thread;
	bool started, joined, tsfn_released, cleanup_hook;
	/* Set by the thread when the tsfn said napi_closing (environment teardown): after
	 * that the tsfn may be freed at any moment, so nobody may call or release it. */
	bool tsfn_closed;
	int epfd, stopfd;
	/* Ring buffers: the rings edge-triggered and the stop eventfd, for lingering (see linger). */
	int linger_epfd;

	struct ring *rings;
	uint32_t nrings;
	/* Ring buffers: after a wakeup, wait up to this long for more records before draining. */
	uint32_t linger_ms;
	struct perf_buffer *pb;
	/* Our own copy of the perf map's fd: perf_buffer__free deletes the per-CPU entries through
	 * it, and the caller's fd may by then be closed and its number reused by another map. */
	int pb_map_fd;
};

static const napi_type_tag consumer_tag = { 0x6c6962627066746full, 0x636f6e73756d0001ull };

static void stat_add(uint64_t *p, uint64_t v)
{
	__atomic_fetch_add(p, v, __ATOMIC_RELAXED);
}

/* Waits for a free batch and makes it current; false when stopping (in the final drain: when none is free). */
static bool acquire_batch(struct consumer *c)
{
	pthread_mutex_lock(&c->mu);
	if (!c->stop && c->busy_count == c->nbatches) {
		stat_add(&c->stalls, 1);
		while (!c->stop && c->busy_count == c->nbatches)
			pthread_cond_wait(&c->cv, &c->mu);
	}
	if (c->stop && (!c->final_drain || c->busy_count == c->nbatches)) {
		pthread_mutex_unlock(&c->mu);
		return false;
	}
	uint32_t i = 0;
	while (c->busy[i])
		i++;
	c->busy[i] = true;
	c->busy_count++;
	pthread_mutex_unlock(&c->mu);
	c->cur = (int)i;
	c->cur_count = 0;
	c->cur_bytes = 0;
	return true;
}

/* Batch i is free again (JavaScript is done with it, or never got it). */
static void give_back(struct consumer *c, uint32_t i)
{
	pthread_mutex_lock(&c->mu);
	if (c->busy[i]) {
		c->busy[i] = false;
		c->busy_count--;
		pthread_cond_signal(&c->cv);
	}
	pthread_mutex_unlock(&c->mu);
}

/* Hands the current batch to JavaScript if it holds records. */
static void flush_batch(struct consumer *c)
{
	if (c->cur < 0 || c->cur_count == 0)
		return;
	int i = c->cur;
	c->offs[i][c->cur_count] = (uint32_t)c->cur_bytes;
	c->ready_count[i] = c->cur_count;
	c->ready_bytes[i] = c->cur_bytes;
	c->cur = -1;
	if (napi_call_threadsafe_function(c->tsfn, (void *)(uintptr_t)(i + 1), napi_tsfn_nonblocking) == napi_ok) {
		stat_add(&c->batches, 1);
		stat_add(&c->records, c->ready_count[i]);
		stat_add(&c->bytes, c->ready_bytes[i]);
	} else {
		/* Only fails (napi_closing) while the environment shuts down. The tsfn must not be
		 * used again, and consuming more records would only throw them away: stop. */
		give_back(c, i);
		pthread_mutex_lock(&c->mu);
		c->tsfn_closed = true;
		c->stop = true;
		pthread_mutex_unlock(&c->mu);
	}
}

static bool stopping(struct consumer *c)
{
	pthread_mutex_lock(&c->mu);
	bool stop = c->stop;
	pthread_mutex_unlock(&c->mu);
	return stop;
}

/* Copies one record into the current batch; false when stopping (the record is not consumed). */
static inline bool add_record(struct consumer *c, const void *src, size_t len)
{
	if (len > c->batch_bytes) {
		stat_add(&c->oversized, 1);
		return true;
	}
	if (c->cur >= 0 && (c->cur_bytes + len > c->batch_bytes || c->cur_count + 1 >= c->offsets_cap))
		flush_batch(c);
	if (c->cur < 0 && !acquire_batch(c))
		return false;
	c->offs[c->cur][c->cur_count++] = (uint32_t)c->cur_bytes;
	memcpy(c->bufs[c->cur] + c->cur_bytes, src, len);
	c->cur_bytes += len;
	return true;
}

/* Drains one ring; the same loop as libbpf's ringbuf_process_ring, so that the
 * kernel's wakeup (sent when a commit finds the consumer caught up) is never missed. */
static bool process_ring(struct consumer *c, struct ring *r)
{
	unsigned long cons = __atomic_load_n(r->consumer_pos, __ATOMIC_ACQUIRE);
	bool got;
	do {
		got = false;
		unsigned long prod = __atomic_load_n(r->producer_pos, __ATOMIC_ACQUIRE);
		while (cons < prod) {
			uint32_t *hdr = (uint32_t *)(r->data + (cons & r->mask));
			uint32_t len = __atomic_load_n(hdr, __ATOMIC_ACQUIRE);
			if (len & RB_BUSY_BIT)
				return true;
			got = true;
			uint32_t size = len & ~(RB_BUSY_BIT | RB_DISCARD_BIT);
			if (!(len & RB_DISCARD_BIT) && !add_record(c, (uint8_t *)hdr + RB_HDR_SZ, size))
				return false;
			cons += (size + RB_HDR_SZ + 7) & ~7ul;
			__atomic_store_n(r->consumer_pos, cons, __ATOMIC_RELEASE);
		}
	} while (got);
	return true;
}

/* Consumes what a ring still holds without delivering it; returns how many records that was. */
static uint64_t discard_ring(struct ring *r)
{
	unsigned long cons = __atomic_load_n(r->consumer_pos, __ATOMIC_ACQUIRE);
	unsigned long prod = __atomic_load_n(r->producer_pos, __ATOMIC_ACQUIRE);
	uint64_t n = 0;
	while (cons < prod) {
		uint32_t len = __atomic_load_n((uint32_t *)(r->data + (cons & r->mask)), __ATOMIC_ACQUIRE);
		/* Still being written: it was not committed when the consumer stopped. */
		if (len & RB_BUSY_BIT)
			break;
		if (!(len & RB_DISCARD_BIT))
			n++;
		cons += ((len & ~(RB_BUSY_BIT | RB_DISCARD_BIT)) + RB_HDR_SZ + 7) & ~7ul;
	}
	__atomic_store_n(r->consumer_pos, cons, __ATOMIC_RELEASE);
	return n;
}

/*
 * After a stop request (not when the environment goes away: then nothing can be
 * delivered), the records committed by then are still handed over: the thread
 * may have stopped lingering on the request, with up to a linger interval of
 * records waiting, and JavaScript, blocked joining this thread, receives these
 * batches right after the join. Only free batches are used (JavaScript cannot
 * release one meanwhile); what finds none is consumed and counted as
 * dropped_at_stop instead of left behind uncounted.
 */
static bool begin_final_drain(struct consumer *c)
{
	pthread_mutex_lock(&c->mu);
	c->final_drain = !c->tsfn_closed;
	pthread_mutex_unlock(&c->mu);
	return c->final_drain;
}

static void final_drain(struct consumer *c)
{
	if (!begin_final_drain(c))
		return;
	for (uint32_t i = 0; i < c->nrings; i++)
		if (!process_ring(c, &c->rings[i]))
			stat_add(&c->dropped_at_stop, discard_ring(&c->rings[i]));
	flush_batch(c);
}

/* A ring this full is drained without lingering. */
static bool ring_filling(struct consumer *c)
{
	for (uint32_t i = 0; i < c->nrings; i++) {
		struct ring *r = &c->rings[i];
		unsigned long cons = __atomic_load_n(r->consumer_pos, __ATOMIC_ACQUIRE);
		unsigned long prod = __atomic_load_n(r->producer_pos, __ATOMIC_ACQUIRE);
		if (prod - cons >= r->data_size / 4)
			return true;
	}
	return false;
}

/*
 * Waits up to linger_ms so that the records of the next few milliseconds are
 * drained as one batch (not when a ring is already a quarter full); false
 * when stopping. The kernel wakes the consumer only when a commit finds it
 * caught up, so while it lingers producers send no wakeups: a wakeup, a batch
 * and a JavaScript call per linger interval instead of per record. A producer
 * that wants a filling ring drained at once submits with BPF_RB_FORCE_WAKEUP
 * (podflow's probes do as a ring passes a quarter full), which ends the wait:
 * the wait is on a second epoll set where the rings are edge-triggered, so a
 * wakeup ends it, not records merely waiting. The thread's main wait stays
 * level-triggered: it never sleeps while a ring holds records. (Watching the
 * fill level in 1 ms steps instead cost a timer wakeup per millisecond and
 * thread, a fifth of podflow's CPU under load on a VM.)
 */
static bool linger(struct consumer *c)
{
	struct epoll_event events[16];
	if (ring_filling(c))
		return true;
	/* First the edges of the wakeup that ended the main wait (each wakeup reaches both sets). */
	int n;
	while ((n = epoll_wait(c->linger_epfd, events, 16, 0)) > 0)
		for (int i = 0; i < n; i++)
			if (events[i].data.u32 == STOP_TOKEN)
				return false;
	n = epoll_wait(c->linger_epfd, events, 16, (int)c->linger_ms);
	for (int i = 0; i < n; i++)
		if (events[i].data.u32 == STOP_TOKEN)
			return false;
	return true;
}

static void *ring_thread(void *arg)
{
	struct consumer *c = arg;
	struct epoll_event events[16];
	bool running = true;
	while (running) {
		for (uint32_t i = 0; i < c->nrings && running; i++)
			running = process_ring(c, &c->rings[i]);
		flush_batch(c);
		if (!running || stopping(c))
			break;
		int n = epoll_wait(c->epfd, events, 16, -1);
		for (int i = 0; i < n; i++)
			if (events[i].data.u32 == STOP_TOKEN)
				running = false;
		if (n < 0 && errno != EINTR)
			running = false;
		if (running && c->linger_ms > 0)
			running = linger(c);
	}
	flush_batch(c);
	final_drain(c);
	return NULL;
}

static void perf_sample(void *ctx, int cpu, void *data, __u32 size)
{
	(void)cpu;
	struct consumer *c = ctx;
	/* Stopping, and no batch free (or not the final drain): perf_buffer consumes it anyway. */
	if (!add_record(c, data, size))
		stat_add(&c->dropped_at_stop, 1);
}

static void perf_lost(void *ctx, int cpu, __u64 cnt)
{
	(void)cpu;
	stat_add(&((struct consumer *)ctx)->lost, cnt);
}

static void *perf_thread(void *arg)
{
	struct consumer *c = arg;
	struct epoll_event events[2];
	for (;;) {
		int n = epoll_wait(c->epfd, events, 2, -1);
		if (n < 0 && errno != EINTR)
			break;
		bool stop = false;
		for (int i = 0; i < n; i++)
			stop |= events[i].data.u32 == STOP_TOKEN;
		if (stop)
			break;
		/* Drains every CPU's buffer (perf_buffer__poll would wait again on the inner epoll). */
		perf_buffer__consume(c->pb);
		flush_batch(c);
		if (stopping(c))
			break;
	}
	flush_batch(c);
	/* As final_drain does for rings: what the buffers hold now still goes to JavaScript where a batch is free. */
	if (begin_final_drain(c)) {
		perf_buffer__consume(c->pb);
		flush_batch(c);
	}
	return NULL;
}

/* On the JS thread: batch `data - 1` is ready. */
static void call_js(napi_env env, napi_value js_cb, void *context, void *data)
{
	struct consumer *c = context;
	uint32_t i = (uint32_t)(uintptr_t)data - 1;
	napi_value args[3], global, result;
	if (!env || !js_cb || napi_create_uint32(env, i, &args[0]) != napi_ok ||
	    napi_create_uint32(env, c->ready_count[i], &args[1]) != napi_ok ||
	    napi_create_double(env, (double)c->ready_bytes[i], &args[2]) != napi_ok ||
	    napi_get_global(env, &global) != napi_ok) {
		/* JavaScript will never see this batch. */
		give_back(c, i);
		return;
	}
	/* Once called, JavaScript releases the batch itself (consumerRelease), even when it throws. */
	napi_call_function(env, global, js_cb, 3, args, &result);
}

static void stop_thread(struct consumer *c)
{
	if (!c->started || c->joined)
		return;
	pthread_mutex_lock(&c->mu);
	c->stop = true;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	uint64_t one = 1;
	ssize_t w = write(c->stopfd, &one, sizeof(one));
	(void)w;
	pthread_join(c->thread, NULL);
	c->joined = true;
}

/* After stop_thread: the thread no longer calls the tsfn, so this is the last use. */
static void release_tsfn(struct consumer *c)
{
	if (c->tsfn && !c->tsfn_released && !c->tsfn_closed) {
		napi_release_threadsafe_function(c->tsfn, napi_tsfn_release);
		c->tsfn_released = true;
	}
}

/* Joins the thread and frees the kernel-facing resources (mmaps, perf buffer, fds).
 * The batch pool stays until finalize: JavaScript may still release batches. */
static void consumer_close(struct consumer *c)
{
	stop_thread(c);
	release_tsfn(c);
	for (uint32_t i = 0; i < c->nrings; i++) {
		struct ring *r = &c->rings[i];
		if (r->consumer_pos)
			munmap(r->consumer_pos, r->page_size);
		if (r->producer_pos)
			munmap(r->producer_pos, r->page_size + 2 * r->data_size);
		r->consumer_pos = NULL;
		r->producer_pos = NULL;
	}
	if (c->pb)
		perf_buffer__free(c->pb);
	c->pb = NULL;
	if (c->pb_map_fd >= 0)
		close(c->pb_map_fd);
	c->pb_map_fd = -1;
	if (c->epfd >= 0)
		close(c->epfd);
	if (c->linger_epfd >= 0)
		close(c->linger_epfd);
	if (c->stopfd >= 0)
		close(c->stopfd);
	c->epfd = c->stopfd = c->linger_epfd = -1;
}

/* Environment teardown (process exit, Worker terminated) with the consumer still running.
 * Registered after the tsfn, so it runs before Node's own tsfn cleanup: the thread is
 * joined and the tsfn released while the tsfn is still valid. The batch pool is freed
 * by the finalizer, which runs later. */
static void consumer_env_cleanup(void *arg)
{
	struct consumer *c = arg;
	c->cleanup_hook = false;
	consumer_close(c);
}

static void consumer_free(napi_env env, struct consumer *c)
{
	consumer_close(c);
	if (c->cleanup_hook)
		napi_remove_env_cleanup_hook(c->env, consumer_env_cleanup, c);
	free(c->rings);
	if (env && c->refs)
		for (uint32_t i = 0; i < 2 * c->nbatches; i++)
			if (c->refs[i])
				napi_delete_reference(env, c->refs[i]);
	free(c->refs);
	free(c->bufs);
	free(c->offs);
	free(c->busy);
	free(c->ready_count);
	free(c->ready_bytes);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	free(c);
}

static void consumer_finalize(napi_env env, void *data, void *hint)
{
	(void)hint;
	consumer_free(env, data);
}

/* Common construction: the batch pool (args pool, offsets), the epoll set with a stop eventfd, the tsfn. */
static struct consumer *consumer_new(napi_env env, napi_value pool, napi_value offsets, napi_value cb)
{
	uint32_t n = 0, n2 = 0;
	if (napi_get_array_length(env, pool, &n) != napi_ok || napi_get_array_length(env, offsets, &n2) != napi_ok ||
	    n == 0 || n != n2) {
		throw_type(env, "libbpf-ts: pool and offsets must be non-empty arrays of equal length");
		return NULL;
	}
	struct consumer *c = calloc(1, sizeof(*c));
	if (!c) {
		throw_errno(env, ENOMEM, "consumer");
		return NULL;
	}
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	c->env = env;
	c->epfd = c->stopfd = c->linger_epfd = c->pb_map_fd = -1;
	c->cur = -1;
	c->nbatches = n;
	c->bufs = calloc(n, sizeof(*c->bufs));
	c->offs = calloc(n, sizeof(*c->offs));
	c->refs = calloc(2 * n, sizeof(*c->refs));
	c->busy = calloc(n, sizeof(*c->busy));
	c->ready_count = calloc(n, sizeof(*c->ready_count));
	c->ready_bytes = calloc(n, sizeof(*c->ready_bytes));
	if (!c->bufs || !c->offs || !c->refs || !c->busy || !c->ready_count || !c->ready_bytes) {
		throw_errno(env, ENOMEM, "consumer");
		goto fail;
	}
	for (uint32_t i = 0; i < n; i++) {
		napi_value b, o;
		void *bd, *od;
		size_t bl, ol;
		if (napi_get_element(env, pool, i, &b) != napi_ok || napi_get_element(env, offsets, i, &o) != napi_ok ||
		    !arg_buf(env, b, false, &bd, &bl) || !arg_buf(env, o, false, &od, &ol))
			goto fail;
		if (i == 0) {
			c->batch_bytes = bl;
			c->offsets_cap = (uint32_t)(ol / sizeof(uint32_t));
		}
		if (bl != c->batch_bytes || ol / sizeof(uint32_t) != c->offsets_cap || c->offsets_cap < 2) {
			throw_type(env, "libbpf-ts: pool buffers and offset arrays must all have the same sizes");
			goto fail;
		}
		/* Record offsets are uint32. */
		if (bl > UINT32_MAX) {
			throw_errno(env, EINVAL, "batch buffers must be smaller than 4 GiB");
			goto fail;
		}
		c->bufs[i] = bd;
		c->offs[i] = od;
		/* Without the references the thread would write into collected memory. */
		if (napi_create_reference(env, b, 1, &c->refs[i]) != napi_ok ||
		    napi_create_reference(env, o, 1, &c->refs[n + i]) != napi_ok) {
			throw_napi_failure(env, "napi_create_reference");
			goto fail;
		}
	}
	c->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (c->epfd < 0) {
		throw_errno(env, errno, "epoll_create1");
		goto fail;
	}
	c->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->stopfd < 0) {
		throw_errno(env, errno, "eventfd");
		goto fail;
	}
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = STOP_TOKEN };
	if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, c->stopfd, &ev) < 0) {
		throw_errno(env, errno, "epoll_ctl");
		goto fail;
	}
	napi_value name;
	if (napi_create_string_utf8(env, "libbpf-ts:consumer", NAPI_AUTO_LENGTH, &name) != napi_ok ||
	    napi_create_threadsafe_function(env, cb, NULL, name, 0, 1, NULL, NULL, c, call_js, &c->tsfn) != napi_ok) {
		throw_napi_failure(env, "napi_create_threadsafe_function");
		goto fail;
	}
	if (napi_add_env_cleanup_hook(env, consumer_env_cleanup, c) != napi_ok) {
		throw_napi_failure(env, "napi_add_env_cleanup_hook");
		goto fail;
	}
	c->cleanup_hook = true;
	return c;
fail:
	consumer_free(env, c);
	return NULL;
}

static bool ring_map(napi_env env, struct ring *r, int map_fd)
{
	struct bpf_map_info info;
	memset(&info, 0, sizeof(info));
	__u32 len = sizeof(info);
	int err = bpf_obj_get_info_by_fd(map_fd, &info, &len);
	if (err) {
		throw_errno(env, err, "BPF_OBJ_GET_INFO_BY_FD");
		return false;
	}
	if (info.type != BPF_MAP_TYPE_RINGBUF) {
		throw_errno(env, EINVAL, "not a BPF_MAP_TYPE_RINGBUF map");
		return false;
	}
	r->map_fd = map_fd;
	r->page_size = (size_t)sysconf(_SC_PAGESIZE);
	r->data_size = info.max_entries;
	r->mask = info.max_entries - 1;
	void *cons = mmap(NULL, r->page_size, PROT_READ | PROT_WRITE, MAP_SHARED, map_fd, 0);
	if (cons == MAP_FAILED) {
		throw_errno(env, errno, "mmap ring buffer consumer page");
		return false;
	}
	r->consumer_pos = cons;
	/* The data pages are mapped twice in a row, so a record that wraps is contiguous. */
	void *prod = mmap(NULL, r->page_size + 2 * r->data_size, PROT_READ, MAP_SHARED, map_fd, (off_t)r->page_size);
	if (prod == MAP_FAILED) {
		throw_errno(env, errno, "mmap ring buffer data pages");
		return false;
	}
	r->producer_pos = prod;
	r->data = (uint8_t *)prod + r->page_size;
	return true;
}

/* ringbufNew(mapFds[], pool[], offsets[], onReady, lingerMs) */
static napi_value ringbuf_new(napi_env env, napi_callback_info info)
{
	GET_ARGS(5);
	uint32_t nfds = 0, linger_ms;
	if (napi_get_array_length(env, argv[0], &nfds) != napi_ok || nfds == 0)
		return throw_type(env, "libbpf-ts: expected a non-empty array of map fds");
	if (!arg_u32(env, argv[4], &linger_ms))
		return NULL;
	struct consumer *c = consumer_new(env, argv[1], argv[2], argv[3]);
	if (!c)
		return NULL;
	c->linger_ms = linger_ms;
	c->linger_epfd = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event stop = { .events = EPOLLIN, .data.u32 = STOP_TOKEN };
	if (c->linger_epfd < 0 || epoll_ctl(c->linger_epfd, EPOLL_CTL_ADD, c->stopfd, &stop) < 0) {
		throw_errno(env, errno, "epoll (linger)");
		goto fail;
	}
	c->rings = calloc(nfds, sizeof(*c->rings));
	if (!c->rings) {
		throw_errno(env, ENOMEM, "ring buffer consumer");
		goto fail;
	}
	for (uint32_t i = 0; i < nfds; i++) {
		napi_value v;
		int32_t fd;
		if (napi_get_element(env, argv[0], i, &v) != napi_ok || !arg_i32(env, v, &fd))
			goto fail;
		c->nrings = i + 1;
		if (!ring_map(env, &c->rings[i], fd))
			goto fail;
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = i };
		/* For lingering, edge-triggered: that wait ends on the kernel's wakeups, not on records already there. */
		struct epoll_event edge = { .events = EPOLLIN | EPOLLET, .data.u32 = i };
		if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 || epoll_ctl(c->linger_epfd, EPOLL_CTL_ADD, fd, &edge) < 0) {
			throw_errno(env, errno, "epoll_ctl(ring buffer)");
			goto fail;
		}
	}
	return wrap_ptr(env, c, &consumer_tag, consumer_finalize);
fail:
	consumer_free(env, c);
	return NULL;
}

/* perfbufNew(mapFd, pageCount, pool[], offsets[], onReady) */
static napi_value perfbuf_new(napi_env env, napi_callback_info info)
{
	GET_ARGS(5);
	int32_t fd;
	uint32_t pages;
	if (!arg_i32(env, argv[0], &fd) || !arg_u32(env, argv[1], &pages))
		return NULL;
	struct consumer *c = consumer_new(env, argv[2], argv[3], argv[4]);
	if (!c)
		return NULL;
	c->pb_map_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (c->pb_map_fd < 0) {
		throw_errno(env, errno, "dup(perf event array fd)");
		goto fail;
	}
	c->pb = perf_buffer__new(c->pb_map_fd, pages, perf_sample, perf_lost, c, NULL);
	if (!c->pb) {
		throw_errno(env, errno, "perf_buffer__new");
		goto fail;
	}
	/* perf_buffer's own epoll fd is pollable: wait on it next to the stop eventfd. */
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = 0 };
	if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, perf_buffer__epoll_fd(c->pb), &ev) < 0) {
		throw_errno(env, errno, "epoll_ctl(perf buffer)");
		goto fail;
	}
	return wrap_ptr(env, c, &consumer_tag, consumer_finalize);
fail:
	consumer_free(env, c);
	return NULL;
}

static napi_value consumer_start(napi_env env, napi_callback_info info)
{
	GET_ARGS(1);
	struct consumer *c = unwrap_ptr(env, argv[0], &consumer_tag, "consumer");
	if (!c)
		return NULL;
	if (c->started || c->epfd < 0)
		return throw_errno(env, EALREADY, "consumer already started or stopped");
	int err = pthread_create(&c->thread, NULL, c->pb ? perf_thread : ring_thread, c);
	if (err)
		return throw_errno(env, err, "pthread_create");
	c->started = true;
	return undefined(env);
}

static napi_value consumer_release(napi_env env, napi_callback_info info)
{
	GET_ARGS(2);
	struct consumer *c = unwrap_ptr(env, argv[0], &consumer_tag, "consumer");
	uint32_t i;
	if (!c || !arg_u32(env, argv[1], &i))
		return NULL;
	if (i >= c->nbatches)
		return throw_errno(env, EINVAL, "batch index out of range");
	give_back(c, i);
	return undefined(env);
}

static napi_value consumer_stop(napi_env env, napi_callback_info info)
{
	GET_ARGS(1);
	struct consumer *c = unwrap_ptr(env, argv[0], &consumer_tag, "consumer");
	if (!c)
		return NULL;
	consumer_close(c);
	return undefined(env);
}

/* consumerRef(c, ref): whether a running consumer keeps the Node process alive. */
static napi_value consumer_ref(napi_env env, napi_callback_info info)
{
	GET_ARGS(2);
	struct consumer *c = unwrap_ptr(env, argv[0], &consumer_tag, "consumer");
	bool ref;
	if (!c || !arg_bool(env, argv[1], &ref))
		return NULL;
	if (c->tsfn && !c->tsfn_released && !c->tsfn_closed)
		NAPI_TRY(ref ? napi_ref_threadsafe_function(env, c->tsfn) : napi_unref_threadsafe_function(env, c->tsfn));
	return undefined(env);
}

static napi_value consumer_stats(napi_env env, napi_callback_info info)
{
	GET_ARGS(1);
	struct consumer *c = unwrap_ptr(env, argv[0], &consumer_tag, "consumer");
	if (!c)
		return NULL;
	napi_value r, v;
	NAPI_TRY(napi_create_object(env, &r));
	const struct {
		const char *name;
		uint64_t *p;
	} fields[] = {
		{ "batches", &c->batches }, { "records", &c->records }, { "bytes", &c->bytes },
		{ "stalls", &c->stalls },   { "lost", &c->lost },       { "oversized", &c->oversized },
		{ "droppedAtStop", &c->dropped_at_stop },
	};
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		napi_create_double(env, (double)__atomic_load_n(fields[i].p, __ATOMIC_RELAXED), &v);
		set_prop(env, r, fields[i].name, v);
	}
	return r;
}

void init_consumer(napi_env env, napi_value exports)
{
	static const export_fn fns[] = {
		{ "ringbufNew", ringbuf_new },
		{ "perfbufNew", perfbuf_new },
		{ "consumerStart", consumer_start },
		{ "consumerRelease", consumer_release },
		{ "consumerStop", consumer_stop },
		{ "consumerStats", consumer_stats },
		{ "consumerRef", consumer_ref },
		{ NULL, NULL },
	};
	register_fns(env, exports, fns);
}
