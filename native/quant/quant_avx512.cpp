#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,f16c,fma,avx2")
// AVX-512 pieces of the quantized path: activation quantization (the scalar code's bits) and the
// VNNI dot kernel. One vpdpbusd adds 4 unsigned-weight × signed-activation byte products into
// each of 16 int32 lanes, one lane per column of a 16-row panel (quant.h), so a block of 32 values
// is 8 instructions for q8_0 (4 loads + 8 for q4_0's two nibble halves) and no horizontal sums.
// Up to 4 activation rows share each weight vector loaded.
// GCC 12 warns inside its own AVX-512 headers (the self-initialised _mm512_undefined_* values).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "quant.h"

namespace rrt {
namespace quant {

static inline __m512i bcast32(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

template <int R, QType T>
static inline void panel_rows(float* c, const QRows& x, int64_t m0, const uint8_t* wp, int64_t N, int64_t c0,
                              __mmask16 mask, int accumulate) {
  constexpr int64_t pbb = panel_block_bytes(T);
  constexpr int32_t off = value_offset(T);
  const int64_t K = x.K, nb = K / kBlock;
  const __m512i nibble = _mm512_set1_epi8(0x0f);
  __m512 facc[R];
#pragma GCC unroll 4
  for (int r = 0; r < R; r++) facc[r] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* pb = wp + b * pbb;
    const uint8_t* v = pb + 2 * kPanel;
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*)pb));
    const int8_t* xq[R];
    __m512i acc[R];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
      xq[r] = x.q + (m0 + r) * K + b * kBlock;
      acc[r] = _mm512_set1_epi32(-off * x.s[(m0 + r) * nb + b]);
    }
    if (T == QType::q8_0) {
#pragma GCC unroll 8
      for (int g = 0; g < 8; g++) {
        const __m512i wv = _mm512_loadu_si512(v + 64 * g);
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) acc[r] = _mm512_dpbusd_epi32(acc[r], wv, bcast32(xq[r] + 4 * g));
      }
    } else {
#pragma GCC unroll 4
      for (int h = 0; h < 4; h++) {
        const __m512i wv = _mm512_loadu_si512(v + 64 * h);
        const __m512i lo = _mm512_and_si512(wv, nibble), hi = _mm512_and_si512(_mm512_srli_epi16(wv, 4), nibble);
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
          acc[r] = _mm512_dpbusd_epi32(acc[r], lo, bcast32(xq[r] + 4 * h));
          acc[r] = _mm512_dpbusd_epi32(acc[r], hi, bcast32(xq[r] + 16 + 4 * h));
        }
      }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
      const __m512 scale = _mm512_mul_ps(dw, _mm512_set1_ps(x.d[(m0 + r) * nb + b]));
      facc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[r]), scale, facc[r]);
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < R; r++) {
    float* cr = c + (m0 + r) * N + c0;
    __m512 out = facc[r];
    if (accumulate) out = _mm512_add_ps(out, _mm512_maskz_loadu_ps(mask, cr));
    _mm512_mask_storeu_ps(cr, mask, out);
  }
}

template <QType T>
static void run(float* c, const QRows& x, const uint8_t* w, int64_t N, int64_t n0, int64_t n1, int accumulate) {
  const int64_t nb = x.K / kBlock;
  for (int64_t p = n0 / kPanel; p * kPanel < n1; p++) {
    const uint8_t* wp = w + p * nb * panel_block_bytes(T);
    const int64_t c0 = p * kPanel, lo = n0 > c0 ? n0 - c0 : 0, hi = n1 - c0 < kPanel ? n1 - c0 : kPanel;
    const __mmask16 mask = (__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1));
    int64_t m = 0;
    for (; m + 4 <= x.M; m += 4) panel_rows<4, T>(c, x, m, wp, N, c0, mask, accumulate);
    switch (x.M - m) {
      case 3: panel_rows<3, T>(c, x, m, wp, N, c0, mask, accumulate); break;
      case 2: panel_rows<2, T>(c, x, m, wp, N, c0, mask, accumulate); break;
      case 1: panel_rows<1, T>(c, x, m, wp, N, c0, mask, accumulate); break;
      default: break;
    }
  }
}

void qgemv_avx512vnni(float* c, const QRows& x, const uint8_t* w, QType t, int64_t N, int64_t n0, int64_t n1,
                      int accumulate) {
  if (t == QType::q8_0) run<QType::q8_0>(c, x, w, N, n0, n1, accumulate);
  else run<QType::q4_0>(c, x, w, N, n0, n1, accumulate);
}

// The scalar quantize_rows's bits: max|x| and the NaN test are exact, the division and the
// nearest-even conversion are the same IEEE operations.
void quantize_rows_avx512(int8_t* q, float* d, int32_t* s, const float* x, int64_t M, int64_t K) {
  const int64_t nb = K / kBlock;
  const __m512 absmask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
  for (int64_t m = 0; m < M; m++)
    for (int64_t b = 0; b < nb; b++) {
      const float* xb = x + m * K + b * kBlock;
      const __m512 x0 = _mm512_loadu_ps(xb), x1 = _mm512_loadu_ps(xb + 16);
      const __m512 a0 = _mm512_and_ps(x0, absmask), a1 = _mm512_and_ps(x1, absmask);
      const __m512 inf = _mm512_set1_ps(INFINITY);
      // NaN or ±inf anywhere: not less than inf, unordered included
      const __mmask16 bad = _mm512_cmp_ps_mask(a0, inf, _CMP_NLT_UQ) | _mm512_cmp_ps_mask(a1, inf, _CMP_NLT_UQ);
      const __m512 zero = _mm512_setzero_ps();
      const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_max_ps(a0, zero), _mm512_max_ps(a1, zero)));
      const float db = bad ? NAN : amax / 127.0f, id = db != 0.0f ? 1.0f / db : 0.0f;
      const __m512 vid = _mm512_set1_ps(id), lim = _mm512_set1_ps(127.0f), nlim = _mm512_set1_ps(-127.0f);
      __m512 v0 = _mm512_roundscale_ps(_mm512_mul_ps(x0, vid), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      __m512 v1 = _mm512_roundscale_ps(_mm512_mul_ps(x1, vid), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      v0 = _mm512_max_ps(_mm512_min_ps(v0, lim), nlim);
      v1 = _mm512_max_ps(_mm512_min_ps(v1, lim), nlim);
      __m512i i0 = _mm512_cvtps_epi32(v0), i1 = _mm512_cvtps_epi32(v1);
      if (bad) {
        i0 = _mm512_setzero_si512();
        i1 = _mm512_setzero_si512();
      }
      _mm_storeu_si128((__m128i*)(q + m * K + b * kBlock), _mm512_cvtepi32_epi8(i0));
      _mm_storeu_si128((__m128i*)(q + m * K + b * kBlock + 16), _mm512_cvtepi32_epi8(i1));
      d[m * nb + b] = db;
      s[m * nb + b] = _mm512_reduce_add_epi32(_mm512_add_epi32(i0, i1));
    }
}

}  // namespace quant
}  // namespace rrt
