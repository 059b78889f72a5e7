/* bpf_object lifecycle, programs, data-section globals, and the attach calls
 * that go through libbpf's bpf_link (tracepoints, raw tracepoints, kprobes,
 * uprobes, section-based auto attach). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "addon.h"

struct object {
	struct bpf_object *obj;
	void *elf_copy; /* bytes of an object opened from a Buffer; libbpf reads them until load */
};

struct link {
	struct bpf_link *link;
};

static const napi_type_tag object_tag = { 0x6c6962627066746full, 0x6f626a6563740001ull };
static const napi_type_tag link_tag = { 0x6c6962627066746full, 0x6c696e6b00000001ull };

static void object_release(struct object *o)
{
	if (o->obj) {
		bpf_object__close(o->obj);
		o->obj = NULL;
	}
	free(o->elf_copy);
	o->elf_copy = NULL;
}

static void object_finalize(napi_env env, void *data, void *hint)
{
	(void)env;
	(void)hint;
	/* An object dropped without close(): free it rather than leak its maps and programs. */
	object_release(data);
	free(data);
}

static void link_finalize(napi_env env, void *data, void *hint)
{
	(void)env;
	(void)hint;
	/* A link garbage-collected without destroy() is detached (closing its fd would detach it anyway). */
	struct link *l = data;
	if (l->link)
		bpf_link__destroy(l->link);
	free(l);
}

static struct object *get_object(napi_env env, napi_value v)
{
	struct object *o = unwrap_ptr(env, v, &object_tag, "bpf_object");
	if (o && !o->obj) {
		throw_errno(env, EBADF, "bpf object is closed");
		return NULL;
	}
	return o;
}

static struct bpf_program *get_program(napi_env env, napi_value objv, napi_value namev)
{
	struct object *o = get_object(env, objv);
	if (!o)
		return NULL;
	char *name = arg_str(env, namev);
	if (!name)
		return NULL;
	struct bpf_program *p = bpf_object__find_program_by_name(o->obj, name);
	free(name);
	if (!p)
		throw_errno(env, ENOENT, "no such program");
	return p;
}

static struct bpf_map *get_map(napi_env env, napi_value objv, napi_value namev)
{
	struct object *o = get_object(env, objv);
	if (!o)
		return NULL;
	char *name = arg_str(env, namev);
	if (!name)
		return NULL;
	struct bpf_map *m = bpf_object__find_map_by_name(o->obj, name);
	free(name);
	if (!m)
		throw_errno(env, ENOENT, "no such map");
	return m;
}

static napi_value obj_open(napi_env env, napi_callback_info info)
{
	GET_ARGS(3);
	char *name = arg_str(env, argv[1]);
	if (!name)
		return NULL;
	char *btf_path = NULL;
	if (!arg_is_nullish(env, argv[2]) && !(btf_path = arg_str(env, argv[2]))) {
		free(name);
		return NULL;
	}
	struct object *o = calloc(1, sizeof(*o));
	if (!o) {
		free(name);
		free(btf_path);
		return throw_errno(env, ENOMEM, "open");
	}
	LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = name, .btf_custom_path = btf_path);
	int err = 0;
	napi_valuetype t;
	napi_typeof(env, argv[0], &t);
	if (t == napi_string) {
		char *path = arg_str(env, argv[0]);
		if (!path)
			goto fail;
		o->obj = bpf_object__open_file(path, &opts);
		err = errno; /* before free() */
		free(path);
	} else {
		void *data;
		size_t len;
		if (!arg_buf(env, argv[0], false, &data, &len))
			goto fail;
		o->elf_copy = malloc(len ? len : 1);
		if (!o->elf_copy) {
			throw_errno(env, ENOMEM, "open");
			goto fail;
		}
		memcpy(o->elf_copy, data, len);
		o->obj = bpf_object__open_mem(o->elf_copy, len, &opts);
		err = errno;
	}
	if (!o->obj) {
		throw_errno(env, err, "bpf_object__open");
		goto fail;
	}
	free(name);
	free(btf_path);
	return wrap_ptr(env, o, &object_tag, object_finalize);
