#pragma GCC target("avx512f,avx512bw,avx512vl,fma,avx2")
// AVX-512 probe loops: 16 independent zmm FMA chains (latency 4 × throughput ≤ 2 per cycle needs
// ≥ 8 in flight), and a 4-accumulator zmm sum for read bandwidth.
// GCC 12 warns inside its own AVX-512 headers (the self-initialised _mm512_undefined_* values).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstdint>

#include "probe.h"

namespace rrt {
namespace probe {

constexpr int kFmaChains = 16;

float fma_loop_avx512(int64_t iters, double* flops) {
  __m512 acc[kFmaChains];
  const __m512 x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f);
#pragma GCC unroll 16
  for (int i = 0; i < kFmaChains; i++) acc[i] = _mm512_set1_ps((float)i);
  for (int64_t it = 0; it < iters; it++) {
#pragma GCC unroll 16
    for (int i = 0; i < kFmaChains; i++) acc[i] = _mm512_fmadd_ps(acc[i], x, y);
  }
  __m512 s = acc[0];
#pragma GCC unroll 16
  for (int i = 1; i < kFmaChains; i++) s = _mm512_add_ps(s, acc[i]);
  *flops = (double)iters * kFmaChains * 16 * 2;
  return _mm512_reduce_add_ps(s);
}

float sum_avx512(const float* p, int64_t n) {
  __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  for (int64_t i = 0; i < n; i += 64) {
    s0 = _mm512_add_ps(s0, _mm512_loadu_ps(p + i));
    s1 = _mm512_add_ps(s1, _mm512_loadu_ps(p + i + 16));
    s2 = _mm512_add_ps(s2, _mm512_loadu_ps(p + i + 32));
    s3 = _mm512_add_ps(s3, _mm512_loadu_ps(p + i + 48));
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

}  // namespace probe
}  // namespace rrt
