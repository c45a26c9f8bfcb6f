// Portable pieces of the quantized path: activation quantization (the spec every ISA reproduces
// bit for bit) and the scalar dot kernel, which reads the packed layout value by value (quant.h).
#include <cmath>
#include <cstring>

#include "gemm/gemm.h"
#include "quant.h"

namespace rrt {
namespace quant {

void quantize_rows(int8_t* q, float* d, int32_t* s, const float* x, int64_t M, int64_t K) {
  const int64_t nb = K / kBlock;
  for (int64_t m = 0; m < M; m++)
    for (int64_t b = 0; b < nb; b++) {
      const float* xb = x + m * K + b * kBlock;
      int8_t* qb = q + m * K + b * kBlock;
      float amax = 0.0f;
      bool bad = false;  // a NaN or ±inf makes the block's scale NaN: the output is NaN, as in fp32
      for (int i = 0; i < kBlock; i++) {
        amax = std::fmax(amax, std::fabs(xb[i]));
        bad |= !std::isfinite(xb[i]);
      }
      const float db = bad ? NAN : amax / 127.0f, id = db != 0.0f ? 1.0f / db : 0.0f;
      int32_t sum = 0;
      for (int i = 0; i < kBlock; i++) {
        // nearest even, as the SIMD conversions round; |x·id| ≤ 127 up to rounding, clamped anyway
        float v = std::nearbyint(xb[i] * id);
        v = v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v;
        qb[i] = (int8_t)(bad ? 0 : (int)v);
        sum += qb[i];
      }
      d[m * nb + b] = db;
      s[m * nb + b] = sum;
    }
}

static inline float scale_of(const uint8_t* pb, int c) {
  uint16_t h;
  std::memcpy(&h, pb + 2 * c, 2);
  return gemm::f16_to_f32_one(h);
}

// The int32 dot of block values of panel row c with the activation block xq.
static inline int32_t block_dot(const uint8_t* pb, QType t, int c, const int8_t* xq) {
  const uint8_t* v = pb + 2 * kPanel;
  int32_t dot = 0;
  if (t == QType::q8_0) {
    for (int g = 0; g < 8; g++)
      for (int i = 0; i < 4; i++) dot += (int32_t)v[64 * g + 4 * c + i] * xq[4 * g + i];
  } else {
    for (int h = 0; h < 4; h++)
      for (int i = 0; i < 4; i++) {
        const uint8_t byte = v[64 * h + 4 * c + i];
        dot += (int32_t)(byte & 15) * xq[4 * h + i] + (int32_t)(byte >> 4) * xq[16 + 4 * h + i];
      }
  }
  return dot;
}

void qgemv_scalar(float* c, const QRows& x, const uint8_t* w, QType t, int64_t N, int64_t n0, int64_t n1,
                  int accumulate) {
  const int64_t K = x.K, nb = K / kBlock, pbb = panel_block_bytes(t);
  const int32_t off = value_offset(t);
  for (int64_t p = n0 / kPanel; p * kPanel < n1; p++)
    for (int64_t m = 0; m < x.M; m++) {
      float acc[kPanel] = {};
      for (int64_t b = 0; b < nb; b++) {
        const uint8_t* pb = w + (p * nb + b) * pbb;
        const int8_t* xq = x.q + m * K + b * kBlock;
        const float dx = x.d[m * nb + b];
        const int32_t corr = -off * x.s[m * nb + b];
        for (int j = 0; j < kPanel; j++) {
          const float dot = (float)(corr + block_dot(pb, t, j, xq));
          const float scale = scale_of(pb, j) * dx;
          acc[j] = acc[j] + dot * scale;
        }
      }
      float* cr = c + m * N;
      const int64_t lo = n0 > p * kPanel ? n0 : p * kPanel, hi = n1 < (p + 1) * kPanel ? n1 : (p + 1) * kPanel;
      for (int64_t n = lo; n < hi; n++) cr[n] = accumulate ? cr[n] + acc[n - p * kPanel] : acc[n - p * kPanel];
    }
}

}  // namespace quant
}  // namespace rrt
