#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma,avx2")
// Small-M GEMV with bf16 A and bf16 W by vdpbf16ps (AVX512-BF16); only called when active_isa() ==
// avx512bf16. One vdpbf16ps adds 32 exact bf16 products (16 pairs) into fp32 lanes, half the
// instructions per weight of widening W to fp32 and one FMA per 16 products, and no widening:
// measured 1.4x the widening path for one row on L3-resident weights and 1.6-2x at 4-8 rows
// (single thread, 1536 × 576). Tiles as in gemm_avx512.cpp (gemv_avx512_tiles.h): up to 4 rows ×
// 3-4 columns, two accumulators per output (even and odd 32-blocks of k), rows beyond 4 in
// further passes over L1-resident W, a later tile prefetched into L2 on the first pass. Full
// blocks use plain loads: a masked 16-bit load (vmovdqu16 with a mask) measured ~1.5x slower
// here on Zen 4.
// GCC 12 warns inside its own AVX-512 headers (the self-initialised _mm512_undefined_* values).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstdint>
#include <type_traits>

#include "gemm.h"
#include "gemv_avx512_tiles.h"

namespace rrt {
namespace gemm {

static inline __mmask32 lanes32(int64_t n) { return n >= 32 ? 0xffffffffu : n <= 0 ? 0 : (__mmask32)((1u << n) - 1); }

static inline __m512bh load_bf16(const uint16_t* p, __mmask32 m) {
  return (__m512bh)(m == 0xffffffffu ? _mm512_loadu_si512(p) : _mm512_maskz_loadu_epi16(m, p));
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
template <int MB, int NB, bool Prefetch, typename X, typename W>
static inline void tile(float* c, const X* a, const W* w, int64_t N, int64_t K, int accumulate) {
  static_assert(std::is_same<X, uint16_t>::value && std::is_same<W, uint16_t>::value, "bf16 operands only");
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
  store_tile<MB, NB>(c, N, s0, s1, accumulate);
}

void gemv_bf16_avx512bf16(float* c, const uint16_t* a, const uint16_t* w, int64_t M, int64_t N, int64_t K,
                          int64_t n0, int64_t n1, int accumulate) {
  gemv_tiles<true>(c, a, w, M, N, K, n0, n1, accumulate);
}

}  // namespace gemm
}  // namespace rrt
