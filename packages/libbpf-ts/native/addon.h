/* Shared helpers of the libbpf-ts addon: argument parsing and error throwing.
 * Every exported function validates its arguments (the TypeScript layer also
 * does, but the addon must never crash on a bad call). */
#ifndef LIBBPF_TS_ADDON_H
#define LIBBPF_TS_ADDON_H

#define NAPI_VERSION 8
#include <node_api.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MAX_ARGS 8

/* Returns NULL from the calling N-API function when a napi call fails (an exception is pending). */
#define NAPI_TRY(call)                                \
	do {                                              \
		if ((call) != napi_ok) {                      \
			throw_napi_failure(env, #call);           \
			return NULL;                              \
		}                                             \
	} while (0)

/* Fetches exactly n arguments into argv or throws a TypeError. */
#define GET_ARGS(n)                                                            \
	napi_value argv[MAX_ARGS];                                                 \
	size_t argc = MAX_ARGS;                                                    \
	NAPI_TRY(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));            \
	if (argc < (n)) {                                                          \
		napi_throw_type_error(env, NULL, "libbpf-ts: too few arguments");      \
		return NULL;                                                           \
	}

void throw_napi_failure(napi_env env, const char *what);
/* Throws an Error whose message is "<what>: <strerror(err)>" with .errno = err (positive). */
napi_value throw_errno(napi_env env, int err, const char *what);
napi_value throw_type(napi_env env, const char *what);

bool arg_i32(napi_env env, napi_value v, int32_t *out);
bool arg_u32(napi_env env, napi_value v, uint32_t *out);
bool arg_bool(napi_env env, napi_value v, bool *out);
/* Copies a string argument into a malloc'd buffer; the caller frees it. NULL (with an exception) on failure. */
char *arg_str(napi_env env, napi_value v);
/* Whether v is null or undefined. */
bool arg_is_nullish(napi_env env, napi_value v);
/* A Buffer (or any TypedArray) argument; null/undefined give data NULL, len 0 when allow_null. */
bool arg_buf(napi_env env, napi_value v, bool allow_null, void **data, size_t *len);

/*
 * Blocks every signal on this thread until signals_restore(): the verifier
 * gives up a load when a signal is pending (EAGAIN; libbpf retries 5 times),
 * so a signal storm (the CPU profiler's SIGPROF, a child's SIGCHLD, any
 * signal Node handles) would fail every load. They are delivered after it.
 */
void signals_block(sigset_t *old);
void signals_restore(const sigset_t *old);

napi_value make_i64(napi_env env, int64_t v);
napi_value make_u32(napi_env env, uint32_t v);
napi_value make_bool(napi_env env, bool v);
napi_value make_str(napi_env env, const char *s);
napi_value undefined(napi_env env);
bool set_prop(napi_env env, napi_value obj, const char *name, napi_value v);

/* Wraps a native pointer in an External tagged with `tag`; unwrap checks the tag.
 * Takes ownership of ptr: on failure it has been (or will be) finalized with fin. */
napi_value wrap_ptr(napi_env env, void *ptr, const napi_type_tag *tag, napi_finalize fin);
void *unwrap_ptr(napi_env env, napi_value v, const napi_type_tag *tag, const char *what);

typedef struct {
	const char *name;
	napi_callback fn;
} export_fn;

void register_fns(napi_env env, napi_value exports, const export_fn *fns);

/* Each module registers its functions. */
void init_log(napi_env env, napi_value exports);
void init_object(napi_env env, napi_value exports);
void init_sys(napi_env env, napi_value exports);
void init_map(napi_env env, napi_value exports);
void init_consumer(napi_env env, napi_value exports);

#endif
