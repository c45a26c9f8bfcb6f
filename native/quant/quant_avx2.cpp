#pragma GCC target("avx2,fma,f16c")
// AVX2 dot kernel of the quantized path (CPUs without AVX-512 VNNI). A 16-row panel (quant.h) is
// two 8-column halves, one ymm of int32 lanes each. Without VNNI the byte products go through
// vpmaddubsw (unsigned × signed → saturating int16 pairs) and vpmaddwd:
//  - q8_0: the stored q + 128 times 127 would saturate, so the weights go back to signed and take
//    the activation's sign (vpsignb), multiplied by |x| (llama.cpp's trick): |products| ≤ 127·128.
//    A stored −128 (never written by quantization) would lose its sign where x < 0.
//  - q4_0: nibbles (≤ 15) times x stay below 2·15·127 per pair, so all 8 pair sums of a block add
//    up in int16 (≤ 30480) before one vpmaddwd; the +8 offset is removed with −8·Σx.
#include <immintrin.h>

#include <cstring>

#include "quant.h"

namespace rrt {
namespace quant {

static inline __m256i bcast32(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

// Columns half·8 .. half·8+7 of one panel for rows m0 .. m0+R.
template <int R, QType T>
static inline void half_rows(float* c, const QRows& x, int64_t m0, const uint8_t* wp, int64_t N, int64_t n0,
                             int64_t n1, int64_t c0, int half, int accumulate) {
  constexpr int64_t pbb = panel_block_bytes(T);
  const int64_t K = x.K, nb = K / kBlock;
  const __m256i ones = _mm256_set1_epi16(1), nibble = _mm256_set1_epi8(0x0f), flip = _mm256_set1_epi8((char)0x80);
  __m256 facc[R];
#pragma GCC unroll 4
  for (int r = 0; r < R; r++) facc[r] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* pb = wp + b * pbb;
    const uint8_t* v = pb + 2 * kPanel + 32 * half;
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(pb + 16 * half)));
    const int8_t* xq[R];
    __m256i acc[R];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) xq[r] = x.q + (m0 + r) * K + b * kBlock;
    if (T == QType::q8_0) {
#pragma GCC unroll 4
      for (int r = 0; r < R; r++) acc[r] = _mm256_setzero_si256();
#pragma GCC unroll 8
      for (int g = 0; g < 8; g++) {
        const __m256i ws = _mm256_xor_si256(_mm256_loadu_si256((const __m256i*)(v + 64 * g)), flip);
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
          const __m256i xb = bcast32(xq[r] + 4 * g);
          const __m256i p = _mm256_maddubs_epi16(_mm256_abs_epi8(xb), _mm256_sign_epi8(ws, xb));
          acc[r] = _mm256_add_epi32(acc[r], _mm256_madd_epi16(p, ones));
        }
      }
    } else {
      __m256i p16[R];
#pragma GCC unroll 4
      for (int r = 0; r < R; r++) p16[r] = _mm256_setzero_si256();
#pragma GCC unroll 4
      for (int h = 0; h < 4; h++) {
        const __m256i wv = _mm256_loadu_si256((const __m256i*)(v + 64 * h));
        const __m256i lo = _mm256_and_si256(wv, nibble), hi = _mm256_and_si256(_mm256_srli_epi16(wv, 4), nibble);
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
          p16[r] = _mm256_add_epi16(p16[r], _mm256_maddubs_epi16(lo, bcast32(xq[r] + 4 * h)));
          p16[r] = _mm256_add_epi16(p16[r], _mm256_maddubs_epi16(hi, bcast32(xq[r] + 16 + 4 * h)));
        }
      }
#pragma GCC unroll 4
      for (int r = 0; r < R; r++)
        acc[r] = _mm256_add_epi32(_mm256_madd_epi16(p16[r], ones), _mm256_set1_epi32(-8 * x.s[(m0 + r) * nb + b]));
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
      const __m256 scale = _mm256_mul_ps(dw, _mm256_set1_ps(x.d[(m0 + r) * nb + b]));
      facc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[r]), scale, facc[r]);
    }
  }
  const int64_t h0 = c0 + 8 * half, lo = n0 > h0 ? n0 : h0, hi = n1 < h0 + 8 ? n1 : h0 + 8;
#pragma GCC unroll 4
  for (int r = 0; r < R; r++) {
    float* cr = c + (m0 + r) * N;
    if (lo == h0 && hi == h0 + 8) {
      __m256 out = facc[r];
      if (accumulate) out = _mm256_add_ps(out, _mm256_loadu_ps(cr + h0));
      _mm256_storeu_ps(cr + h0, out);
    } else {
      alignas(32) float tmp[8];
      _mm256_store_ps(tmp, facc[r]);
      for (int64_t n = lo; n < hi; n++) cr[n] = accumulate ? cr[n] + tmp[n - h0] : tmp[n - h0];
    }
  }
}

template <QType T>
static void run(float* c, const QRows& x, const uint8_t* w, int64_t N, int64_t n0, int64_t n1, int accumulate) {
  const int64_t nb = x.K / kBlock;
  for (int64_t p = n0 / kPanel; p * kPanel < n1; p++) {
    const uint8_t* wp = w + p * nb * panel_block_bytes(T);
    const int64_t c0 = p * kPanel;
    for (int half = 0; half < 2; half++) {
      if (c0 + 8 * half >= n1 || c0 + 8 * half + 8 <= n0) continue;  // no column of ours in this half
      int64_t m = 0;
      for (; m + 4 <= x.M; m += 4) half_rows<4, T>(c, x, m, wp, N, n0, n1, c0, half, accumulate);
      switch (x.M - m) {
        case 3: half_rows<3, T>(c, x, m, wp, N, n0, n1, c0, half, accumulate); break;
        case 2: half_rows<2, T>(c, x, m, wp, N, n0, n1, c0, half, accumulate); break;
        case 1: half_rows<1, T>(c, x, m, wp, N, n0, n1, c0, half, accumulate); break;
        default: break;
      }
    }
  }
}

void qgemv_avx2(float* c, const QRows& x, const uint8_t* w, QType t, int64_t N, int64_t n0, int64_t n1,
                int accumulate) {
  if (t == QType::q8_0) run<QType::q8_0>(c, x, w, N, n0, n1, accumulate);
  else run<QType::q4_0>(c, x, w, N, n0, n1, accumulate);
}

}  // namespace quant
}  // namespace rrt
