#pragma GCC target("avx2,fma")
// AVX2 fp32 GEMM pieces for CPUs without AVX-512: the 6×16 micro-kernel (12 ymm accumulators,
// 15 of the 16 registers) and the small-M GEMV paths with fp32 or bf16 weights. Only called when
// active_isa() == avx2. Same results as the scalar path up to fp32 summation order.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

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
// Tiles of up to 4 rows × 3 columns: 12 accumulators, 3 W vectors and one x vector fill the 16
// ymm registers (1-2 rows: 6 or 4 columns), so each W vector loaded (and widened, for bf16) feeds 4 FMAs and each x vector
// 3 (one row × one column per pass measured ~45 % of the FMA peak at 32 rows: loads and bf16
// widening, not FMAs, were the limit). Every output
// sums k in 8 lanes, then the lanes in one fixed tree, then the K % 8 tail in order, whatever
// the tile: a row of a batch gets the bits it gets alone.

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

// c[m·N + j] (+)= x_m · w_j for the MB rows x_m = a + m·K and NB columns w_j = w + j·K.
template <int MB, int NB, typename X, typename W>
static inline void dot_tile(float* c, const X* a, const W* w, int64_t N, int64_t K, int accumulate) {
  __m256 acc[MB][NB];
#pragma GCC unroll 4
  for (int m = 0; m < MB; m++)
#pragma GCC unroll 6
    for (int j = 0; j < NB; j++) acc[m][j] = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 8 <= K; k += 8) {
    __m256 wv[NB];
#pragma GCC unroll 6
    for (int j = 0; j < NB; j++) wv[j] = load_w(w + j * K + k);
#pragma GCC unroll 4
    for (int m = 0; m < MB; m++) {
      const __m256 av = load_w(a + m * K + k);
#pragma GCC unroll 6
      for (int j = 0; j < NB; j++) acc[m][j] = _mm256_fmadd_ps(av, wv[j], acc[m][j]);
    }
  }
  for (int m = 0; m < MB; m++)
    for (int j = 0; j < NB; j++) {
      float r = hsum(acc[m][j]);
      for (int64_t kk = k; kk < K; kk++) r += widen(a[m * K + kk]) * widen(w[j * K + kk]);
      float* out = c + m * N + j;
      *out = accumulate ? *out + r : r;
    }
}

// Rows [0, M) of one tile of NB columns, in passes of up to 4 rows over the tile's W (in L1 after the first).
template <int NB, typename X, typename W>
static inline void column_tile(float* c, const X* a, const W* w, int64_t M, int64_t N, int64_t K, int accumulate) {
  int64_t m = 0;
  for (; m + 4 <= M; m += 4) dot_tile<4, NB>(c + m * N, a + m * K, w, N, K, accumulate);
  switch (M - m) {
    case 3: dot_tile<3, NB>(c + m * N, a + m * K, w, N, K, accumulate); break;
    case 2: dot_tile<2, NB>(c + m * N, a + m * K, w, N, K, accumulate); break;
    case 1: dot_tile<1, NB>(c + m * N, a + m * K, w, N, K, accumulate); break;
    default: break;
  }
}

// Columns [n0, n1) in tiles of NB, then the rest one at a time.
template <int NB, typename X, typename W>
static void column_tiles(float* c, const X* a, const W* w, int64_t M, int64_t N, int64_t K, int64_t n0, int64_t n1,
                         int accumulate) {
  int64_t n = n0;
  for (; n + NB <= n1; n += NB) column_tile<NB>(c + n, a, w + n * K, M, N, K, accumulate);
  for (; n < n1; n++) column_tile<1>(c + n, a, w + n * K, M, N, K, accumulate);
}

// bf16 rows widened to f32 once per call (exact), so the tiles' x loads are plain loads: with
// several rows, widening each x vector again for every column tile cost more than the FMAs.
static const float* widened_rows(const uint16_t* a, int64_t n) {
  struct Buf {
    float* p = nullptr;
    int64_t n = 0;
    ~Buf() { std::free(p); }
  };
  static thread_local Buf buf;
  if (buf.n < n) {
    std::free(buf.p);
    buf.n = 0;
    buf.p = (float*)std::aligned_alloc(32, (size_t)((n * 4 + 31) / 32 * 32));
    if (!buf.p) throw std::bad_alloc();
    buf.n = n;
  }
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_store_ps(buf.p + i, load_w(a + i));
  for (; i < n; i++) buf.p[i] = widen(a[i]);
  return buf.p;
}

// Tiles wide enough for ≥ 6 independent FMA chains (the FMA latency is 4-5 cycles): 6 columns for
// one row, 4 for two, 3 (with 4-row passes) beyond.
template <typename X, typename W>
static void gemv_avx2(float* c, const X* a, const W* w, int64_t M, int64_t N, int64_t K, int64_t n0, int64_t n1,
                      int accumulate) {
  if (n1 <= n0) return;
  if (M == 1) return column_tiles<6>(c, a, w, M, N, K, n0, n1, accumulate);
  if constexpr (sizeof(X) == 2) {
    const float* af = widened_rows(a, M * K);
    if (M == 2) column_tiles<4>(c, af, w, M, N, K, n0, n1, accumulate);
    else column_tiles<3>(c, af, w, M, N, K, n0, n1, accumulate);
  } else {
    if (M == 2) column_tiles<4>(c, a, w, M, N, K, n0, n1, accumulate);
    else column_tiles<3>(c, a, w, M, N, K, n0, n1, accumulate);
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
