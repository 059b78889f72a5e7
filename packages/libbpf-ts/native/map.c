/* Map operations by fd (BPF_MAP_* syscalls through libbpf's bpf.h), pinning. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "addon.h"

static bool fd_arg(napi_env env, napi_value v, int *fd)
{
	int32_t x;
	if (!arg_i32(env, v, &x))
		return false;
	*fd = x;
	return true;
}

/* mapLookup(fd, key|null, value, flags) -> found */
static napi_value map_lookup(napi_env env, napi_callback_info info)
{
	GET_ARGS(4);
	int fd;
	void *key, *value;
	size_t klen, vlen;
	uint32_t flags;
	if (!fd_arg(env, argv[0], &fd) || !arg_buf(env, argv[1], true, &key, &klen) ||
	    !arg_buf(env, argv[2], false, &value, &vlen) || !arg_u32(env, argv[3], &flags))
		return NULL;
	int err = flags ? bpf_map_lookup_elem_flags(fd, key, value, flags) : bpf_map_lookup_elem(fd, key, value);
	if (err == -ENOENT)
		return make_bool(env, false);
	if (err)
		return throw_errno(env, err, "BPF_MAP_LOOKUP_ELEM");
	return make_bool(env, true);
}

static napi_value map_update(napi_env env, napi_callback_info info)
{
	GET_ARGS(4);
	int fd;
	void *key, *value;
	size_t klen, vlen;
	uint32_t flags;
	if (!fd_arg(env, argv[0], &fd) || !arg_buf(env, argv[1], true, &key, &klen) ||
	    !arg_buf(env, argv[2], false, &value, &vlen) || !arg_u32(env, argv[3], &flags))
		return NULL;
	int err = bpf_map_update_elem(fd, key, value, flags);
	if (err)
		return throw_errno(env, err, "BPF_MAP_UPDATE_ELEM");
	return undefined(env);
}

static napi_value map_delete(napi_env env, napi_callback_info info)
{
	GET_ARGS(2);
	int fd;
	void *key;
	size_t klen;
	if (!fd_arg(env, argv[0], &fd) || !arg_buf(env, argv[1], false, &key, &klen))
		return NULL;
	int err = bpf_map_delete_elem(fd, key);
	if (err == -ENOENT)
		return make_bool(env, false);
	if (err)
		return throw_errno(env, err, "BPF_MAP_DELETE_ELEM");
	return make_bool(env, true);
}

/* mapNextKey(fd, key|null, next) -> whether `next` was filled */
static napi_value map_next_key(napi_env env, napi_callback_info info)
{
	GET_ARGS(3);
	int fd;
	void *key, *next;
	size_t klen, nlen;
	if (!fd_arg(env, argv[0], &fd) || !arg_buf(env, argv[1], true, &key, &klen) ||
	    !arg_buf(env, argv[2], false, &next, &nlen))
		return NULL;
	int err = bpf_map_get_next_key(fd, key, next);
	if (err == -ENOENT)
		return make_bool(env, false);
	if (err)
		return throw_errno(env, err, "BPF_MAP_GET_NEXT_KEY");
	return make_bool(env, true);
}

/*
 * mapLookupBatch(fd, inBatch|null, outBatch, keys, values, count, remove) -> {count, more}:
 * BPF_MAP_LOOKUP_BATCH, or BPF_MAP_LOOKUP_AND_DELETE_BATCH when `remove`.
 */
static napi_value map_lookup_batch(napi_env env, napi_callback_info info)
{
	GET_ARGS(7);
	int fd;
	void *in, *out, *keys, *values;
	size_t inl, outl, kl, vl;
	uint32_t count;
	bool remove;
	if (!fd_arg(env, argv[0], &fd) || !arg_buf(env, argv[1], true, &in, &inl) ||
	    !arg_buf(env, argv[2], false, &out, &outl) || !arg_buf(env, argv[3], false, &keys, &kl) ||
	    !arg_buf(env, argv[4], false, &values, &vl) || !arg_u32(env, argv[5], &count) ||
	    !arg_bool(env, argv[6], &remove))
		return NULL;
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	__u32 n = count;
	int err = remove ? bpf_map_lookup_and_delete_batch(fd, in, out, keys, values, &n, &opts)
			 : bpf_map_lookup_batch(fd, in, out, keys, values, &n, &opts);
	bool more = true;
	if (err == -ENOENT)
		more = false;
	else if (err)
		return throw_errno(env, err, remove ? "BPF_MAP_LOOKUP_AND_DELETE_BATCH" : "BPF_MAP_LOOKUP_BATCH");
	napi_value r;
	NAPI_TRY(napi_create_object(env, &r));
	set_prop(env, r, "count", make_u32(env, n));
	set_prop(env, r, "more", make_bool(env, more));
	return r;
}

