#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma,avx2,bmi,bmi2,f16c")
// AVX-512 fp32 GEMM pieces: the 12×32 micro-kernel (24 zmm accumulators), the panel packers
// (16×16 register transposes, prefetched copies), and the small-M GEMV paths with fp32 or bf16
// weights. Only called when active_isa() ≥ avx512. Same results as the scalar path up to fp32
// summation order.
// GCC 12 warns inside its own AVX-512 headers (the self-initialised _mm512_undefined_* values).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "gemm.h"
#include "gemv_avx512_tiles.h"

namespace rrt {
namespace gemm {

// ---- micro-kernel ----

// 12 rows × 32 columns: per k, two B vectors and twelve broadcasts of A feed 24 FMAs, so the
// FMA pipes (one zmm FMA per cycle on Zen 4) outrun the loads. Ã is [kp][12], B̃ [kp][32].
constexpr int kMr = 12, kNr = 32;

static void ukernel_12x32(int64_t kp, const void* av, const void* bv, float* c, int64_t ldc, int load_c) {
  const float* a = (const float*)av;
  const float* b = (const float*)bv;
  __m512 c0[kMr], c1[kMr];
#pragma GCC unroll 12
  for (int i = 0; i < kMr; i++) {
    _mm_prefetch((const char*)(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch((const char*)(c + i * ldc + kNr - 1), _MM_HINT_T0);
    c0[i] = _mm512_setzero_ps();
    c1[i] = _mm512_setzero_ps();
  }
  for (int64_t k = 0; k < kp; k++) {
    const __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
    _mm_prefetch((const char*)(b + 8 * kNr), _MM_HINT_T0);
    _mm_prefetch((const char*)(b + 8 * kNr + 16), _MM_HINT_T0);
#pragma GCC unroll 12
    for (int i = 0; i < kMr; i++) {
      const __m512 ai = _mm512_set1_ps(a[i]);
      c0[i] = _mm512_fmadd_ps(ai, b0, c0[i]);
      c1[i] = _mm512_fmadd_ps(ai, b1, c1[i]);
    }
    a += kMr;
    b += kNr;
  }
#pragma GCC unroll 12
  for (int i = 0; i < kMr; i++) {
    float* cr = c + i * ldc;
    if (load_c) {
      c0[i] = _mm512_add_ps(c0[i], _mm512_loadu_ps(cr));
      c1[i] = _mm512_add_ps(c1[i], _mm512_loadu_ps(cr + 16));
    }
    _mm512_storeu_ps(cr, c0[i]);
    _mm512_storeu_ps(cr + 16, c1[i]);
  }
}

// kc = 512: the A block (144×512×4 = 288 KiB) and the B micro-panel it meets (512×32×4 = 64 KiB,
// reused by the block's 12 tiles) stay in the 1 MiB L2, and each C tile is read and written once
// per 512 k (kc = 256 measured ~5 % slower on 1024³).
const Kit kit_f32_avx512 = {kMr, kNr, 512, 144, 4096, 1, ukernel_12x32};

// ---- packers ----

// In-register transpose of 16 rows of 16 lanes (unpack, then 64-bit, then two 128-bit shuffles).
static inline void transpose16(__m512 r[16]) {
  __m512 t[16], u[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    u[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
    u[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xee);
    u[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    u[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xee);
  }
  // u[4q + j] holds columns j, j+4, j+8, j+12 (one per 128-bit lane) of rows 4q..4q+3.
  for (int j = 0; j < 4; j++) {
    const __m512 a = _mm512_shuffle_f32x4(u[j], u[4 + j], 0x88), b = _mm512_shuffle_f32x4(u[j], u[4 + j], 0xdd);
    const __m512 c = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0x88), d = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0xdd);
    r[j] = _mm512_shuffle_f32x4(a, c, 0x88);
    r[j + 8] = _mm512_shuffle_f32x4(a, c, 0xdd);
    r[j + 4] = _mm512_shuffle_f32x4(b, d, 0x88);
    r[j + 12] = _mm512_shuffle_f32x4(b, d, 0xdd);
  }
}

static inline __mmask16 lanes(int64_t n) { return n >= 16 ? (__mmask16)0xffff : n <= 0 ? 0 : (__mmask16)((1u << n) - 1); }

// One panel dst[k][w] (w ≤ 32) from `rows` ≤ w rows contiguous along k: 16×16 blocks through
// registers, missing rows read as zeros. Moves 32-bit units, so it also packs bf16 pairs.
void pack_t32_avx512(uint32_t* dst, const uint32_t* src, int64_t rs, int64_t rows, int64_t kc, int w) {
  for (int g = 0; g * 16 < w; g++) {
    const int64_t g_rows = rows - 16 * g;
    const __mmask16 store = lanes(w - 16 * g);
    for (int64_t k0 = 0; k0 < kc; k0 += 16) {
      const __mmask16 load = lanes(kc - k0);
      __m512 r[16];
      for (int i = 0; i < 16; i++)
        r[i] = i < g_rows ? _mm512_maskz_loadu_ps(load, src + (16 * g + i) * rs + k0) : _mm512_setzero_ps();
      transpose16(r);
      const int64_t kn = kc - k0 < 16 ? kc - k0 : 16;
      for (int64_t kk = 0; kk < kn; kk++) _mm512_mask_storeu_ps(dst + (k0 + kk) * w + 16 * g, store, r[kk]);
    }
  }
}

// The copy path reads short segments of many k-rows (e.g. 132 floats every 4 KiB for the A block of
// a TN product), a pattern the hardware prefetchers miss; prefetching 16 k-rows ahead measured
// ~8 % faster on TN 1024³.
constexpr int64_t kCopyPrefetchRows = 16;

// Fast paths for the two contiguous layouts: rows along k (transposed panel by panel) or k-rows
// (copied k by k across all panels, so each source row segment is read once, front to back).
void pack_f32_avx512(void* dstv, const void* srcv, int64_t rs, int64_t ks, int64_t rows, int64_t kc, int w) {
  float* dst = (float*)dstv;
  const float* src = (const float*)srcv;
  if (ks == 1) {
    for (int64_t r = 0; r < rows; r += w)
      pack_t32_avx512((uint32_t*)dst + r * kc, (const uint32_t*)src + r * rs, rs, rows - r < w ? rows - r : w, kc, w);
    return;
  }
  if (rs != 1) return pack_f32(dstv, srcv, rs, ks, rows, kc, w);
  for (int64_t k = 0; k < kc; k++) {
    if (k + kCopyPrefetchRows < kc)
      for (int64_t r = 0; r < rows; r += 16)
        _mm_prefetch((const char*)(src + (k + kCopyPrefetchRows) * ks + r), _MM_HINT_T0);
    for (int64_t r = 0; r < rows; r += w)
      for (int g = 0; g * 16 < w; g++)
        _mm512_mask_storeu_ps(dst + r * kc + k * w + 16 * g, lanes(w - 16 * g),
                              _mm512_maskz_loadu_ps(lanes(rows - r - 16 * g), src + k * ks + r + 16 * g));
  }
}

// ---- small-M GEMV ----

// Each pass computes a tile of MB ≤ 4 rows × NB columns with two accumulators per output (even and
// odd 16-lane blocks of k, so the FMA chains hide their latency even for one output): per 32
// lanes of k it loads 2·NB vectors of W once and 2·MB of x once, for 2·MB·NB FMAs, so with
// several rows the FMA pipes rather than the loads set the pace (one column at a time reloads x
// for every column: 1.25 loads per FMA, measured 1.4-2x slower at M = 4-8). Rows beyond 4 take
// further passes over the same columns, whose W is then in L1. The NB rows of W are adjacent in
// memory, so each thread still reads its slice of W front to back. bf16 → f32 is exact (a 16-bit
// left shift): the bf16 path (bf16 x and W, for CPUs without AVX512-BF16) widens both and forms
// the same exact products in fp32 FMAs. The tiling (which tile for which M) is in
// gemv_avx512_tiles.h, shared with the vdpbf16ps build.
static inline __m512 load_w(const float* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
static inline __m512 load_w(const uint16_t* p, __mmask16 m) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p)), 16));
}

