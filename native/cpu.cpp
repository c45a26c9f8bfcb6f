#include "cpu.h"

#include <atomic>

#include "check.h"
#include "quant/quant.h"
#include "registry.h"

namespace rrt {

static Isa detect() {
  __builtin_cpu_init();
  bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  bool avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                __builtin_cpu_supports("avx512vl");
  bool bf16 = avx512 && __builtin_cpu_supports("avx512bf16");
  return bf16 ? Isa::avx512bf16 : avx512 ? Isa::avx512 : avx2 ? Isa::avx2 : Isa::scalar;
}

static std::atomic<int> g_active{-1};

Isa best_isa() {
  static const Isa best = detect();
  return best;
}

Isa active_isa() {
  int v = g_active.load(std::memory_order_relaxed);
  if (v < 0) {
    v = (int)best_isa();
    g_active.store(v);
  }
  return (Isa)v;
}

bool set_isa(Isa isa) {
  if ((int)isa > (int)best_isa()) return false;
  g_active.store((int)isa);
  return true;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::scalar: return "scalar";
    case Isa::avx2: return "avx2";
    case Isa::avx512: return "avx512";
    case Isa::avx512bf16: return "avx512bf16";
  }
  return "unknown";
}

static Isa parse_isa(const Args& a, const std::string& s) {
  for (int i = 0; i <= 3; i++)
    if (s == isa_name((Isa)i)) return (Isa)i;
  a.range_error("unknown ISA '%s' (scalar, avx2, avx512, avx512bf16)", s.c_str());
}

// isa_info() -> { best, active }
static Napi::Value js_isa_info(const Napi::CallbackInfo& info) {
  Args a(info, "isa_info", 0);
  auto o = Napi::Object::New(a.env());
  o.Set("best", isa_name(best_isa()));
  o.Set("active", isa_name(active_isa()));
  o.Set("quant", quant::active_qgemv_name());
  return o;
}

// set_isa(name): force a level at or below the best one (for tests and benchmarks).
static Napi::Value js_set_isa(const Napi::CallbackInfo& info) {
  Args a(info, "set_isa", 1);
  if (!info[0].IsString()) a.type_error("name must be a string");
  std::string s = info[0].As<Napi::String>().Utf8Value();
  Isa isa = parse_isa(a, s);
  if (!set_isa(isa)) a.range_error("this CPU does not support %s (best is %s)", s.c_str(), isa_name(best_isa()));
  return info.Env().Undefined();
}

RRT_EXPORT("isa_info", js_isa_info);
RRT_EXPORT("set_isa", js_set_isa);

}  // namespace rrt
