#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma,avx2")
// Small-M GEMV with bf16 A and bf16 W by vdpbf16ps (AVX512-BF16); only called when active_isa() ==
// avx512bf16. One vdpbf16ps adds 32 exact bf16 products (16 pairs) into fp32 lanes, half the
// instructions per weight of widening W to fp32 and one FMA per 16 products, and no widening:
// measured 1.4x the widening path for one row on L3-resident weights and 1.6-2x at 4-8 rows
// (single thread, 1536 × 576). Tiles as in gemm_avx512.cpp: up to 4 rows × 3-4 columns, two
// accumulators per output (even and odd 32-blocks of k), rows beyond 4 in further passes over
// L1-resident W, a later tile prefetched into L2 on the first pass. Full blocks use plain
// loads: a masked 16-bit load (vmovdqu16 with a mask) measured ~1.5x slower here on Zen 4.
// Every output sums its k in the same order whatever M and the tile, so a row of a batch gets
// the bits it gets alone (tested).
// GCC 12 warns inside its own AVX-512 headers (the self-initialised _mm512_undefined_* values).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstdint>
#include <type_traits>

#include "gemm.h"

namespace rrt {
namespace gemm {

static inline __mmask32 lanes32(int64_t n) { return n >= 32 ? 0xffffffffu : n <= 0 ? 0 : (__mmask32)((1u << n) - 1); }

static inline __m512bh load_bf16(const uint16_t* p, __mmask32 m) {
  return (__m512bh)(m == 0xffffffffu ? _mm512_loadu_si512(p) : _mm512_maskz_loadu_epi16(m, p));
}

// The four lane sums of a, b, c, d (the same tree as gemm_avx512.cpp's).
static inline __m128 sum4(__m512 a, __m512 b, __m512 c, __m512 d) {
  auto half = [](__m512 v) {
    const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
  };
  return _mm_hadd_ps(_mm_hadd_ps(half(a), half(b)), _mm_hadd_ps(half(c), half(d)));
}

// acc[m][j] += x_m[k..k+32) · w_j[k..k+32) (t masks the tail).
template <int MB, int NB>
static inline void tile_step(__m512 (&acc)[MB][NB], const uint16_t* a, const uint16_t* w, int64_t K, int64_t k,
                             __mmask32 t) {
  __m512bh wv[NB];
#pragma GCC unroll 8
  for (int j = 0; j < NB; j++) wv[j] = load_bf16(w + j * K + k, t);
#pragma GCC unroll 4
  for (int m = 0; m < MB; m++) {
    const __m512bh x = load_bf16(a + m * K + k, t);
#pragma GCC unroll 8
    for (int j = 0; j < NB; j++) acc[m][j] = _mm512_dpbf16_ps(acc[m][j], x, wv[j]);
  }
}

// With Prefetch, the first pass over a tile prefetches the tile `ahead` tiles on into L2 (more than
// one ahead for several rows: a tile of 3 short rows of W is too short a stream for the hardware
// prefetcher, and one tile of work hides less than a DRAM latency; measured at 2 threads on a
// DRAM-resident 49152 × 576 head, 4 rows: 1.24x → 1.7-1.85x the widening GEMV).
template <int MB, int NB, bool Prefetch>
static inline void tile(float* c, const uint16_t* a, const uint16_t* w, int64_t N, int64_t K, int accumulate) {
  constexpr int ahead = MB == 1 ? 1 : 3;
  __m512 s0[MB][NB], s1[MB][NB];
#pragma GCC unroll 4
  for (int m = 0; m < MB; m++)
#pragma GCC unroll 8
    for (int j = 0; j < NB; j++) s0[m][j] = s1[m][j] = _mm512_setzero_ps();
  // one line per row per 32 k (past the end of W near the last tile: a prefetch there is ignored)
  const uint16_t* next = w + ahead * NB * K;
  int64_t k = 0;
  for (; k + 64 <= K; k += 64) {
#pragma GCC unroll 8
    for (int j = 0; j < (Prefetch ? NB : 0); j++) {
      _mm_prefetch((const char*)(next + j * K + k), _MM_HINT_T1);
      _mm_prefetch((const char*)(next + j * K + k + 32), _MM_HINT_T1);
    }
    tile_step<MB, NB>(s0, a, w, K, k, 0xffffffffu);
    tile_step<MB, NB>(s1, a, w, K, k + 32, 0xffffffffu);
  }
  for (; k < K; k += 32) tile_step<MB, NB>(s0, a, w, K, k, lanes32(K - k));
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

// Columns [n0, n1) of M ≤ 3 rows: one pass per tile of NB columns, then single columns.
template <int M, int NB>
static void columns(float* c, const uint16_t* a, const uint16_t* w, int64_t N, int64_t K, int64_t n0, int64_t n1,
                    int accumulate) {
  int64_t n = n0;
  for (; n + NB <= n1; n += NB) tile<M, NB, true>(c + n, a, w + n * K, N, K, accumulate);
  for (; n < n1; n++) tile<M, 1, true>(c + n, a, w + n * K, N, K, accumulate);
}

// Columns [n0, n1) of M ≥ 4 rows: tiles of 3 columns, rows in passes of 4 (the first pass
// prefetches), then single columns.
static void columns_in_passes(float* c, const uint16_t* a, const uint16_t* w, int64_t M, int64_t N, int64_t K,
                              int64_t n0, int64_t n1, int accumulate) {
  auto run = [&](auto nb, int64_t n) {
    constexpr int B = decltype(nb)::value;
    const uint16_t* wn = w + n * K;
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

void gemv_bf16_avx512bf16(float* c, const uint16_t* a, const uint16_t* w, int64_t M, int64_t N, int64_t K,
                          int64_t n0, int64_t n1, int accumulate) {
  switch (M) {
    case 1: return columns<1, 1>(c, a, w, N, K, n0, n1, accumulate);
    case 2: return columns<2, 4>(c, a, w, N, K, n0, n1, accumulate);
    case 3: return columns<3, 4>(c, a, w, N, K, n0, n1, accumulate);
    default: return columns_in_passes(c, a, w, M, N, K, n0, n1, accumulate);
  }
}

}  // namespace gemm
}  // namespace rrt
