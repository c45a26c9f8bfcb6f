// The activation functions themselves (codes: 0 silu, 1 gelu tanh, 2 gelu erf, 3 relu), shared by
// activation.cpp and the fused decode layer (decode_layer.cpp) so both give bit-identical results.
// exp is exp_f32 (vecmath.h), so loops calling act<A> vectorise. Everything here is static, so
// activation_avx512.cpp compiles its own copy for AVX-512.
#pragma once
#include <cmath>
#include <cstdint>

#include "vecmath.h"

namespace rrt {

constexpr float kSqrt1_2 = 0.70710678118654752440f;
constexpr float kGeluBeta = 0.79788456080286535588f;  // sqrt(2/π)
constexpr float kGeluKappa = 0.044715f;

static inline float sigmoid(float x) { return 1.0f / (1.0f + exp_f32(-x)); }

// gelu tanh is evaluated through 0.5·(1 + tanh u) = σ(2u): the same function as
// PyTorch's 0.5·x·(1 + tanh u), a third of the cost of tanhf, and no cancellation
// in 1 + tanh u for negative x (so it can differ from PyTorch there, by PyTorch's own rounding).
template <int A>
static inline float act(float x) {
  if constexpr (A == 0) return x / (1.0f + exp_f32(-x));
  if constexpr (A == 1) return x * sigmoid(2.0f * kGeluBeta * (x + kGeluKappa * x * x * x));
  if constexpr (A == 2) return x * 0.5f * (1.0f + std::erf(x * kSqrt1_2));
  if constexpr (A == 3) return select_f32(x < 0.0f, 0.0f, x);  // NaN passes through, as in PyTorch
}

// out[i] = act(gate[i])·up[i] for i in [i0, i1) (the GLU forward on one thread's range); the AVX-512
// build gives the same bits as the portable one (no FMA contraction), tested.
void glu_range(int act, float* out, const float* gate, const float* up, int64_t i0, int64_t i1);
void glu_range_avx512(int act, float* out, const float* gate, const float* up, int64_t i0, int64_t i1);

}  // namespace rrt
