// Elementwise f32 kernels: add, mul, scale, axpy, bias add, and the bias
// backward (column sums). Contract: src/tensor/kernels.ts. Scalars are rounded to
// fp32 first (as PyTorch does for float tensors), so add/mul/scale/axpy/add_bias
// are bit-identical to the TS reference. Same-index ops may run in place.
// Legend: n elements; rows × N row-major.
#include <algorithm>
#include <cmath>

#include "check.h"
#include "cpu.h"
#include "elementwise.h"
#include "fused.h"
#include "registry.h"

namespace rrt {

static Napi::Value js_add_f32(const Napi::CallbackInfo& info) {
  Args a(info, "add_f32", 4);
  int64_t n = a.size(3, "n");
  float* out = a.f32(0, "out", n, "n");
  const float* x = a.f32(1, "a", n, "n");
  const float* y = a.f32(2, "b", n, "n");
  check_same_or_disjoint(a, {out, n, "out"}, {x, n, "a"});
  check_same_or_disjoint(a, {out, n, "out"}, {y, n, "b"});
#pragma omp parallel for simd if (n > kParallelMin) schedule(static)
  for (int64_t i = 0; i < n; i++) out[i] = x[i] + y[i];
  return info.Env().Undefined();
}

static Napi::Value js_mul_f32(const Napi::CallbackInfo& info) {
  Args a(info, "mul_f32", 4);
  int64_t n = a.size(3, "n");
  float* out = a.f32(0, "out", n, "n");
  const float* x = a.f32(1, "a", n, "n");
  const float* y = a.f32(2, "b", n, "n");
  check_same_or_disjoint(a, {out, n, "out"}, {x, n, "a"});
  check_same_or_disjoint(a, {out, n, "out"}, {y, n, "b"});
#pragma omp parallel for simd if (n > kParallelMin) schedule(static)
  for (int64_t i = 0; i < n; i++) out[i] = x[i] * y[i];
  return info.Env().Undefined();
}

static Napi::Value js_scale_f32(const Napi::CallbackInfo& info) {
  Args a(info, "scale_f32", 4);
  int64_t n = a.size(3, "n");
  float* out = a.f32(0, "out", n, "n");
  const float* x = a.f32(1, "a", n, "n");
  const float s = (float)a.number(2, "s");
  check_same_or_disjoint(a, {out, n, "out"}, {x, n, "a"});
#pragma omp parallel for simd if (n > kParallelMin) schedule(static)
  for (int64_t i = 0; i < n; i++) out[i] = x[i] * s;
  return info.Env().Undefined();
}

static Napi::Value js_axpy_f32(const Napi::CallbackInfo& info) {
  Args a(info, "axpy_f32", 4);
  int64_t n = a.size(3, "n");
  float* y = a.f32(0, "y", n, "n");
  const float* x = a.f32(1, "x", n, "n");
  const float alpha = (float)a.number(2, "alpha");
  check_same_or_disjoint(a, {y, n, "y"}, {x, n, "x"});
#pragma omp parallel for simd if (n > kParallelMin) schedule(static)
  for (int64_t i = 0; i < n; i++) y[i] += alpha * x[i];
  return info.Env().Undefined();
}

static Napi::Value js_add_bias_f32(const Napi::CallbackInfo& info) {
  Args a(info, "add_bias_f32", 4);
  int64_t rows = a.size(2, "rows"), N = a.size(3, "N");
  int64_t n = a.mul(rows, N);
  float* y = a.f32(0, "y", n, "rows·N");
  const float* b = a.f32(1, "b", N, "N");
  check_disjoint(a, {{y, n, "y"}}, {{b, N, "b"}});
#pragma omp parallel for if (n > kParallelMin) schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    float* yr = y + r * N;
#pragma omp simd
    for (int64_t c = 0; c < N; c++) yr[c] += b[c];
  }
  return info.Env().Undefined();
}

// Column sums in double, a panel of kCols columns per task: threads own disjoint
// columns (no reduction races) and the order over rows is fixed (deterministic).
static Napi::Value js_sum_rows_f32(const Napi::CallbackInfo& info) {
  Args a(info, "sum_rows_f32", 5);
  int64_t rows = a.size(2, "rows"), N = a.size(3, "N");
  bool accumulate = a.flag(4, "accumulate");
  int64_t n = a.mul(rows, N);
  float* out = a.f32(0, "out", N, "N");
  const float* x = a.f32(1, "x", n, "rows·N");
  check_disjoint(a, {{out, N, "out"}}, {{x, n, "x"}});
  constexpr int64_t kCols = 256;
  const int64_t panels = (N + kCols - 1) / kCols;
#pragma omp parallel for if (n > kParallelMin) schedule(static)
  for (int64_t p = 0; p < panels; p++) {
    const int64_t c0 = p * kCols, w = std::min(kCols, N - c0);
    double acc[kCols] = {};
    for (int64_t r = 0; r < rows; r++) {
      const float* xr = x + r * N + c0;
#pragma omp simd
      for (int64_t c = 0; c < w; c++) acc[c] += xr[c];
    }
    for (int64_t c = 0; c < w; c++) out[c0 + c] = (float)(accumulate ? out[c0 + c] + acc[c] : acc[c]);
  }
  return info.Env().Undefined();
}

// argmax_f32(x, offset, n): the index in [0, n) of the first maximum of x[offset..offset+n), NaN
// ignored, 0 when nothing beats −inf (greedy sampling; src/models/sampler.ts argmax). 16 running
// maxima (a select the compiler turns into max instructions), then the first index holding the max;
// on AVX-512 machines argmax_avx512.cpp (the same result, tested against the reference).
static Napi::Value js_argmax_f32(const Napi::CallbackInfo& info) {
  Args a(info, "argmax_f32", 3);
  const int64_t offset = a.size(1, "offset"), n = a.size(2, "n");
  const float* x = a.f32(0, "x", offset + n, "offset + n") + offset;
  if (active_isa() >= Isa::avx512) return Napi::Number::New(info.Env(), (double)argmax_avx512(x, n));
  float m16[16];
  for (float& m : m16) m = -INFINITY;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; j++) m16[j] = x[i + j] > m16[j] ? x[i + j] : m16[j];
  float m = -INFINITY;
  for (float v : m16) m = v > m ? v : m;
  for (; i < n; i++) m = x[i] > m ? x[i] : m;
  int64_t best = 0;
  if (m > -INFINITY)
    while (!(x[best] == m)) best++;
  return Napi::Number::New(info.Env(), (double)best);
}

RRT_EXPORT("add_f32", js_add_f32);
RRT_EXPORT("argmax_f32", js_argmax_f32);
RRT_EXPORT("mul_f32", js_mul_f32);
RRT_EXPORT("scale_f32", js_scale_f32);
RRT_EXPORT("axpy_f32", js_axpy_f32);
RRT_EXPORT("add_bias_f32", js_add_bias_f32);
RRT_EXPORT("sum_rows_f32", js_sum_rows_f32);

}  // namespace rrt