fail:
	free(name);
	free(btf_path);
	object_release(o);
	free(o);
	return NULL;
}

static napi_value obj_programs(napi_env env, napi_callback_info info)
{
	GET_ARGS(1);
	struct object *o = get_object(env, argv[0]);
	if (!o)
		return NULL;
	napi_value arr;
	NAPI_TRY(napi_create_array(env, &arr));
	uint32_t i = 0;
	struct bpf_program *p;
	bpf_object__for_each_program(p, o->obj) {
		napi_value e;
		NAPI_TRY(napi_create_object(env, &e));
		set_prop(env, e, "name", make_str(env, bpf_program__name(p)));
		set_prop(env, e, "section", make_str(env, bpf_program__section_name(p)));
		set_prop(env, e, "type", make_u32(env, bpf_program__type(p)));
		set_prop(env, e, "expectedAttachType", make_u32(env, bpf_program__expected_attach_type(p)));
		NAPI_TRY(napi_set_element(env, arr, i++, e));
	}
	return arr;
}

static napi_value obj_maps(napi_env env, napi_callback_info info)
{
	GET_ARGS(1);
	struct object *o = get_object(env, argv[0]);
	if (!o)
		return NULL;
	napi_value arr;
	NAPI_TRY(napi_create_array(env, &arr));
	uint32_t i = 0;
	struct bpf_map *m;
	bpf_object__for_each_map(m, o->obj) {
		napi_value e;
		NAPI_TRY(napi_create_object(env, &e));
		set_prop(env, e, "name", make_str(env, bpf_map__name(m)));
		set_prop(env, e, "type", make_u32(env, bpf_map__type(m)));
		set_prop(env, e, "keySize", make_u32(env, bpf_map__key_size(m)));
		set_prop(env, e, "valueSize", make_u32(env, bpf_map__value_size(m)));
		set_prop(env, e, "maxEntries", make_u32(env, bpf_map__max_entries(m)));
		set_prop(env, e, "flags", make_u32(env, bpf_map__map_flags(m)));
		NAPI_TRY(napi_set_element(env, arr, i++, e));
	}
	return arr;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* The internal map libbpf created for data section `sec` (".rodata", ".bss", ".data.foo", ...). */
static struct bpf_map *section_map(struct bpf_object *obj, const char *sec)
{
	struct bpf_map *m;
	bpf_object__for_each_map(m, obj) {
		if (bpf_map__is_internal(m) && ends_with(bpf_map__name(m), sec))
			return m;
	}
	return NULL;
}

/* Finds a global variable in the object's BTF data sections: {section, map, offset, size} or null. */
static napi_value obj_global_info(napi_env env, napi_callback_info info)
{
	GET_ARGS(2);
	struct object *o = get_object(env, argv[0]);
	if (!o)
		return NULL;
	char *name = arg_str(env, argv[1]);
	if (!name)
		return NULL;
	struct btf *btf = bpf_object__btf(o->obj);
	napi_value result;
	napi_get_null(env, &result);
	for (uint32_t id = 1; btf && id < btf__type_cnt(btf); id++) {
		const struct btf_type *t = btf__type_by_id(btf, id);
		if (!btf_is_datasec(t))
			continue;
		const char *sec = btf__name_by_offset(btf, t->name_off);
		const struct btf_var_secinfo *vs = btf_var_secinfos(t);
		for (uint16_t i = 0; i < btf_vlen(t); i++, vs++) {
			const struct btf_type *var = btf__type_by_id(btf, vs->type);
			if (!var || !btf_is_var(var) || strcmp(btf__name_by_offset(btf, var->name_off), name) != 0)
				continue;
			struct bpf_map *m = section_map(o->obj, sec);
			if (!m)
				continue;
			NAPI_TRY(napi_create_object(env, &result));
			set_prop(env, result, "section", make_str(env, sec));
			set_prop(env, result, "map", make_str(env, bpf_map__name(m)));
			set_prop(env, result, "offset", make_u32(env, vs->offset));
			set_prop(env, result, "size", make_u32(env, vs->size));
			goto out;
		}
	}
out:
	free(name);
	return result;
}

static void *global_ptr(napi_env env, napi_value objv, napi_value mapv, napi_value offv, size_t len)
{
	struct bpf_map *m = get_map(env, objv, mapv);
	uint32_t off;
	if (!m || !arg_u32(env, offv, &off))
		return NULL;
	size_t size = 0;
	char *base = (char *)bpf_map__initial_value(m, &size);
	if (!base || off + len > size) {
		throw_errno(env, EINVAL, "global variable outside its data section");
		return NULL;
	}
	return base + off;
}

static napi_value obj_set_global(napi_env env, napi_callback_info info)
{
	GET_ARGS(4);
	void *data;
	size_t len;
	if (!arg_buf(env, argv[3], false, &data, &len))
		return NULL;
	void *dst = global_ptr(env, argv[0], argv[1], argv[2], len);
	if (!dst)
		return NULL;
	memcpy(dst, data, len);
	return undefined(env);
}

static napi_value obj_get_global(napi_env env, napi_callback_info info)
{
	GET_ARGS(4);
	uint32_t size;
	if (!arg_u32(env, argv[3], &size))
		return NULL;
	void *src = global_ptr(env, argv[0], argv[1], argv[2], size);
	if (!src)
		return NULL;
	napi_value buf;
	NAPI_TRY(napi_create_buffer_copy(env, size, src, NULL, &buf));
	return buf;
}

static napi_value map_set_max_entries(napi_env env, napi_callback_info info)
{
	GET_ARGS(3);
	struct bpf_map *m = get_map(env, argv[0], argv[1]);
	uint32_t n;
	if (!m || !arg_u32(env, argv[2], &n))
		return NULL;
	int err = bpf_map__set_max_entries(m, n);
	if (err)
		return throw_errno(env, err, "bpf_map__set_max_entries");
	return undefined(env);
}

/* mapReuseFd(obj, name, fd): before load, the object uses the existing map behind fd instead of creating one. */
static napi_value map_reuse_fd(napi_env env, napi_callback_info info)
{
	GET_ARGS(3);
	struct bpf_map *m = get_map(env, argv[0], argv[1]);
	int32_t fd;
	if (!m || !arg_i32(env, argv[2], &fd))
		return NULL;
	int err = bpf_map__reuse_fd(m, fd);
	if (err)
		return throw_errno(env, err, "bpf_map__reuse_fd");
	return undefined(env);
}

static napi_value prog_set_autoload(napi_env env, napi_callback_info info)
{
	GET_ARGS(3);
	struct bpf_program *p = get_program(env, argv[0], argv[1]);
	bool on;
	if (!p || !arg_bool(env, argv[2], &on))
		return NULL;
	int err = bpf_program__set_autoload(p, on);
	if (err)
		return throw_errno(env, err, "bpf_program__set_autoload");
	return undefined(env);
}

static napi_value obj_load(napi_env env, napi_callback_info info)
{
	GET_ARGS(1);
	struct object *o = get_object(env, argv[0]);
	if (!o)
		return NULL;
	sigset_t old;
	signals_block(&old);
	int err = bpf_object__load(o->obj);
	signals_restore(&old);
	if (err)
		return throw_errno(env, err, "bpf_object__load");
	return undefined(env);
}

/*
 * bpf_object__load on libuv's thread pool: the verifier can take seconds for a
 * large object, during which the JS thread would answer nothing (health
 * checks, metrics). libbpf's messages printed there are only captured (log.c).
 * The JS side must not touch the object until the promise settles; the handle
 * is referenced so that it cannot be collected meanwhile.
 */
struct load_work {
	struct object *o;
	napi_ref handle;
	napi_deferred deferred;
	napi_async_work work;
	int err;
};

static void load_execute(napi_env env, void *data)
{
	(void)env;
	struct load_work *w = data;
	sigset_t old;
	signals_block(&old);
	w->err = bpf_object__load(w->o->obj);
	signals_restore(&old);
}

static void load_complete(napi_env env, napi_status status, void *data)
{
	struct load_work *w = data;
	int err = status == napi_ok ? w->err : -ECANCELED;
	if (err == 0) {
		napi_resolve_deferred(env, w->deferred, undefined(env));
	} else {
		/* throw_errno builds the same Error as the synchronous load; take it back as the rejection. */
		napi_value e;
		throw_errno(env, err, "bpf_object__load");
		if (napi_get_and_clear_last_exception(env, &e) == napi_ok)
			napi_reject_deferred(env, w->deferred, e);
	}
	napi_delete_reference(env, w->handle);
	napi_delete_async_work(env, w->work);
	free(w);
}

static napi_value obj_load_async(napi_env env, napi_callback_info info)
{
	GET_ARGS(1);
	struct object *o = get_object(env, argv[0]);
	if (!o)
		return NULL;
	struct load_work *w = calloc(1, sizeof(*w));
	if (!w)
		return throw_errno(env, ENOMEM, "libbpf-ts: loadAsync");
	w->o = o;
	napi_value promise, name;
	if (napi_create_promise(env, &w->deferred, &promise) != napi_ok) {
		free(w);
		throw_napi_failure(env, "napi_create_promise");
		return NULL;
	}
	if (napi_create_reference(env, argv[0], 1, &w->handle) == napi_ok &&
	    napi_create_string_utf8(env, "libbpf-ts:load", NAPI_AUTO_LENGTH, &name) == napi_ok &&
	    napi_create_async_work(env, NULL, name, load_execute, load_complete, w, &w->work) == napi_ok &&
	    napi_queue_async_work(env, w->work) == napi_ok)
		return promise;
	/* Nothing queued: undo and settle the promise here. */
	napi_value e;
	throw_napi_failure(env, "queueing the load");
	if (napi_get_and_clear_last_exception(env, &e) == napi_ok)
		napi_reject_deferred(env, w->deferred, e);
	if (w->work)
		napi_delete_async_work(env, w->work);
	if (w->handle)
		napi_delete_reference(env, w->handle);
	free(w);
	return promise;
}

static napi_value obj_prog_fd(napi_env env, napi_callback_info info)
{
	GET_ARGS(2);
	struct bpf_program *p = get_program(env, argv[0], argv[1]);
	if (!p)
		return NULL;
	int fd = bpf_program__fd(p);
	if (fd < 0)
		return throw_errno(env, fd == -1 ? ENOENT : fd, "program not loaded (autoload off?)");
	return make_i64(env, fd);
}

static napi_value obj_map_fd(napi_env env, napi_callback_info info)
{
	GET_ARGS(2);
	struct bpf_map *m = get_map(env, argv[0], argv[1]);
	if (!m)
		return NULL;
	int fd = bpf_map__fd(m);
	if (fd < 0)
		return throw_errno(env, fd, "map not created");
	return make_i64(env, fd);
}

static napi_value obj_close(napi_env env, napi_callback_info info)
{
	GET_ARGS(1);
	struct object *o = unwrap_ptr(env, argv[0], &object_tag, "bpf_object");
	if (!o)
		return NULL;
	object_release(o);
	return undefined(env);
}

static napi_value wrap_link(napi_env env, struct bpf_link *bl, const char *what)
{
	if (!bl)
		return throw_errno(env, errno, what);
	struct link *l = calloc(1, sizeof(*l));
	if (!l) {
		bpf_link__destroy(bl);
		return throw_errno(env, ENOMEM, what);
	}
	l->link = bl;
	return wrap_ptr(env, l, &link_tag, link_finalize);
}

static napi_value attach_auto(napi_env env, napi_callback_info info)
{
	GET_ARGS(2);
	struct bpf_program *p = get_program(env, argv[0], argv[1]);
	if (!p)
		return NULL;
	return wrap_link(env, bpf_program__attach(p), "bpf_program__attach");
}

static napi_value attach_tracepoint(napi_env env, napi_callback_info info)
{
	GET_ARGS(4);
	struct bpf_program *p = get_program(env, argv[0], argv[1]);
	if (!p)
		return NULL;
	char *cat = arg_str(env, argv[2]);
	char *name = cat ? arg_str(env, argv[3]) : NULL;
	napi_value r = NULL;
	if (cat && name)
		r = wrap_link(env, bpf_program__attach_tracepoint(p, cat, name), "bpf_program__attach_tracepoint");
	free(cat);
	free(name);
	return r;
}

static napi_value attach_raw_tracepoint(napi_env env, napi_callback_info info)
{
	GET_ARGS(3);
	struct bpf_program *p = get_program(env, argv[0], argv[1]);
	if (!p)
		return NULL;
	char *name = arg_str(env, argv[2]);
	if (!name)
		return NULL;
	napi_value r = wrap_link(env, bpf_program__attach_raw_tracepoint(p, name), "bpf_program__attach_raw_tracepoint");
	free(name);
	return r;
}

static napi_value attach_kprobe(napi_env env, napi_callback_info info)
{
	GET_ARGS(4);
	struct bpf_program *p = get_program(env, argv[0], argv[1]);
	bool retprobe;
	if (!p || !arg_bool(env, argv[3], &retprobe))
		return NULL;
	char *func = arg_str(env, argv[2]);
	if (!func)
		return NULL;
	napi_value r = wrap_link(env, bpf_program__attach_kprobe(p, retprobe, func), "bpf_program__attach_kprobe");
	free(func);
	return r;
}

/* attachUprobe(obj, prog, binary, symbol|null, offset, pid, retprobe) */
static napi_value attach_uprobe(napi_env env, napi_callback_info info)
{
	GET_ARGS(7);
	struct bpf_program *p = get_program(env, argv[0], argv[1]);
	uint32_t offset;
	int32_t pid;
	bool retprobe;
	if (!p || !arg_u32(env, argv[4], &offset) || !arg_i32(env, argv[5], &pid) || !arg_bool(env, argv[6], &retprobe))
		return NULL;
	char *binary = arg_str(env, argv[2]);
	if (!binary)
		return NULL;
	char *symbol = NULL;
	if (!arg_is_nullish(env, argv[3]) && !(symbol = arg_str(env, argv[3]))) {
		free(binary);
		return NULL;
	}
	LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = retprobe, .func_name = symbol);
	napi_value r = wrap_link(env, bpf_program__attach_uprobe_opts(p, pid, binary, offset, &opts),
				 "bpf_program__attach_uprobe_opts");
	free(binary);
	free(symbol);
	return r;
}

