// Argument validation at the JS boundary (validate at the
// boundary, trust inside). Every exported function builds an Args and pulls
// each argument through it; any mismatch throws a JS TypeError or RangeError
// that names the op and shows the numbers, never reads out of bounds.
#pragma once
#include <napi.h>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>

namespace rrt {

// Largest size accepted for any single dimension or element count.
constexpr int64_t kMaxDim = int64_t(1) << 40;

class Args {
 public:
  Args(const Napi::CallbackInfo& info, const char* op, size_t expected)
      : info_(info), env_(info.Env()), op_(op) {
    if (info.Length() != expected)
      type_error("expected %zu arguments, got %zu", expected, (size_t)info.Length());
  }

  Napi::Env env() const { return env_; }
  const char* op() const { return op_; }

  // Integer size in [0, kMaxDim].
  int64_t size(size_t i, const char* name) const {
    double v = number(i, name);
    if (v != std::floor(v) || v < 0 || v > (double)kMaxDim)
      range_error("%s must be a non-negative integer, got %g", name, v);
    return (int64_t)v;
  }

  // Integer in [lo, hi].
  int64_t integer(size_t i, const char* name, int64_t lo, int64_t hi) const {
    double v = number(i, name);
    if (v != std::floor(v) || v < (double)lo || v > (double)hi)
      range_error("%s must be an integer in [%lld, %lld], got %g", name, (long long)lo, (long long)hi, v);
    return (int64_t)v;
  }

  // Finite number.
  double number(size_t i, const char* name) const {
    Napi::Value v = info_[i];
    if (v.IsBoolean()) return v.As<Napi::Boolean>().Value() ? 1.0 : 0.0;
    if (!v.IsNumber()) type_error("%s must be a number", name);
    double d = v.As<Napi::Number>().DoubleValue();
    if (!std::isfinite(d)) range_error("%s must be finite, got %g", name, d);
    return d;
  }

  bool flag(size_t i, const char* name) const { return integer(i, name, 0, 1) != 0; }

  // Typed-array views: `need` is the number of elements the kernel will touch;
  // `what` describes it for the message, e.g. "m·k".
  float* f32(size_t i, const char* name, int64_t need, const char* what = "") const {
    return view<float, napi_float32_array>(i, name, need, what, "Float32Array");
  }
  uint16_t* u16(size_t i, const char* name, int64_t need, const char* what = "") const {
    return view<uint16_t, napi_uint16_array>(i, name, need, what, "Uint16Array");
  }
  int32_t* i32(size_t i, const char* name, int64_t need, const char* what = "") const {
    return view<int32_t, napi_int32_array>(i, name, need, what, "Int32Array");
  }
  double* f64(size_t i, const char* name, int64_t need, const char* what = "") const {
    return view<double, napi_float64_array>(i, name, need, what, "Float64Array");
  }
  uint8_t* u8(size_t i, const char* name, int64_t need, const char* what = "") const {
    return view<uint8_t, napi_uint8_array>(i, name, need, what, "Uint8Array");
  }
  int8_t* i8(size_t i, const char* name, int64_t need, const char* what = "") const {
    return view<int8_t, napi_int8_array>(i, name, need, what, "Int8Array");
  }
  // Element count of typed-array argument i; call after a view of it has checked its type.
  int64_t length(size_t i) const { return (int64_t)info_[i].As<Napi::TypedArray>().ElementLength(); }
  // null/undefined allowed: returns nullptr.
  float* f32_opt(size_t i, const char* name, int64_t need, const char* what = "") const {
    if (info_[i].IsNull() || info_[i].IsUndefined()) return nullptr;
    return f32(i, name, need, what);
  }
  int32_t* i32_opt(size_t i, const char* name, int64_t need, const char* what = "") const {
    if (info_[i].IsNull() || info_[i].IsUndefined()) return nullptr;
    return i32(i, name, need, what);
  }

  // Product of sizes with overflow check.
  int64_t mul(int64_t a, int64_t b) const {
    if (a != 0 && b > kMaxDim / a) range_error("size overflow: %lld × %lld", (long long)a, (long long)b);
    return a * b;
  }
  int64_t mul(int64_t a, int64_t b, int64_t c) const { return mul(mul(a, b), c); }
  int64_t mul(int64_t a, int64_t b, int64_t c, int64_t d) const { return mul(mul(a, b, c), d); }

  // Two buffers that must not share memory (outputs written while inputs are read).
  void no_overlap(const void* a, int64_t a_bytes, const char* an, const void* b, int64_t b_bytes, const char* bn) const {
    auto pa = (const char*)a, pb = (const char*)b;
    if (pa < pb + b_bytes && pb < pa + a_bytes) range_error("%s and %s must not overlap", an, bn);
  }

  template <typename... T>
  [[noreturn]] void range_error(const char* fmt, T... args) const {
    throw Napi::RangeError::New(env_, message(fmt, args...));
  }
  template <typename... T>
  [[noreturn]] void type_error(const char* fmt, T... args) const {
    throw Napi::TypeError::New(env_, message(fmt, args...));
  }

 private:
  template <typename... T>
  std::string message(const char* fmt, T... args) const {
    char buf[512];
    if constexpr (sizeof...(T) == 0) std::snprintf(buf, sizeof buf, "%s", fmt);
    else std::snprintf(buf, sizeof buf, fmt, args...);
    return std::string("[") + op_ + "] " + buf;
  }

  template <typename T, napi_typedarray_type kind>
  T* view(size_t i, const char* name, int64_t need, const char* what, const char* kind_name) const {
    Napi::Value v = info_[i];
    if (!v.IsTypedArray()) type_error("%s must be a %s", name, kind_name);
    auto ta = v.As<Napi::TypedArray>();
    if (ta.TypedArrayType() != kind) type_error("%s must be a %s", name, kind_name);
    int64_t len = (int64_t)ta.ElementLength();
    if (need < 0) range_error("%s: negative size", name);
    if (len < need)
      range_error("%s has %lld elements, expected %s%s%lld", name, (long long)len, what, *what ? " = " : "",
                  (long long)need);
    if (len == 0) return nullptr;
    auto arr = v.As<Napi::TypedArrayOf<T>>();
    return arr.Data();
  }

  const Napi::CallbackInfo& info_;
  Napi::Env env_;
  const char* op_;
};

}  // namespace rrt
