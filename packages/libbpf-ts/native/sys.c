/* Attachments made with plain syscalls or libbpf's low-level API (BPF links
 * by fd, classic TC, sockets), BPF_PROG_TEST_RUN, and libbpf's feature probes. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "addon.h"

#ifndef SO_ATTACH_BPF
#define SO_ATTACH_BPF 50
#endif
#ifndef SO_DETACH_BPF
#define SO_DETACH_BPF 27
#endif

/* linkCreate(progFd, targetFd, attachType, flags) -> link fd */
static napi_value link_create(napi_env env, napi_callback_info info)
{
	GET_ARGS(4);
	int32_t prog_fd, target_fd;
	uint32_t type, flags;
	if (!arg_i32(env, argv[0], &prog_fd) || !arg_i32(env, argv[1], &target_fd) ||
	    !arg_u32(env, argv[2], &type) || !arg_u32(env, argv[3], &flags))
		return NULL;
	LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = flags);
	int fd = bpf_link_create(prog_fd, target_fd, type, &opts);
	if (fd < 0)
		return throw_errno(env, fd, "BPF_LINK_CREATE");
	return make_i64(env, fd);
}

static napi_value close_fd(napi_env env, napi_callback_info info)
{
	GET_ARGS(1);
	int32_t fd;
	if (!arg_i32(env, argv[0], &fd))
		return NULL;
	if (fd >= 0 && close(fd) < 0 && errno != EINTR)
		return throw_errno(env, errno, "close");
	return undefined(env);
}

static napi_value tc_hook_create(napi_env env, napi_callback_info info)
{
	GET_ARGS(1);
	int32_t ifindex;
	if (!arg_i32(env, argv[0], &ifindex))
		return NULL;
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
	int err = bpf_tc_hook_create(&hook);
	if (err == -EEXIST)
		return make_bool(env, false);
	if (err)
		return throw_errno(env, err, "create clsact qdisc");
	return make_bool(env, true);
}

static napi_value tc_hook_destroy(napi_env env, napi_callback_info info)
{
	GET_ARGS(1);
	int32_t ifindex;
	if (!arg_i32(env, argv[0], &ifindex))
		return NULL;
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
	int err = bpf_tc_hook_destroy(&hook);
	if (err)
		return throw_errno(env, err, "delete clsact qdisc");
	return undefined(env);
}

/* tcAttach(progFd, ifindex, ingress, priority, handle) -> {priority, handle} */
static napi_value tc_attach(napi_env env, napi_callback_info info)
{
	GET_ARGS(5);
	int32_t prog_fd, ifindex;
	bool ingress;
	uint32_t prio, handle;
	if (!arg_i32(env, argv[0], &prog_fd) || !arg_i32(env, argv[1], &ifindex) || !arg_bool(env, argv[2], &ingress) ||
	    !arg_u32(env, argv[3], &prio) || !arg_u32(env, argv[4], &handle))
		return NULL;
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = prog_fd, .priority = prio, .handle = handle);
	int err = bpf_tc_attach(&hook, &opts);
	if (err)
		return throw_errno(env, err, "bpf_tc_attach");
	napi_value r;
	NAPI_TRY(napi_create_object(env, &r));
	set_prop(env, r, "priority", make_u32(env, opts.priority));
	set_prop(env, r, "handle", make_u32(env, opts.handle));
	return r;
}

static napi_value tc_detach(napi_env env, napi_callback_info info)
{
	GET_ARGS(4);
	int32_t ifindex;
	bool ingress;
	uint32_t prio, handle;
	if (!arg_i32(env, argv[0], &ifindex) || !arg_bool(env, argv[1], &ingress) ||
	    !arg_u32(env, argv[2], &prio) || !arg_u32(env, argv[3], &handle))
		return NULL;
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .priority = prio, .handle = handle);
	int err = bpf_tc_detach(&hook, &opts);
	if (err)
		return throw_errno(env, err, "bpf_tc_detach");
	return undefined(env);
}

