/* libbpf-ts native addon: module entry point. */
#include "addon.h"

#include <malloc.h>

/* glibc's dynamic mmap threshold: freeing an mmapped chunk raises the threshold
 * to that chunk's size (and the trim threshold to twice it). libbpf frees the
 * kernel's BTF (megabytes) at every CO-RE load, after which everything smaller,
 * ring-buffer batches and V8's ArrayBuffers included, comes from the heap:
 * calloc zero-fills it there, and freed memory stays resident instead of being
 * unmapped or trimmed (~28 MB of an agent's RSS). A fixed threshold (glibc's
 * own starting value) turns the raising off for the process that loads us. */
#define MMAP_THRESHOLD_BYTES (128 * 1024)

NAPI_MODULE_INIT()
{
#ifdef M_MMAP_THRESHOLD /* glibc */
	mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES);
#endif
	init_log(env, exports);
	init_object(env, exports);
	init_sys(env, exports);
	init_map(env, exports);
	init_consumer(env, exports);
	return exports;
}
