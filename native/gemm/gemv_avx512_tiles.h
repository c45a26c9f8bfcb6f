// The small-M GEMV's tiling, shared by the two AVX-512 builds (gemm_avx512.cpp: fp32 FMAs;
// gemv_avx512bf16.cpp: vdpbf16ps). Each includer defines the tile kernel declared below, which
// computes an MB × NB tile (MB ≤ 4 rows, NB ≤ 4 columns) into two accumulator sets and finishes
// with store_tile. Everything here is static: each ISA file compiles its own copy.
// Every output sums its lanes in the same order whatever M and NB, so a row of a batch gets the
// bits it gets alone (batched decoding = serial decoding; tested).
#pragma once
#include <immintrin.h>

#include <cstdint>
#include <type_traits>

namespace rrt {
namespace gemm {

// The includer's tile kernel (see above).
template <int MB, int NB, bool Prefetch, typename X, typename W>
static inline void tile(float* c, const X* a, const W* w, int64_t N, int64_t K, int accumulate);

// The four lane sums of a, b, c, d (one fixed tree per vector: halves, quarters, then pairs).
static inline __m128 sum4(__m512 a, __m512 b, __m512 c, __m512 d) {
  auto half = [](__m512 v) {
    const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
  };
  return _mm_hadd_ps(_mm_hadd_ps(half(a), half(b)), _mm_hadd_ps(half(c), half(d)));
}

// c[m·N + j] (+)= the lane sum of s0[m][j] + s1[m][j].
template <int MB, int NB>
static inline void store_tile(float* c, int64_t N, const __m512 (&s0)[MB][NB], const __m512 (&s1)[MB][NB],
                              int accumulate) {
  const __m512 z = _mm512_setzero_ps();
  auto sum = [&](int m, int j) { return j < NB ? _mm512_add_ps(s0[m][j], s1[m][j]) : z; };
#pragma GCC unroll 4
  for (int m = 0; m < MB; m++) {
    float* cm = c + m * N;
#pragma GCC unroll 8
    for (int j = 0; j < NB; j += 4) {
      alignas(16) float r[4];
      _mm_store_ps(r, sum4(sum(m, j), sum(m, j + 1), sum(m, j + 2), sum(m, j + 3)));
      for (int i = 0; i < 4 && j + i < NB; i++) cm[j + i] = accumulate ? cm[j + i] + r[i] : r[i];
    }
  }
}

// Columns [n0, n1) of M ≤ 3 rows: one pass per tile of NB columns, then single columns; the
// pass prefetches when Prefetch.
template <int M, int NB, bool Prefetch, typename X, typename W>
static void columns(float* c, const X* a, const W* w, int64_t N, int64_t K, int64_t n0, int64_t n1, int accumulate) {
  int64_t n = n0;
  for (; n + NB <= n1; n += NB) tile<M, NB, Prefetch>(c + n, a, w + n * K, N, K, accumulate);
  for (; n < n1; n++) tile<M, 1, Prefetch>(c + n, a, w + n * K, N, K, accumulate);
}

// Columns [n0, n1) of M ≥ 4 rows: tiles of 3 columns, rows in passes of 4 over the tile's W (in
// L1 after the first pass, which prefetches), then single columns.
template <typename X, typename W>
static void columns_in_passes(float* c, const X* a, const W* w, int64_t M, int64_t N, int64_t K, int64_t n0,
                              int64_t n1, int accumulate) {
  auto run = [&](auto nb, int64_t n) {
    constexpr int B = decltype(nb)::value;
    const W* wn = w + n * K;
    tile<4, B, true>(c + n, a, wn, N, K, accumulate);
    int64_t m = 4;
    for (; m + 4 <= M; m += 4) tile<4, B, false>(c + m * N + n, a + m * K, wn, N, K, accumulate);
    switch (M - m) {
      case 1: tile<1, B, false>(c + m * N + n, a + m * K, wn, N, K, accumulate); break;
      case 2: tile<2, B, false>(c + m * N + n, a + m * K, wn, N, K, accumulate); break;
      case 3: tile<3, B, false>(c + m * N + n, a + m * K, wn, N, K, accumulate); break;
      default: break;
    }
  };
  int64_t n = n0;
  for (; n + 3 <= n1; n += 3) run(std::integral_constant<int, 3>(), n);
  for (; n < n1; n++) run(std::integral_constant<int, 1>(), n);
}

// Widest tiles that keep both accumulator sets and the W vectors within the 32 zmm registers:
// one row one column at a time (a single stream the hardware prefetcher follows; prefetching
// only when asked), 2-3 rows four columns, more rows in passes.
template <bool PrefetchOneRow, typename X, typename W>
static void gemv_tiles(float* c, const X* a, const W* w, int64_t M, int64_t N, int64_t K, int64_t n0, int64_t n1,
                       int accumulate) {
  switch (M) {
    case 1: return columns<1, 1, PrefetchOneRow>(c, a, w, N, K, n0, n1, accumulate);
    case 2: return columns<2, 4, true>(c, a, w, N, K, n0, n1, accumulate);
    case 3: return columns<3, 4, true>(c, a, w, N, K, n0, n1, accumulate);
    default: return columns_in_passes(c, a, w, M, N, K, n0, n1, accumulate);
  }
}

}  // namespace gemm
}  // namespace rrt
