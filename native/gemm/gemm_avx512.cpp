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

#include "gemm.h"

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

// W rows are consumed one after another, so each thread reads its slice of W as a single
// front-to-back stream (the access pattern of the read-bandwidth probe); the ≤ 8 x rows stay in
// L1/L2. bf16 → f32 is exact (a 16-bit left shift), so the bf16 path widens W and keeps x in fp32:
// fp32 products and sums, at half the weight bytes.
static inline __m512 load_w(const float* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
static inline __m512 load_w(const uint16_t* p, __mmask16 m) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p)), 16));
}

// c[m·N] (+)= x_m · w for the MB ≤ 4 rows x_m = a + m·K; two accumulators per row hide the FMA latency.
template <int MB, typename W>
static inline void dot_rows(float* c, const float* a, const W* w, int64_t N, int64_t K, int accumulate) {
  __m512 s0[MB], s1[MB];
  for (int m = 0; m < MB; m++) s0[m] = s1[m] = _mm512_setzero_ps();
  int64_t k = 0;
  for (; k + 32 <= K; k += 32) {
    const __m512 w0 = load_w(w + k, 0xffff), w1 = load_w(w + k + 16, 0xffff);
    for (int m = 0; m < MB; m++) {
      s0[m] = _mm512_fmadd_ps(_mm512_loadu_ps(a + m * K + k), w0, s0[m]);
      s1[m] = _mm512_fmadd_ps(_mm512_loadu_ps(a + m * K + k + 16), w1, s1[m]);
    }
  }
  for (; k < K; k += 16) {
    const __mmask16 t = lanes(K - k);
    const __m512 w0 = load_w(w + k, t);
    for (int m = 0; m < MB; m++) s0[m] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(t, a + m * K + k), w0, s0[m]);
  }
  for (int m = 0; m < MB; m++) {
    const float r = _mm512_reduce_add_ps(_mm512_add_ps(s0[m], s1[m]));
    c[m * N] = accumulate ? c[m * N] + r : r;
  }
}

template <typename W>
static void gemv(float* c, const float* a, const W* w, int64_t M, int64_t N, int64_t K, int64_t n0, int64_t n1,
                 int accumulate) {
  for (int64_t n = n0; n < n1; n++) {
    const W* wr = w + n * K;
    for (int64_t m = 0; m < M; m += 4) {  // later groups find the row in L1
      float* cm = c + m * N + n;
      const float* am = a + m * K;
      switch (M - m < 4 ? M - m : 4) {
        case 1: dot_rows<1>(cm, am, wr, N, K, accumulate); break;
        case 2: dot_rows<2>(cm, am, wr, N, K, accumulate); break;
        case 3: dot_rows<3>(cm, am, wr, N, K, accumulate); break;
        default: dot_rows<4>(cm, am, wr, N, K, accumulate); break;
      }
    }
  }
}

void gemv_f32_avx512(float* c, const float* a, const float* w, int64_t M, int64_t N, int64_t K, int64_t n0,
                     int64_t n1, int accumulate) {
  gemv(c, a, w, M, N, K, n0, n1, accumulate);
}

void gemv_bf16w_avx512(float* c, const float* a, const uint16_t* w, int64_t M, int64_t N, int64_t K, int64_t n0,
                       int64_t n1, int accumulate) {
  gemv(c, a, w, M, N, K, n0, n1, accumulate);
}

}  // namespace gemm
}  // namespace rrt
