// Rotary embedding of one token, shared by rope_f32 (rope.cpp) and the fused decode layer
// (decode_layer.cpp) so both give bit-identical results. Portable code only.
// Legend: half = rotDim/2 rotated pairs; cs, sn, invFreq (half); xh (Dh), one head.
#pragma once
#include <cmath>
#include <cstdint>

namespace rrt {

// The angle is pos·invFreq[i] rounded to fp32, cos/sin taken in fp32 (as HF); inverse negates sin.
inline void rope_angles(float* cs, float* sn, int32_t pos, const float* inv_freq, int64_t half, bool inverse) {
  const float p = (float)pos;
  for (int64_t i = 0; i < half; i++) {
    const float ang = p * inv_freq[i];
    cs[i] = std::cos(ang);
    sn[i] = inverse ? -std::sin(ang) : std::sin(ang);
  }
}

// Rotates the pairs (i, i+half) (HF rotate_half) or (2i, 2i+1) (interleaved) of one head in place.
inline void rope_head(float* xh, const float* cs, const float* sn, int64_t half, bool interleaved) {
  if (interleaved) {
    for (int64_t i = 0; i < half; i++) {
      const float u = xh[2 * i], v = xh[2 * i + 1];
      xh[2 * i] = u * cs[i] - v * sn[i];
      xh[2 * i + 1] = v * cs[i] + u * sn[i];
    }
  } else {
    float* x2 = xh + half;
#pragma omp simd
    for (int64_t i = 0; i < half; i++) {
      const float u = xh[i], v = x2[i];
      xh[i] = u * cs[i] - v * sn[i];
      x2[i] = v * cs[i] + u * sn[i];
    }
  }
}

}  // namespace rrt