static napi_value link_destroy(napi_env env, napi_callback_info info)
{
	GET_ARGS(1);
	struct link *l = unwrap_ptr(env, argv[0], &link_tag, "bpf_link");
	if (!l)
		return NULL;
	if (l->link) {
		int err = bpf_link__destroy(l->link);
		l->link = NULL;
		if (err && err != -ENOENT)
			return throw_errno(env, err, "bpf_link__destroy");
	}
	return undefined(env);
}

void init_object(napi_env env, napi_value exports)
{
	static const export_fn fns[] = {
		{ "objOpen", obj_open },
		{ "objPrograms", obj_programs },
		{ "objMaps", obj_maps },
		{ "objGlobalInfo", obj_global_info },
		{ "objSetGlobal", obj_set_global },
		{ "objGetGlobal", obj_get_global },
		{ "mapSetMaxEntries", map_set_max_entries },
		{ "mapReuseFd", map_reuse_fd },
		{ "progSetAutoload", prog_set_autoload },
		{ "objLoad", obj_load },
		{ "objLoadAsync", obj_load_async },
		{ "objProgFd", obj_prog_fd },
		{ "objMapFd", obj_map_fd },
		{ "objClose", obj_close },
		{ "attachAuto", attach_auto },
		{ "attachTracepoint", attach_tracepoint },
		{ "attachRawTracepoint", attach_raw_tracepoint },
		{ "attachKprobe", attach_kprobe },
		{ "attachUprobe", attach_uprobe },
		{ "linkDestroy", link_destroy },
		{ NULL, NULL },
	};
	register_fns(env, exports, fns);
}
