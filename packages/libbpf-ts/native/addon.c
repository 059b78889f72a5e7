/* libbpf-ts native addon: module entry point. */
#include "addon.h"

NAPI_MODULE_INIT()
{
	init_log(env, exports);
	init_object(env, exports);
	init_sys(env, exports);
	init_map(env, exports);
	init_consumer(env, exports);
	return exports;
}
