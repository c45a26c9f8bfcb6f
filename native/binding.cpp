// The addon's entry point: exports every function registered with RRT_EXPORT,
// plus the thread-count controls. OpenMP owns the one thread pool.
#include <napi.h>
#include <omp.h>

#include "check.h"
#include "registry.h"

namespace rrt {

static Napi::Value js_set_threads(const Napi::CallbackInfo& info) {
  Args a(info, "set_threads", 1);
  int64_t n = a.integer(0, "n", 1, 1024);
  omp_set_num_threads((int)n);
  return info.Env().Undefined();
}

static Napi::Value js_get_threads(const Napi::CallbackInfo& info) {
  Args a(info, "get_threads", 0);
  return Napi::Number::New(info.Env(), omp_get_max_threads());
}

RRT_EXPORT("set_threads", js_set_threads);
RRT_EXPORT("get_threads", js_get_threads);

}  // namespace rrt

static Napi::Object init_addon(Napi::Env env, Napi::Object exports) {
  for (const auto& e : rrt::export_registry()) exports.Set(e.name, Napi::Function::New(env, e.fn, e.name));
  return exports;
}

NODE_API_MODULE(rrt, init_addon)
