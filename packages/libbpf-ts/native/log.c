/* libbpf's print callback. Every message is appended to a bounded capture
 * buffer (so that a failed load can report what libbpf said, including the
 * verifier log) and, on the JS thread that installed it, handed to the JS
 * logger. Messages printed on other threads are only captured. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/libbpf.h>
#include "addon.h"

#define CAPTURE_MAX (8u << 20)

static pthread_mutex_t capture_mu = PTHREAD_MUTEX_INITIALIZER;
static char *capture;
static size_t capture_len, capture_cap;

static napi_env print_env;
static napi_ref print_ref;
static pthread_t print_thread;

static void capture_append(const char *msg, size_t len)
{
	pthread_mutex_lock(&capture_mu);
	if (capture_len + len > CAPTURE_MAX) {
		/* Keep the newest half: the failure is at the end. */
		size_t keep = capture_len / 2;
		memmove(capture, capture + capture_len - keep, keep);
		capture_len = keep;
	}
	if (capture_len + len <= CAPTURE_MAX) {
		if (capture_len + len + 1 > capture_cap) {
			size_t cap = capture_cap ? capture_cap : 4096;
			while (cap < capture_len + len + 1)
				cap *= 2;
			char *n = realloc(capture, cap);
			if (n) {
				capture = n;
				capture_cap = cap;
			}
		}
		if (capture_len + len + 1 <= capture_cap) {
			memcpy(capture + capture_len, msg, len);
			capture_len += len;
			capture[capture_len] = 0;
		}
	}
	pthread_mutex_unlock(&capture_mu);
}

static void forward_to_js(enum libbpf_print_level level, const char *msg)
{
	napi_env env = print_env;
	napi_handle_scope scope;
	if (napi_open_handle_scope(env, &scope) != napi_ok)
		return;
	napi_value fn, global, args[2];
	if (napi_get_reference_value(env, print_ref, &fn) == napi_ok && fn &&
	    napi_get_global(env, &global) == napi_ok &&
	    napi_create_int32(env, (int32_t)level, &args[0]) == napi_ok &&
	    napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &args[1]) == napi_ok) {
		napi_value result;
		if (napi_call_function(env, global, fn, 2, args, &result) != napi_ok) {
			/* A throwing logger must not break the libbpf call in progress. */
			napi_value ignored;
			napi_get_and_clear_last_exception(env, &ignored);
		}
	}
	napi_close_handle_scope(env, scope);
}

static int print_fn(enum libbpf_print_level level, const char *fmt, va_list args)
{
	va_list copy;
	va_copy(copy, args);
	char small[1024];
	int n = vsnprintf(small, sizeof(small), fmt, copy);
	va_end(copy);
	if (n < 0)
		return 0;
	char *msg = small;
	if ((size_t)n >= sizeof(small)) {
		msg = malloc((size_t)n + 1);
		if (!msg)
			return 0;
		vsnprintf(msg, (size_t)n + 1, fmt, args);
	}
	capture_append(msg, (size_t)n);
	if (print_ref && pthread_equal(pthread_self(), print_thread))
		forward_to_js(level, msg);
	if (msg != small)
		free(msg);
	return 0;
}

/* The logger's environment is going away (a Worker that set it exits): forget the logger,
 * or a thread that later reuses its pthread_t would call into a freed environment. */
static void print_env_gone(void *arg)
{
	napi_env env = arg;
	if (print_env != env)
		return;
	napi_delete_reference(env, print_ref);
	print_ref = NULL;
	print_env = NULL;
}

static napi_value set_print(napi_env env, napi_callback_info info)
{
	GET_ARGS(1);
	if (print_ref) {
		/* Another environment's reference cannot be deleted from here; it goes with that environment. */
		if (print_env == env)
			napi_delete_reference(env, print_ref);
		print_ref = NULL;
		print_env = NULL;
	}
	if (!arg_is_nullish(env, argv[0])) {
		NAPI_TRY(napi_create_reference(env, argv[0], 1, &print_ref));
		print_env = env;
		print_thread = pthread_self();
		/* Remove first: adding the same hook twice aborts the process. */
		napi_remove_env_cleanup_hook(env, print_env_gone, env);
		NAPI_TRY(napi_add_env_cleanup_hook(env, print_env_gone, env));
	}
	libbpf_set_print(print_fn);
	return undefined(env);
}

static napi_value take_captured_log(napi_env env, napi_callback_info info)
{
	(void)info;
	pthread_mutex_lock(&capture_mu);
	napi_value s;
	napi_status st = napi_create_string_utf8(env, capture ? capture : "", capture_len, &s);
	capture_len = 0;
	if (capture_cap > (256u << 10)) {
		/* A big verifier log was captured once: do not keep its memory forever. */
		free(capture);
		capture = NULL;
		capture_cap = 0;
	}
	pthread_mutex_unlock(&capture_mu);
	NAPI_TRY(st);
	return s;
}

void init_log(napi_env env, napi_value exports)
{
	/* Capture from the first libbpf call on, even before JS sets a logger. */
	libbpf_set_print(print_fn);
	libbpf_set_strict_mode(LIBBPF_STRICT_ALL);
	static const export_fn fns[] = {
		{ "setPrint", set_print },
		{ "takeCapturedLog", take_captured_log },
		{ NULL, NULL },
	};
	register_fns(env, exports, fns);
}
