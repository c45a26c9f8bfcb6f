// Row softmax, forward and backward, f32. Contract: src/tensor/kernels.ts.
// Forward subtracts the row max before exp (no overflow; a row of −inf with one
// finite entry still works), exp_f32 (fused.h), sums in double. Backward: dx = y·(dy − Σ dy·y).
// Outputs must not overlap inputs. Legend: x, y, dx, dy (rows, cols).
#include <cmath>
#include <limits>

#include "check.h"
#include "fused.h"
#include "registry.h"

namespace rrt {

static Napi::Value js_softmax_fwd_f32(const Napi::CallbackInfo& info) {
  Args a(info, "softmax_fwd_f32", 4);
  int64_t rows = a.size(2, "rows"), cols = a.size(3, "cols");
  int64_t n = a.mul(rows, cols);
  float* y = a.f32(0, "y", n, "rows·cols");
  const float* x = a.f32(1, "x", n, "rows·cols");
  check_disjoint(a, {{y, n, "y"}}, {{x, n, "x"}});
#pragma omp parallel for if (n > kParallelMin) schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    float m = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : m)
    for (int64_t j = 0; j < cols; j++) m = std::fmax(m, xr[j]);
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (int64_t j = 0; j < cols; j++) {
      const float e = exp_f32(xr[j] - m);
      yr[j] = e;
      s += e;
    }
    const float inv = (float)(1.0 / s);
#pragma omp simd
    for (int64_t j = 0; j < cols; j++) yr[j] *= inv;
  }
  return info.Env().Undefined();
}

static Napi::Value js_softmax_bwd_f32(const Napi::CallbackInfo& info) {
  Args a(info, "softmax_bwd_f32", 5);
  int64_t rows = a.size(3, "rows"), cols = a.size(4, "cols");
  int64_t n = a.mul(rows, cols);
  float* dx = a.f32(0, "dx", n, "rows·cols");
  const float* dy = a.f32(1, "dy", n, "rows·cols");
  const float* y = a.f32(2, "y", n, "rows·cols");
  check_disjoint(a, {{dx, n, "dx"}}, {{dy, n, "dy"}, {y, n, "y"}});
#pragma omp parallel for if (n > kParallelMin) schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const float* dyr = dy + r * cols;
    const float* yr = y + r * cols;
    float* dxr = dx + r * cols;
    float dot = 0.f;
#pragma omp simd reduction(+ : dot)
    for (int64_t j = 0; j < cols; j++) dot += dyr[j] * yr[j];
#pragma omp simd
    for (int64_t j = 0; j < cols; j++) dxr[j] = yr[j] * (dyr[j] - dot);
  }
  return info.Env().Undefined();
}

RRT_EXPORT("softmax_fwd_f32", js_softmax_fwd_f32);
RRT_EXPORT("softmax_bwd_f32", js_softmax_bwd_f32);

}  // namespace rrt