/* mapLookupAndDelete(fd, key, value) -> whether the key was there (its value then in `value`) */
static napi_value map_lookup_and_delete(napi_env env, napi_callback_info info)
{
	GET_ARGS(3);
	int fd;
	void *key, *value;
	size_t klen, vlen;
	if (!fd_arg(env, argv[0], &fd) || !arg_buf(env, argv[1], false, &key, &klen) ||
	    !arg_buf(env, argv[2], false, &value, &vlen))
		return NULL;
	int err = bpf_map_lookup_and_delete_elem(fd, key, value);
	if (err == -ENOENT)
		return make_bool(env, false);
	if (err)
		return throw_errno(env, err, "BPF_MAP_LOOKUP_AND_DELETE_ELEM");
	return make_bool(env, true);
}

static napi_value map_info(napi_env env, napi_callback_info info)
{
	GET_ARGS(1);
	int fd;
	if (!fd_arg(env, argv[0], &fd))
		return NULL;
	/* BPF_OBJ_GET_INFO_BY_FD also answers for programs and links, with another struct:
	 * make sure this is a map before reading its fields. */
	char link[64], target[32];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return throw_errno(env, errno, "not an open fd");
	target[n] = 0;
	if (strcmp(target, "anon_inode:bpf-map") != 0)
		return throw_errno(env, EINVAL, "not a BPF map fd");
	struct bpf_map_info mi;
	memset(&mi, 0, sizeof(mi));
	__u32 len = sizeof(mi);
	int err = bpf_obj_get_info_by_fd(fd, &mi, &len);
	if (err)
		return throw_errno(env, err, "BPF_OBJ_GET_INFO_BY_FD");
	napi_value r;
	NAPI_TRY(napi_create_object(env, &r));
	set_prop(env, r, "name", make_str(env, mi.name));
	set_prop(env, r, "type", make_u32(env, mi.type));
	set_prop(env, r, "keySize", make_u32(env, mi.key_size));
	set_prop(env, r, "valueSize", make_u32(env, mi.value_size));
	set_prop(env, r, "maxEntries", make_u32(env, mi.max_entries));
	set_prop(env, r, "flags", make_u32(env, mi.map_flags));
	set_prop(env, r, "id", make_u32(env, mi.id));
	return r;
}

static napi_value obj_pin(napi_env env, napi_callback_info info)
{
	GET_ARGS(2);
	int fd;
	if (!fd_arg(env, argv[0], &fd))
		return NULL;
	char *path = arg_str(env, argv[1]);
	if (!path)
		return NULL;
	int err = bpf_obj_pin(fd, path);
	free(path);
	if (err)
		return throw_errno(env, err, "BPF_OBJ_PIN");
	return undefined(env);
}

static napi_value obj_get(napi_env env, napi_callback_info info)
{
	GET_ARGS(1);
	char *path = arg_str(env, argv[0]);
	if (!path)
		return NULL;
	int fd = bpf_obj_get(path);
	free(path);
	if (fd < 0)
		return throw_errno(env, fd, "BPF_OBJ_GET");
	return make_i64(env, fd);
}

void init_map(napi_env env, napi_value exports)
{
	static const export_fn fns[] = {
		{ "mapLookup", map_lookup },
		{ "mapUpdate", map_update },
		{ "mapDelete", map_delete },
		{ "mapNextKey", map_next_key },
		{ "mapLookupBatch", map_lookup_batch },
		{ "mapLookupAndDelete", map_lookup_and_delete },
		{ "mapInfo", map_info },
		{ "objPin", obj_pin },
		{ "objGet", obj_get },
		{ NULL, NULL },
	};
	register_fns(env, exports, fns);
}