// acc[m][j] += x_m[k..k+16) · w_j[k..k+16) (t masks the tail); x and W each f32 or bf16.
template <int MB, int NB, typename X, typename W>
static inline void tile_step(__m512 (&acc)[MB][NB], const X* a, const W* w, int64_t K, int64_t k, __mmask16 t) {
  __m512 wv[NB];
#pragma GCC unroll 8
  for (int j = 0; j < NB; j++) wv[j] = load_w(w + j * K + k, t);
#pragma GCC unroll 4
  for (int m = 0; m < MB; m++) {
    const __m512 x = load_w(a + m * K + k, t);
#pragma GCC unroll 8
    for (int j = 0; j < NB; j++) acc[m][j] = _mm512_fmadd_ps(x, wv[j], acc[m][j]);
  }
}

template <int MB, int NB, bool Prefetch, typename X, typename W>
static inline void tile(float* c, const X* a, const W* w, int64_t N, int64_t K, int accumulate) {
  __m512 s0[MB][NB], s1[MB][NB];
#pragma GCC unroll 4
  for (int m = 0; m < MB; m++)
#pragma GCC unroll 8
    for (int j = 0; j < NB; j++) s0[m][j] = s1[m][j] = _mm512_setzero_ps();
  // With Prefetch, the next tile's NB·K weights stream into L2 while this tile runs (into L1 they
  // would evict x and this tile at K = 1536; for one row, one column at a time, the hardware
  // prefetcher alone is faster); on the last tile this reads past W, which prefetch ignores.
  constexpr int kLinesPerStep = NB * 32 * (int)sizeof(W) / 64;
  const char* next = (const char*)(w + NB * K);
  int64_t k = 0;
  for (; k + 32 <= K; k += 32) {
#pragma GCC unroll 8
    for (int i = 0; i < (Prefetch ? kLinesPerStep : 0); i++) _mm_prefetch(next + (k / 32 * kLinesPerStep + i) * 64, _MM_HINT_T1);
    tile_step<MB, NB>(s0, a, w, K, k, 0xffff);
    tile_step<MB, NB>(s1, a, w, K, k + 16, 0xffff);
  }
  for (; k < K; k += 16) tile_step<MB, NB>(s0, a, w, K, k, lanes(K - k));
  store_tile<MB, NB>(c, N, s0, s1, accumulate);
}

// One row streams one column at a time with no software prefetch: the hardware prefetcher alone
// was faster for a single stream.
void gemv_f32_avx512(float* c, const float* a, const float* w, int64_t M, int64_t N, int64_t K, int64_t n0,
                     int64_t n1, int accumulate) {
  gemv_tiles<false>(c, a, w, M, N, K, n0, n1, accumulate);
}

void gemv_bf16_avx512(float* c, const uint16_t* a, const uint16_t* w, int64_t M, int64_t N, int64_t K, int64_t n0,
                      int64_t n1, int accumulate) {
  gemv_tiles<false>(c, a, w, M, N, K, n0, n1, accumulate);
}

}  // namespace gemm
}  // namespace rrt
