#pragma GCC target("avx2,fma")
// AVX2 probe loops: 12 independent ymm FMA chains, and a 4-accumulator ymm sum.
#include <immintrin.h>

#include <cstdint>

#include "probe.h"

namespace rrt {
namespace probe {

constexpr int kFmaChains = 12;  // + 2 constants: 14 of the 16 ymm registers, no spills

float fma_loop_avx2(int64_t iters, double* flops) {
  __m256 acc[kFmaChains];
  const __m256 x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(1e-7f);
#pragma GCC unroll 12
  for (int i = 0; i < kFmaChains; i++) acc[i] = _mm256_set1_ps((float)i);
  for (int64_t it = 0; it < iters; it++) {
#pragma GCC unroll 12
    for (int i = 0; i < kFmaChains; i++) acc[i] = _mm256_fmadd_ps(acc[i], x, y);
  }
  __m256 s = acc[0];
#pragma GCC unroll 12
  for (int i = 1; i < kFmaChains; i++) s = _mm256_add_ps(s, acc[i]);
  *flops = (double)iters * kFmaChains * 8 * 2;
  alignas(32) float v[8];
  _mm256_store_ps(v, s);
  return v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
}

float sum_avx2(const float* p, int64_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  for (int64_t i = 0; i < n; i += 64) {
    s0 = _mm256_add_ps(_mm256_add_ps(s0, _mm256_loadu_ps(p + i)), _mm256_loadu_ps(p + i + 8));
    s1 = _mm256_add_ps(_mm256_add_ps(s1, _mm256_loadu_ps(p + i + 16)), _mm256_loadu_ps(p + i + 24));
    s2 = _mm256_add_ps(_mm256_add_ps(s2, _mm256_loadu_ps(p + i + 32)), _mm256_loadu_ps(p + i + 40));
    s3 = _mm256_add_ps(_mm256_add_ps(s3, _mm256_loadu_ps(p + i + 48)), _mm256_loadu_ps(p + i + 56));
  }
  alignas(32) float v[8];
  _mm256_store_ps(v, _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  return v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
}

}  // namespace probe
}  // namespace rrt