/* The kernel name of program `id` (at most 15 characters), "" when it cannot be read. */
static void prog_name_by_id(uint32_t id, char *name, size_t size)
{
	name[0] = 0;
	int fd = bpf_prog_get_fd_by_id(id);
	if (fd < 0)
		return;
	struct bpf_prog_info info;
	uint32_t len = sizeof(info);
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0)
		snprintf(name, size, "%s", info.name);
	close(fd);
}

/* Adds {priority, handle, kind, progId, program} of one RTM_NEWTFILTER message to `list`; the per-priority
 * header messages (handle 0) are skipped. */
static bool add_filter(napi_env env, napi_value list, uint32_t *n, struct nlmsghdr *nh)
{
	struct tcmsg *t = NLMSG_DATA(nh);
	if (t->tcm_handle == 0)
		return true;
	char kind[16] = "";
	uint32_t prog_id = 0;
	int len = nh->nlmsg_len - NLMSG_LENGTH(sizeof(*t));
	for (struct rtattr *a = (struct rtattr *)((char *)t + NLMSG_ALIGN(sizeof(*t))); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type == TCA_KIND) {
			snprintf(kind, sizeof(kind), "%.*s", (int)RTA_PAYLOAD(a), (char *)RTA_DATA(a));
		} else if (a->rta_type == TCA_OPTIONS) {
			int olen = RTA_PAYLOAD(a);
			for (struct rtattr *o = RTA_DATA(a); RTA_OK(o, olen); o = RTA_NEXT(o, olen))
				if (o->rta_type == TCA_BPF_ID && RTA_PAYLOAD(o) >= sizeof(uint32_t))
					memcpy(&prog_id, RTA_DATA(o), sizeof(prog_id));
		}
	}
	char prog[BPF_OBJ_NAME_LEN] = "";
	if (prog_id)
		prog_name_by_id(prog_id, prog, sizeof(prog));
	napi_value f;
	if (napi_create_object(env, &f) != napi_ok)
		return false;
	napi_value kind_v, prog_v;
	if (napi_create_string_utf8(env, kind, NAPI_AUTO_LENGTH, &kind_v) != napi_ok ||
	    napi_create_string_utf8(env, prog, NAPI_AUTO_LENGTH, &prog_v) != napi_ok)
		return false;
	set_prop(env, f, "priority", make_u32(env, t->tcm_info >> 16));
	set_prop(env, f, "handle", make_u32(env, t->tcm_handle));
	set_prop(env, f, "kind", kind_v);
	set_prop(env, f, "progId", make_u32(env, prog_id));
	set_prop(env, f, "program", prog_v);
	return napi_set_element(env, list, (*n)++, f) == napi_ok;
}

/* tcFilters(ifindex, ingress) -> [{priority, handle, kind, progId, program}]: every filter on a clsact
 * hook (an RTM_GETTFILTER dump; libbpf's bpf_tc_query needs the priority and handle already known).
 * No clsact qdisc: an empty list. */
static napi_value tc_filters(napi_env env, napi_callback_info info)
{
	GET_ARGS(2);
	int32_t ifindex;
	bool ingress;
	if (!arg_i32(env, argv[0], &ifindex) || !arg_bool(env, argv[1], &ingress))
		return NULL;
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return throw_errno(env, errno, "socket(NETLINK_ROUTE)");
	struct {
		struct nlmsghdr nh;
		struct tcmsg t;
	} req;
	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = sizeof(req);
	req.nh.nlmsg_type = RTM_GETTFILTER;
	req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.nh.nlmsg_seq = 1;
	req.t.tcm_family = AF_UNSPEC;
	req.t.tcm_ifindex = ifindex;
	req.t.tcm_parent = TC_H_MAKE(TC_H_CLSACT, ingress ? TC_H_MIN_INGRESS : TC_H_MIN_EGRESS);
	if (send(fd, &req, sizeof(req), 0) < 0) {
		int err = errno;
		close(fd);
		return throw_errno(env, err, "RTM_GETTFILTER");
	}
	napi_value list;
	uint32_t n = 0;
	if (napi_create_array(env, &list) != napi_ok) {
		close(fd);
		return NULL;
	}
	static char buf[32768] __attribute__((aligned(NLMSG_ALIGNTO)));
	for (;;) {
		ssize_t got = recv(fd, buf, sizeof(buf), 0);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			int err = errno;
			close(fd);
			return throw_errno(env, err, "RTM_GETTFILTER");
		}
		int len = (int)got;
		for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, len); nh = NLMSG_NEXT(nh, len)) {
			if (nh->nlmsg_type == NLMSG_DONE) {
				close(fd);
				return list;
			}
			if (nh->nlmsg_type == NLMSG_ERROR) {
				int err = -((struct nlmsgerr *)NLMSG_DATA(nh))->error;
				close(fd);
				/* No such hook (EINVAL) or interface (ENODEV): nothing is attached there. */
				if (err == 0 || err == EINVAL || err == ENOENT)
					return list;
				return throw_errno(env, err, "RTM_GETTFILTER");
			}
			if (nh->nlmsg_type == RTM_NEWTFILTER && !add_filter(env, list, &n, nh)) {
				close(fd);
				return NULL;
			}
		}
	}
}

