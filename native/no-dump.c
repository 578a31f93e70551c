/*
 * pwsync-no-dump.node: the server and the agent hold passwords in memory; this Node addon lets
 * them make themselves non-dumpable at start, which Node itself cannot (it has no prctl):
 *
 *   protect()  RLIMIT_CORE to 0 (soft and hard: no core file, and the children inherit it), then
 *              prctl(PR_SET_DUMPABLE, 0): no core dump even through a core_pattern pipe, no ptrace
 *              attach and no /proc/PID/mem or environ by processes of the same user, /proc/PID/
 *              owned by root. Returns { core: errno, dumpable: errno }, 0 for each that held.
 *   dumpable() prctl(PR_GET_DUMPABLE): 0 once protected.
 *
 * Built by `make -C native` with Node's own headers (node_api.h); the symbols it uses are Node's,
 * resolved when Node loads it. Without it the process falls back to `prlimit --core=0:0`, which
 * sets the limit but cannot clear the dumpable flag (src/util/no-core-dumps.ts).
 */
#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <sys/prctl.h>
#include <sys/resource.h>

static napi_value int_value(napi_env env, int n) {
  napi_value v = NULL;
  napi_create_int32(env, n, &v);
  return v;
}

static napi_value protect(napi_env env, napi_callback_info info) {
  (void)info;
  const struct rlimit none = {0, 0};
  int core = setrlimit(RLIMIT_CORE, &none) == 0 ? 0 : errno;
  int dumpable = prctl(PR_SET_DUMPABLE, 0L, 0L, 0L, 0L) == 0 ? 0 : errno;
  napi_value result = NULL;
  if (napi_create_object(env, &result) != napi_ok) return NULL;
  napi_set_named_property(env, result, "core", int_value(env, core));
  napi_set_named_property(env, result, "dumpable", int_value(env, dumpable));
  return result;
}

static napi_value dumpable(napi_env env, napi_callback_info info) {
  (void)info;
  return int_value(env, prctl(PR_GET_DUMPABLE, 0L, 0L, 0L, 0L));
}

NAPI_MODULE_INIT() {
  napi_property_descriptor properties[] = {
      {"protect", NULL, protect, NULL, NULL, NULL, napi_default, NULL},
      {"dumpable", NULL, dumpable, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties) != napi_ok) return NULL;
  return exports;
}
