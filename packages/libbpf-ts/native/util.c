/* Argument and error helpers shared by the addon's modules. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "addon.h"

void throw_napi_failure(napi_env env, const char *what)
{
	bool pending = false;
	napi_is_exception_pending(env, &pending);
	if (pending)
		return;
	const napi_extended_error_info *info = NULL;
	napi_get_last_error_info(env, &info);
	char msg[512];
	snprintf(msg, sizeof(msg), "libbpf-ts: %s failed: %s", what,
		 info && info->error_message ? info->error_message : "unknown N-API error");
	napi_throw_error(env, NULL, msg);
}

napi_value throw_errno(napi_env env, int err, const char *what)
{
	if (err < 0)
		err = -err;
	char msg[1024];
	snprintf(msg, sizeof(msg), "%s: %s", what, err ? strerror(err) : "failed");
	napi_value m, e, n;
	if (napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m) != napi_ok ||
	    napi_create_error(env, NULL, m, &e) != napi_ok ||
	    napi_create_int32(env, err, &n) != napi_ok ||
	    napi_set_named_property(env, e, "errno", n) != napi_ok) {
		napi_throw_error(env, NULL, msg);
		return NULL;
	}
	napi_throw(env, e);
	return NULL;
}

napi_value throw_type(napi_env env, const char *what)
{
	napi_throw_type_error(env, NULL, what);
	return NULL;
}

bool arg_i32(napi_env env, napi_value v, int32_t *out)
{
	if (napi_get_value_int32(env, v, out) != napi_ok) {
		throw_type(env, "libbpf-ts: expected a number");
		return false;
	}
	return true;
}

bool arg_u32(napi_env env, napi_value v, uint32_t *out)
{
	double d;
	if (napi_get_value_double(env, v, &d) != napi_ok || d < 0 || d > 4294967295.0) {
		throw_type(env, "libbpf-ts: expected an unsigned 32-bit number");
		return false;
	}
	*out = (uint32_t)d;
	return true;
}

bool arg_bool(napi_env env, napi_value v, bool *out)
{
	if (napi_get_value_bool(env, v, out) != napi_ok) {
		throw_type(env, "libbpf-ts: expected a boolean");
		return false;
	}
	return true;
}

char *arg_str(napi_env env, napi_value v)
{
	size_t len = 0;
	if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) {
		throw_type(env, "libbpf-ts: expected a string");
		return NULL;
	}
	char *s = malloc(len + 1);
	if (!s) {
		throw_errno(env, ENOMEM, "libbpf-ts: string argument");
		return NULL;
	}
	napi_get_value_string_utf8(env, v, s, len + 1, &len);
	return s;
}

bool arg_is_nullish(napi_env env, napi_value v)
{
	napi_valuetype t;
	if (napi_typeof(env, v, &t) != napi_ok)
		return true;
	return t == napi_null || t == napi_undefined;
}

bool arg_buf(napi_env env, napi_value v, bool allow_null, void **data, size_t *len)
{
	*data = NULL;
	*len = 0;
	if (allow_null && arg_is_nullish(env, v))
		return true;
	bool is_ta = false;
	napi_is_typedarray(env, v, &is_ta);
	if (is_ta) {
		napi_typedarray_type type;
		size_t count, offset;
		napi_value ab;
		if (napi_get_typedarray_info(env, v, &type, &count, data, &ab, &offset) != napi_ok)
			goto bad;
		size_t elem = 1;
		switch (type) {
		case napi_int16_array: case napi_uint16_array: elem = 2; break;
		case napi_int32_array: case napi_uint32_array: case napi_float32_array: elem = 4; break;
		case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: elem = 8; break;
		default: break;
		}
		*len = count * elem;
		return true;
	}
	bool is_buf = false;
	napi_is_buffer(env, v, &is_buf);
	if (is_buf && napi_get_buffer_info(env, v, data, len) == napi_ok)
		return true;
bad:
	throw_type(env, "libbpf-ts: expected a Buffer");
	return false;
}

napi_value make_i64(napi_env env, int64_t v)
{
	napi_value r = NULL;
	napi_create_int64(env, v, &r);
	return r;
}

napi_value make_u32(napi_env env, uint32_t v)
{
	napi_value r = NULL;
	napi_create_uint32(env, v, &r);
	return r;
}

napi_value make_bool(napi_env env, bool v)
{
	napi_value r = NULL;
	napi_get_boolean(env, v, &r);
	return r;
}

napi_value make_str(napi_env env, const char *s)
{
	napi_value r = NULL;
	napi_create_string_utf8(env, s ? s : "", NAPI_AUTO_LENGTH, &r);
	return r;
}

napi_value undefined(napi_env env)
{
	napi_value r = NULL;
	napi_get_undefined(env, &r);
	return r;
}

bool set_prop(napi_env env, napi_value obj, const char *name, napi_value v)
{
	return napi_set_named_property(env, obj, name, v) == napi_ok;
}

napi_value wrap_ptr(napi_env env, void *ptr, const napi_type_tag *tag, napi_finalize fin)
{
	napi_value ext;
	if (napi_create_external(env, ptr, fin, NULL, &ext) != napi_ok) {
		throw_napi_failure(env, "napi_create_external");
		/* Nobody else will free it (or detach the link it holds). */
		fin(env, ptr, NULL);
		return NULL;
	}
	if (napi_type_tag_object(env, ext, tag) != napi_ok) {
		/* The External owns ptr now: its finalizer frees it when collected. */
		throw_napi_failure(env, "napi_type_tag_object");
		return NULL;
	}
	return ext;
}

void *unwrap_ptr(napi_env env, napi_value v, const napi_type_tag *tag, const char *what)
{
	bool ok = false;
	void *p = NULL;
	if (napi_check_object_type_tag(env, v, tag, &ok) != napi_ok || !ok ||
	    napi_get_value_external(env, v, &p) != napi_ok || !p) {
		char msg[128];
		snprintf(msg, sizeof(msg), "libbpf-ts: expected a %s handle", what);
		throw_type(env, msg);
		return NULL;
	}
	return p;
}

void register_fns(napi_env env, napi_value exports, const export_fn *fns)
{
	for (; fns->name; fns++) {
		napi_value f;
		if (napi_create_function(env, fns->name, NAPI_AUTO_LENGTH, fns->fn, NULL, &f) == napi_ok)
			napi_set_named_property(env, exports, fns->name, f);
	}
}

void signals_block(sigset_t *old)
{
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, old);
}

void signals_restore(const sigset_t *old)
{
	pthread_sigmask(SIG_SETMASK, old, NULL);
}