/* Classic TC filters live on after the process that added them. This process marks its own with a handle
 * that names an abstract unix socket it keeps bound while it lives: whoever finds a filter can tell whether
 * its owner is still there (the kernel unbinds the name when the process dies, however it dies). */
static void owner_address(uint32_t handle, struct sockaddr_un *sa, socklen_t *len)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	int n = snprintf(sa->sun_path + 1, sizeof(sa->sun_path) - 1, "libbpf-ts/tc-owner/%08x", handle);
	*len = offsetof(struct sockaddr_un, sun_path) + 1 + n;
}

/* bind()s a new socket to the owner name of `handle`: the fd, or -errno (EADDRINUSE: a live owner has it). */
static int bind_owner(uint32_t handle)
{
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct sockaddr_un sa;
	socklen_t len;
	owner_address(handle, &sa, &len);
	if (bind(fd, (struct sockaddr *)&sa, len) < 0) {
		int err = errno;
		close(fd);
		return -err;
	}
	return fd;
}

/* Owner handles are above 0xffff, so the small handles the kernel picks (1, 2, ...) never name a live owner. */
#define OWNER_MIN 0x10000u

/* tcOwnerHandle() -> this process's owner handle, claimed on first use (the socket stays open). */
static napi_value tc_owner_handle(napi_env env, napi_callback_info info)
{
	(void)info;
	static uint32_t handle;
	if (handle)
		return make_u32(env, handle);
	for (int tries = 0; tries < 64; tries++) {
		uint32_t h;
		if (getrandom(&h, sizeof(h), 0) != sizeof(h))
			return throw_errno(env, errno, "getrandom");
		h = OWNER_MIN + h % (0xffffffffu - OWNER_MIN);
		int fd = bind_owner(h);
		if (fd >= 0) {
			handle = h;
			return make_u32(env, handle);
		}
		if (fd != -EADDRINUSE)
			return throw_errno(env, -fd, "bind the TC owner socket");
	}
	return throw_errno(env, EADDRINUSE, "bind the TC owner socket");
}

/* tcOwnerAlive(handle) -> whether a live process owns filters with this handle. */
static napi_value tc_owner_alive(napi_env env, napi_callback_info info)
{
	GET_ARGS(1);
	uint32_t handle;
	if (!arg_u32(env, argv[0], &handle))
		return NULL;
	if (handle < OWNER_MIN)
		return make_bool(env, false);
	int fd = bind_owner(handle);
	if (fd >= 0) {
		close(fd);
		return make_bool(env, false);
	}
	if (fd != -EADDRINUSE)
		return throw_errno(env, -fd, "check the TC owner socket");
	return make_bool(env, true);
}

/* An AF_PACKET socket seeing every protocol on one interface, non-blocking. */
static napi_value packet_socket_open(napi_env env, napi_callback_info info)
{
	GET_ARGS(1);
	int32_t ifindex;
	if (!arg_i32(env, argv[0], &ifindex))
		return NULL;
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
	if (fd < 0)
		return throw_errno(env, errno, "socket(AF_PACKET)");
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL), .sll_ifindex = ifindex };
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		int err = errno;
		close(fd);
		return throw_errno(env, err, "bind(AF_PACKET)");
	}
	return make_i64(env, fd);
}

