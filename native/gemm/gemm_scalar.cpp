// Portable GEMM kernels: the micro-kernel and small-M GEMV used when no SIMD level is active
// (and the slowest path the tests force with set_isa('scalar')). Plain loops, fp32 accumulation;
// the compiler may vectorise them with the baseline SSE2 only.
#include <cstring>

#include "gemm.h"

namespace rrt {
namespace gemm {

constexpr int kMr = 4, kNr = 8;

static void ukernel_scalar(int64_t kp, const void* av, const void* bv, float* c, int64_t ldc, int load_c) {
  const float* a = (const float*)av;
  const float* b = (const float*)bv;
  float acc[kMr][kNr] = {};
  for (int64_t k = 0; k < kp; k++, a += kMr, b += kNr)
    for (int i = 0; i < kMr; i++)
      for (int j = 0; j < kNr; j++) acc[i][j] += a[i] * b[j];
  for (int i = 0; i < kMr; i++)
    for (int j = 0; j < kNr; j++) c[i * ldc + j] = load_c ? c[i * ldc + j] + acc[i][j] : acc[i][j];
}

const Kit kit_f32_scalar = {kMr, kNr, 256, 64, 1024, 1, ukernel_scalar};

void gemv_f32_scalar(float* c, const float* a, const float* w, int64_t M, int64_t N, int64_t K, int64_t n0,
                     int64_t n1, int accumulate) {
  for (int64_t n = n0; n < n1; n++) {
    const float* wr = w + n * K;
    for (int64_t m = 0; m < M; m++) {
      const float* x = a + m * K;
      float s = 0.0f;
      for (int64_t k = 0; k < K; k++) s += x[k] * wr[k];
      c[m * N + n] = accumulate ? c[m * N + n] + s : s;
    }
  }
}

static inline float widen(uint16_t h) {
  const uint32_t u = (uint32_t)h << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

void gemv_bf16_scalar(float* c, const uint16_t* a, const uint16_t* w, int64_t M, int64_t N, int64_t K, int64_t n0,
                      int64_t n1, int accumulate) {
  for (int64_t n = n0; n < n1; n++) {
    const uint16_t* wr = w + n * K;
    for (int64_t m = 0; m < M; m++) {
      const uint16_t* x = a + m * K;
      float s = 0.0f;
      for (int64_t k = 0; k < K; k++) s += widen(x[k]) * widen(wr[k]);
      c[m * N + n] = accumulate ? c[m * N + n] + s : s;
    }
  }
}

}  // namespace gemm
}  // namespace rrt
