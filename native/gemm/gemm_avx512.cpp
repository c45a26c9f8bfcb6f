#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma,avx2,bmi,bmi2,f16c")
// AVX-512 fp32 GEMM pieces: the 12×32 micro-kernel (24 zmm accumulators), a transposing panel
// packer, and the small-M GEMV paths with fp32 or bf16 weights. Only called when
// active_isa() ≥ avx512. Same results as the scalar path up to fp32 summation order.
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

// kc = 512: the A block (144×512×4 = 288 KiB) stays in the 1 MiB L2 and the B micro-panel (64 KiB)
// streams from it; C tiles are read and written once per 512 k (kc = 256 measured ~5 % slower).
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

// dst[k][w] (w ≤ 32) from `rows` rows that are contiguous along k: 16×16 blocks through registers,
// missing rows read as zeros. Moves 32-bit units, so it also packs bf16 pairs.
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

// Fast paths for the two contiguous layouts: rows along k (transpose) or k-rows (copy).
void pack_f32_avx512(void* dstv, const void* srcv, int64_t rs, int64_t ks, int64_t rows, int64_t kc, int w) {
  float* dst = (float*)dstv;
  const float* src = (const float*)srcv;
  if (ks == 1) return pack_t32_avx512((uint32_t*)dst, (const uint32_t*)src, rs, rows, kc, w);
  if (rs != 1) return pack_f32(dstv, srcv, rs, ks, rows, kc, w);
  for (int64_t k = 0; k < kc; k++)
    for (int g = 0; g * 16 < w; g++)
      _mm512_mask_storeu_ps(dst + k * w + 16 * g, lanes(w - 16 * g),
                            _mm512_maskz_loadu_ps(lanes(rows - 16 * g), src + k * ks + 16 * g));
}

// ---- small-M GEMV ----

static inline float hsum(__m512 v) { return _mm512_reduce_add_ps(v); }

// Four W rows at a time against each of the M ≤ 8 x rows: W is read once, x stays in L1.
void gemv_f32_avx512(float* c, const float* a, const float* w, int64_t M, int64_t N, int64_t K, int64_t n0,
                     int64_t n1, int accumulate) {
  const int64_t k16 = K & ~int64_t(15);
  const __mmask16 tail = (__mmask16)((1u << (K - k16)) - 1);
  int64_t n = n0;
  for (; n + 4 <= n1; n += 4) {
    const float* w0 = w + n * K;
    for (int64_t m = 0; m < M; m++) {
      const float* x = a + m * K;
      __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
      int64_t k = 0;
      for (; k < k16; k += 16) {
        const __m512 xv = _mm512_loadu_ps(x + k);
        s0 = _mm512_fmadd_ps(xv, _mm512_loadu_ps(w0 + k), s0);
        s1 = _mm512_fmadd_ps(xv, _mm512_loadu_ps(w0 + K + k), s1);
        s2 = _mm512_fmadd_ps(xv, _mm512_loadu_ps(w0 + 2 * K + k), s2);
        s3 = _mm512_fmadd_ps(xv, _mm512_loadu_ps(w0 + 3 * K + k), s3);
      }
      if (tail) {
        const __m512 xv = _mm512_maskz_loadu_ps(tail, x + k);
        s0 = _mm512_fmadd_ps(xv, _mm512_maskz_loadu_ps(tail, w0 + k), s0);
        s1 = _mm512_fmadd_ps(xv, _mm512_maskz_loadu_ps(tail, w0 + K + k), s1);
        s2 = _mm512_fmadd_ps(xv, _mm512_maskz_loadu_ps(tail, w0 + 2 * K + k), s2);
        s3 = _mm512_fmadd_ps(xv, _mm512_maskz_loadu_ps(tail, w0 + 3 * K + k), s3);
      }
      float* cr = c + m * N + n;
      const float r[4] = {hsum(s0), hsum(s1), hsum(s2), hsum(s3)};
      for (int q = 0; q < 4; q++) cr[q] = accumulate ? cr[q] + r[q] : r[q];
    }
  }
  for (; n < n1; n++) {
    const float* wr = w + n * K;
    for (int64_t m = 0; m < M; m++) {
      const float* x = a + m * K;
      __m512 s = _mm512_setzero_ps();
      int64_t k = 0;
      for (; k < k16; k += 16) s = _mm512_fmadd_ps(_mm512_loadu_ps(x + k), _mm512_loadu_ps(wr + k), s);
      if (tail) s = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, x + k), _mm512_maskz_loadu_ps(tail, wr + k), s);
      float* cr = c + m * N + n;
      *cr = accumulate ? *cr + hsum(s) : hsum(s);
    }
  }
}

// bf16 → f32 is exact (a 16-bit left shift), so widening W and keeping x in fp32 gives fp32
// products; the weight stream is half the bytes of the fp32 path.
static inline __m512 load_bf16(const uint16_t* p) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i*)p)), 16));
}
static inline __m512 load_bf16_mask(__mmask16 m, const uint16_t* p) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p)), 16));
}

void gemv_bf16w_avx512(float* c, const float* a, const uint16_t* w, int64_t M, int64_t N, int64_t K, int64_t n0,
                       int64_t n1, int accumulate) {
  const int64_t k16 = K & ~int64_t(15);
  const __mmask16 tail = (__mmask16)((1u << (K - k16)) - 1);
  int64_t n = n0;
  for (; n + 4 <= n1; n += 4) {
    const uint16_t* w0 = w + n * K;
    for (int64_t m = 0; m < M; m++) {
      const float* x = a + m * K;
      __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
      int64_t k = 0;
      for (; k < k16; k += 16) {
        const __m512 xv = _mm512_loadu_ps(x + k);
        s0 = _mm512_fmadd_ps(xv, load_bf16(w0 + k), s0);
        s1 = _mm512_fmadd_ps(xv, load_bf16(w0 + K + k), s1);
        s2 = _mm512_fmadd_ps(xv, load_bf16(w0 + 2 * K + k), s2);
        s3 = _mm512_fmadd_ps(xv, load_bf16(w0 + 3 * K + k), s3);
      }
      if (tail) {
        const __m512 xv = _mm512_maskz_loadu_ps(tail, x + k);
        s0 = _mm512_fmadd_ps(xv, load_bf16_mask(tail, w0 + k), s0);
        s1 = _mm512_fmadd_ps(xv, load_bf16_mask(tail, w0 + K + k), s1);
        s2 = _mm512_fmadd_ps(xv, load_bf16_mask(tail, w0 + 2 * K + k), s2);
        s3 = _mm512_fmadd_ps(xv, load_bf16_mask(tail, w0 + 3 * K + k), s3);
      }
      float* cr = c + m * N + n;
      const float r[4] = {hsum(s0), hsum(s1), hsum(s2), hsum(s3)};
      for (int q = 0; q < 4; q++) cr[q] = accumulate ? cr[q] + r[q] : r[q];
    }
  }
  for (; n < n1; n++) {
    const uint16_t* wr = w + n * K;
    for (int64_t m = 0; m < M; m++) {
      const float* x = a + m * K;
      __m512 s = _mm512_setzero_ps();
      int64_t k = 0;
      for (; k < k16; k += 16) s = _mm512_fmadd_ps(_mm512_loadu_ps(x + k), load_bf16(wr + k), s);
      if (tail) s = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, x + k), load_bf16_mask(tail, wr + k), s);
      float* cr = c + m * N + n;
      *cr = accumulate ? *cr + hsum(s) : hsum(s);
    }
  }
}

}  // namespace gemm
}  // namespace rrt