static napi_value socket_attach_bpf(napi_env env, napi_callback_info info)
{
	GET_ARGS(2);
	int32_t sock, prog;
	if (!arg_i32(env, argv[0], &sock) || !arg_i32(env, argv[1], &prog))
		return NULL;
	if (setsockopt(sock, SOL_SOCKET, SO_ATTACH_BPF, &prog, sizeof(prog)) < 0)
		return throw_errno(env, errno, "setsockopt(SO_ATTACH_BPF)");
	return undefined(env);
}

static napi_value socket_detach_bpf(napi_env env, napi_callback_info info)
{
	GET_ARGS(1);
	int32_t sock, dummy = 0;
	if (!arg_i32(env, argv[0], &sock))
		return NULL;
	if (setsockopt(sock, SOL_SOCKET, SO_DETACH_BPF, &dummy, sizeof(dummy)) < 0 && errno != ENOENT)
		return throw_errno(env, errno, "setsockopt(SO_DETACH_BPF)");
	return undefined(env);
}

static napi_value open_path(napi_env env, napi_callback_info info)
{
	GET_ARGS(1);
	char *path = arg_str(env, argv[0]);
	if (!path)
		return NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int err = errno;
	free(path);
	if (fd < 0)
		return throw_errno(env, err, "open");
	return make_i64(env, fd);
}

static napi_value if_name_to_index(napi_env env, napi_callback_info info)
{
	GET_ARGS(1);
	char *name = arg_str(env, argv[0]);
	if (!name)
		return NULL;
	unsigned idx = if_nametoindex(name);
	int err = errno;
	free(name);
	if (!idx)
		return throw_errno(env, err ? err : ENODEV, "if_nametoindex");
	return make_u32(env, idx);
}

struct test_run {
	int prog_fd;
	void *data, *out, *ctx;
	size_t data_len, out_len, ctx_len;
	uint32_t repeat;
	int err;
	bool own_fd; /* the async run's private copy of prog_fd */
	uint32_t retval, duration, size_out;
	napi_ref refs[3];
	napi_deferred deferred;
	napi_async_work work;
};

static bool test_run_args(napi_env env, napi_value *argv, struct test_run *t)
{
	if (!arg_i32(env, argv[0], &t->prog_fd) || !arg_buf(env, argv[1], true, &t->data, &t->data_len) ||
	    !arg_buf(env, argv[2], true, &t->out, &t->out_len) || !arg_buf(env, argv[3], true, &t->ctx, &t->ctx_len) ||
	    !arg_u32(env, argv[4], &t->repeat))
		return false;
	/* The syscall's sizes are u32: a larger Buffer would be silently truncated. */
	if (t->data_len > UINT32_MAX || t->out_len > UINT32_MAX || t->ctx_len > UINT32_MAX) {
		throw_errno(env, E2BIG, "BPF_PROG_TEST_RUN buffers must be smaller than 4 GiB");
		return false;
	}
	return true;
}

static void test_run_exec(struct test_run *t)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		    .data_in = t->data_len ? t->data : NULL, .data_size_in = (uint32_t)t->data_len,
		    .data_out = t->out_len ? t->out : NULL, .data_size_out = (uint32_t)t->out_len,
		    .ctx_in = t->ctx_len ? t->ctx : NULL, .ctx_size_in = (uint32_t)t->ctx_len,
		    .repeat = t->repeat);
	int err;

	/*
	 * The kernel gives up a run of more than one repeat when a signal is
	 * pending (EINTR, its progress discarded): a child's SIGCHLD or any signal
	 * Node handles. Nothing is wrong with the run: do it again.
	 */
	do
		err = bpf_prog_test_run_opts(t->prog_fd, &opts);
	while (err == -EINTR);
	t->err = err < 0 ? -err : 0;
	t->retval = opts.retval;
	t->duration = opts.duration;
	t->size_out = opts.data_size_out;
}

