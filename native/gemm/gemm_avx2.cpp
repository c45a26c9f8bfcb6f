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
static inline float widen(uint16_t h) {
  union {
    uint32_t u;
    float f;
  } v = {(uint32_t)h << 16};
  return v.f;
}

// Two W rows at a time against each x row; W is read once per call, x stays in L1.
template <typename W>
static void gemv_avx2(float* c, const float* a, const W* w, int64_t M, int64_t N, int64_t K, int64_t n0, int64_t n1,
                      int accumulate) {
  const int64_t k8 = K & ~int64_t(7);
  int64_t n = n0;
  for (; n + 2 <= n1; n += 2) {
    const W* w0 = w + n * K;
    const W* w1 = w0 + K;
    for (int64_t m = 0; m < M; m++) {
      const float* x = a + m * K;
      __m256 s0 = _mm256_setzero_ps(), s1 = s0, t0 = s0, t1 = s0;
      int64_t k = 0;
      for (; k + 16 <= k8; k += 16) {
        const __m256 x0 = _mm256_loadu_ps(x + k), x1 = _mm256_loadu_ps(x + k + 8);
        s0 = _mm256_fmadd_ps(x0, load_w(w0 + k), s0);
        s1 = _mm256_fmadd_ps(x0, load_w(w1 + k), s1);
        t0 = _mm256_fmadd_ps(x1, load_w(w0 + k + 8), t0);
        t1 = _mm256_fmadd_ps(x1, load_w(w1 + k + 8), t1);
      }
      for (; k < k8; k += 8) {
        const __m256 x0 = _mm256_loadu_ps(x + k);
        s0 = _mm256_fmadd_ps(x0, load_w(w0 + k), s0);
        s1 = _mm256_fmadd_ps(x0, load_w(w1 + k), s1);
      }
      float r0 = hsum(_mm256_add_ps(s0, t0)), r1 = hsum(_mm256_add_ps(s1, t1));
      for (; k < K; k++) {
        r0 += x[k] * widen(w0[k]);
        r1 += x[k] * widen(w1[k]);
      }
      float* cr = c + m * N + n;
      cr[0] = accumulate ? cr[0] + r0 : r0;
      cr[1] = accumulate ? cr[1] + r1 : r1;
    }
  }
  for (; n < n1; n++) {
    const W* wr = w + n * K;
    for (int64_t m = 0; m < M; m++) {
      const float* x = a + m * K;
      __m256 s = _mm256_setzero_ps();
      int64_t k = 0;
      for (; k < k8; k += 8) s = _mm256_fmadd_ps(_mm256_loadu_ps(x + k), load_w(wr + k), s);
      float r = hsum(s);
      for (; k < K; k++) r += x[k] * widen(wr[k]);
      float* cr = c + m * N + n;
      *cr = accumulate ? *cr + r : r;
    }
  }
}

void gemv_f32_avx2(float* c, const float* a, const float* w, int64_t M, int64_t N, int64_t K, int64_t n0,
                   int64_t n1, int accumulate) {
  gemv_avx2(c, a, w, M, N, K, n0, n1, accumulate);
}

void gemv_bf16w_avx2(float* c, const float* a, const uint16_t* w, int64_t M, int64_t N, int64_t K, int64_t n0,
                     int64_t n1, int accumulate) {
  gemv_avx2(c, a, w, M, N, K, n0, n1, accumulate);
}

}  // namespace gemm
}  // namespace rrt
