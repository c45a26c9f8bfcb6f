// Registry of the addon's exported functions.
// Each kernel file registers its own entry points with RRT_EXPORT, so adding a
// kernel never touches binding.cpp or binding.gyp (which globs native/**/*.cpp).
#pragma once
#include <napi.h>
#include <vector>

namespace rrt {

using ExportFn = Napi::Value (*)(const Napi::CallbackInfo&);

struct ExportEntry {
  const char* name;
  ExportFn fn;
};

// Function-local static: safe against static-initialisation order.
inline std::vector<ExportEntry>& export_registry() {
  static std::vector<ExportEntry> entries;
  return entries;
}

struct ExportRegistrar {
  ExportRegistrar(const char* name, ExportFn fn) { export_registry().push_back({name, fn}); }
};

}  // namespace rrt

#define RRT_CONCAT_(a, b) a##b
#define RRT_CONCAT(a, b) RRT_CONCAT_(a, b)
// RRT_EXPORT("gemm_f32", js_gemm_f32);  -> addon.gemm_f32
#define RRT_EXPORT(name, fn) static ::rrt::ExportRegistrar RRT_CONCAT(rrt_export_, __LINE__)(name, fn)