static napi_value test_run_result(napi_env env, struct test_run *t)
{
	napi_value r;
	if (napi_create_object(env, &r) != napi_ok)
		return NULL;
	set_prop(env, r, "retval", make_u32(env, t->retval));
	set_prop(env, r, "duration", make_u32(env, t->duration));
	set_prop(env, r, "dataSizeOut", make_u32(env, t->size_out));
	return r;
}

/* testRun(progFd, data, dataOut|null, ctx|null, repeat) */
static napi_value test_run(napi_env env, napi_callback_info info)
{
	GET_ARGS(5);
	struct test_run t = { 0 };
	if (!test_run_args(env, argv, &t))
		return NULL;
	test_run_exec(&t);
	if (t.err)
		return throw_errno(env, t.err, "BPF_PROG_TEST_RUN");
	return test_run_result(env, &t);
}

static void test_run_async_exec(napi_env env, void *data)
{
	(void)env;
	test_run_exec(data);
}

static void test_run_free(napi_env env, struct test_run *t)
{
	if (t->own_fd)
		close(t->prog_fd);
	for (int i = 0; i < 3; i++)
		if (t->refs[i])
			napi_delete_reference(env, t->refs[i]);
	if (t->work)
		napi_delete_async_work(env, t->work);
	free(t);
}

static void test_run_async_done(napi_env env, napi_status status, void *data)
{
	struct test_run *t = data;
	if (status == napi_ok && !t->err) {
		napi_resolve_deferred(env, t->deferred, test_run_result(env, t));
	} else {
		throw_errno(env, t->err ? t->err : ECANCELED, "BPF_PROG_TEST_RUN");
		napi_value e;
		napi_get_and_clear_last_exception(env, &e);
		napi_reject_deferred(env, t->deferred, e);
	}
	test_run_free(env, t);
}

/* testRunAsync: the same on a libuv worker thread; the Buffers stay referenced until it finishes. */
static napi_value test_run_async(napi_env env, napi_callback_info info)
{
	GET_ARGS(5);
	struct test_run *t = calloc(1, sizeof(*t));
	if (!t)
		return throw_errno(env, ENOMEM, "testRunAsync");
	if (!test_run_args(env, argv, t)) {
		free(t);
		return NULL;
	}
	/* The run starts later on a worker thread: by then the caller may have closed the program's
	 * fd, and its number may name another program. Run on our own copy. */
	t->prog_fd = fcntl(t->prog_fd, F_DUPFD_CLOEXEC, 0);
	if (t->prog_fd < 0) {
		throw_errno(env, errno, "testRunAsync: dup(program fd)");
		free(t);
		return NULL;
	}
	t->own_fd = true;
	/* The worker thread reads and writes the Buffers: they must stay alive until done. */
	for (int i = 0; i < 3; i++)
		if (!arg_is_nullish(env, argv[1 + i]) && napi_create_reference(env, argv[1 + i], 1, &t->refs[i]) != napi_ok)
			goto fail;
	napi_value promise, name;
	if (napi_create_string_utf8(env, "libbpf-ts:testRun", NAPI_AUTO_LENGTH, &name) != napi_ok ||
	    napi_create_async_work(env, NULL, name, test_run_async_exec, test_run_async_done, t, &t->work) != napi_ok ||
	    napi_create_promise(env, &t->deferred, &promise) != napi_ok ||
	    napi_queue_async_work(env, t->work) != napi_ok)
		goto fail;
	return promise;
fail:
	throw_napi_failure(env, "testRunAsync");
	test_run_free(env, t);
	return NULL;
}

static napi_value probe_result(napi_env env, int r, const char *what)
{
	if (r < 0)
		return throw_errno(env, r, what);
	return make_i64(env, r);
}

static napi_value probe_prog_type(napi_env env, napi_callback_info info)
{
	GET_ARGS(1);
	uint32_t type;
	if (!arg_u32(env, argv[0], &type))
		return NULL;
	return probe_result(env, libbpf_probe_bpf_prog_type(type, NULL), "libbpf_probe_bpf_prog_type");
}

