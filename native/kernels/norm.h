// The RMSNorm forward of one row, shared by rmsnorm_fwd_f32 (norm.cpp) and the fused decode
// layer (decode_layer.cpp) so both give bit-identical results. Portable code only.
// Legend: y, x (D); w (D).
#pragma once
#include <cmath>
#include <cstdint>

namespace rrt {

// y = x·rstd·w (plusOne: x·rstd·(1+w)), rstd = 1/sqrt(mean(x²) + eps); returns rstd.
// Never inlined: the sum of squares is a vectorised reduction whose order the compiler picks per
// call site (inlined into batch_layer.cpp's first loop it summed in another order than in its
// second, and rows differed in the last bit), so every caller shares one compiled copy.
[[gnu::noinline]] inline float rmsnorm_row(float* y, const float* x, const float* w, int64_t D, float eps, bool plus_one) {
  float ss = 0.f;
#pragma omp simd reduction(+ : ss)
  for (int64_t j = 0; j < D; j++) ss += x[j] * x[j];
  const float rs = 1.0f / std::sqrt(ss / (float)D + eps);
  if (plus_one) {
#pragma omp simd
    for (int64_t j = 0; j < D; j++) y[j] = (x[j] * rs) * (1.0f + w[j]);
  } else {
#pragma omp simd
    for (int64_t j = 0; j < D; j++) y[j] = (x[j] * rs) * w[j];
  }
  return rs;
}

}  // namespace rrt
