#pragma GCC target("avx2,fma")
// AVX2 fp32 GEMM pieces for CPUs without AVX-512: the 6×16 micro-kernel (12 ymm accumulators,
// 15 of the 16 registers) and the small-M GEMV paths with fp32 or bf16 weights. Only called when
// active_isa() == avx2. Same results as the scalar path up to fp32 summation order.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "gemm.h"

namespace rrt {
namespace gemm {

constexpr int kMr = 6, kNr = 16;

static void ukernel_6x16(int64_t kp, const void* av, const void* bv, float* c, int64_t ldc, int load_c) {
  const float* a = (const float*)av;
  const float* b = (const float*)bv;
  __m256 c0[kMr], c1[kMr];
#pragma GCC unroll 6
  for (int i = 0; i < kMr; i++) c0[i] = c1[i] = _mm256_setzero_ps();
  for (int64_t k = 0; k < kp; k++) {
    const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
#pragma GCC unroll 6
    for (int i = 0; i < kMr; i++) {
      const __m256 ai = _mm256_broadcast_ss(a + i);
      c0[i] = _mm256_fmadd_ps(ai, b0, c0[i]);
      c1[i] = _mm256_fmadd_ps(ai, b1, c1[i]);
    }
    a += kMr;
    b += kNr;
  }
#pragma GCC unroll 6
  for (int i = 0; i < kMr; i++) {
    float* cr = c + i * ldc;
    if (load_c) {
      c0[i] = _mm256_add_ps(c0[i], _mm256_loadu_ps(cr));
      c1[i] = _mm256_add_ps(c1[i], _mm256_loadu_ps(cr + 8));
    }
    _mm256_storeu_ps(cr, c0[i]);
    _mm256_storeu_ps(cr + 8, c1[i]);
  }
}

const Kit kit_f32_avx2 = {kMr, kNr, 256, 72, 4096, 1, ukernel_6x16};

// ---- small-M GEMV ----

static inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

static inline __m256 load_w(const float* p) { return _mm256_loadu_ps(p); }
static inline float widen(float v) { return v; }
// bf16 → f32 is exact: a 16-bit left shift.
static inline __m256 load_w(const uint16_t* p) {
  const __m256i u = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i*)p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(u, 16));
}
static inline float widen(uint16_t h) { return _mm_cvtss_f32(_mm_castsi128_ps(_mm_cvtsi32_si128((int)h << 16))); }

// c[m·N] (+)= x_m · w for the MB ≤ 4 rows x_m = a + m·K; two accumulators per row hide the FMA latency.
template <int MB, typename X, typename W>
static inline void dot_rows(float* c, const X* a, const W* w, int64_t N, int64_t K, int accumulate) {
  __m256 s0[MB], s1[MB];
  for (int m = 0; m < MB; m++) s0[m] = s1[m] = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 16 <= K; k += 16) {
    const __m256 w0 = load_w(w + k), w1 = load_w(w + k + 8);
    for (int m = 0; m < MB; m++) {
      s0[m] = _mm256_fmadd_ps(load_w(a + m * K + k), w0, s0[m]);
      s1[m] = _mm256_fmadd_ps(load_w(a + m * K + k + 8), w1, s1[m]);
    }
  }
  for (int m = 0; m < MB; m++) {
    float r = hsum(_mm256_add_ps(s0[m], s1[m]));
    for (int64_t kk = k; kk < K; kk++) r += widen(a[m * K + kk]) * widen(w[kk]);
    c[m * N] = accumulate ? c[m * N] + r : r;
  }
}

// W rows one after another (one front-to-back stream per thread), up to four x rows per pass.
template <typename X, typename W>
static void gemv_avx2(float* c, const X* a, const W* w, int64_t M, int64_t N, int64_t K, int64_t n0, int64_t n1,
                      int accumulate) {
  for (int64_t n = n0; n < n1; n++) {
    const W* wr = w + n * K;
    for (int64_t m = 0; m < M; m += 4) {
      float* cm = c + m * N + n;
      const X* am = a + m * K;
      switch (M - m < 4 ? M - m : 4) {
        case 1: dot_rows<1>(cm, am, wr, N, K, accumulate); break;
        case 2: dot_rows<2>(cm, am, wr, N, K, accumulate); break;
        case 3: dot_rows<3>(cm, am, wr, N, K, accumulate); break;
        default: dot_rows<4>(cm, am, wr, N, K, accumulate); break;
      }
    }
  }
}

void gemv_f32_avx2(float* c, const float* a, const float* w, int64_t M, int64_t N, int64_t K, int64_t n0,
                   int64_t n1, int accumulate) {
  gemv_avx2(c, a, w, M, N, K, n0, n1, accumulate);
}

void gemv_bf16_avx2(float* c, const uint16_t* a, const uint16_t* w, int64_t M, int64_t N, int64_t K, int64_t n0,
                     int64_t n1, int accumulate) {
  gemv_avx2(c, a, w, M, N, K, n0, n1, accumulate);
}

}  // namespace gemm
}  // namespace rrt