static napi_value probe_map_type(napi_env env, napi_callback_info info)
{
	GET_ARGS(1);
	uint32_t type;
	if (!arg_u32(env, argv[0], &type))
		return NULL;
	return probe_result(env, libbpf_probe_bpf_map_type(type, NULL), "libbpf_probe_bpf_map_type");
}

/* libbpf 1.1's helper probe only recognises the verifier's old wording ("unknown func"), so on
 * newer kernels ("program of this type cannot use helper") it says yes to everything. For program
 * types that load without BTF targets we load `call helper; exit` ourselves and read the log: the
 * helper is usable when the verifier got past the helper lookup (it then fails on arguments). */
static int probe_helper_by_log(uint32_t type, uint32_t helper)
{
	uint32_t attach = 0;
	switch (type) {
	case BPF_PROG_TYPE_CGROUP_SOCK_ADDR: attach = BPF_CGROUP_INET4_CONNECT; break;
	case BPF_PROG_TYPE_CGROUP_SOCKOPT: attach = BPF_CGROUP_GETSOCKOPT; break;
	case BPF_PROG_TYPE_SK_LOOKUP: attach = BPF_SK_LOOKUP; break;
	case BPF_PROG_TYPE_TRACING: case BPF_PROG_TYPE_EXT: case BPF_PROG_TYPE_LSM:
	case BPF_PROG_TYPE_STRUCT_OPS: case BPF_PROG_TYPE_SYSCALL:
		return libbpf_probe_bpf_helper(type, helper, NULL);
	default: break;
	}
	struct bpf_insn insns[2];
	memset(insns, 0, sizeof(insns));
	insns[0].code = BPF_JMP | BPF_CALL;
	insns[0].imm = (int32_t)helper;
	insns[1].code = BPF_JMP | BPF_EXIT;
	char log[16384];
	log[0] = 0;
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .log_buf = log, .log_size = sizeof(log), .log_level = 1,
		    .expected_attach_type = attach);
	sigset_t old;
	signals_block(&old);
	int fd = bpf_prog_load(type, NULL, "GPL", insns, 2, &opts);
	int load_errno = errno;
	signals_restore(&old);
	errno = load_errno;
	if (fd >= 0) {
		close(fd);
		return 1;
	}
	if (!log[0])
		return -errno; /* the program type itself was refused */
	if (strstr(log, "unknown func") || strstr(log, "invalid func") || strstr(log, "cannot use helper") ||
	    strstr(log, "not supported"))
		return 0;
	return 1;
}

static napi_value probe_helper(napi_env env, napi_callback_info info)
{
	GET_ARGS(2);
	uint32_t type, helper;
	if (!arg_u32(env, argv[0], &type) || !arg_u32(env, argv[1], &helper))
		return NULL;
	return probe_result(env, probe_helper_by_log(type, helper), "probe helper");
}

static napi_value num_possible_cpus(napi_env env, napi_callback_info info)
{
	(void)info;
	int n = libbpf_num_possible_cpus();
	if (n < 0)
		return throw_errno(env, n, "libbpf_num_possible_cpus");
	return make_i64(env, n);
}

void init_sys(napi_env env, napi_value exports)
{
	static const export_fn fns[] = {
		{ "linkCreate", link_create },
		{ "closeFd", close_fd },
		{ "tcHookCreate", tc_hook_create },
		{ "tcHookDestroy", tc_hook_destroy },
		{ "tcAttach", tc_attach },
		{ "tcDetach", tc_detach },
		{ "tcFilters", tc_filters },
		{ "tcOwnerHandle", tc_owner_handle },
		{ "tcOwnerAlive", tc_owner_alive },
		{ "packetSocketOpen", packet_socket_open },
		{ "socketAttachBpf", socket_attach_bpf },
		{ "socketDetachBpf", socket_detach_bpf },
		{ "openPath", open_path },
		{ "ifNameToIndex", if_name_to_index },
		{ "testRun", test_run },
		{ "testRunAsync", test_run_async },
		{ "probeProgType", probe_prog_type },
		{ "probeMapType", probe_map_type },
		{ "probeHelper", probe_helper },
		{ "numPossibleCpus", num_possible_cpus },
		{ NULL, NULL },
	};
	register_fns(env, exports, fns);
}
