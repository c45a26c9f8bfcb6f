// Activations and gated units (SwiGLU, GeGLU), forward and backward, f32.
// Contract: src/tensor/kernels.ts. Codes: 0 silu, 1 gelu tanh approximation, 2 gelu
// with exact erf, 3 relu. Formulas follow PyTorch's CPU kernels (aten/src/ATen/native/
// cpu/{Activation,UnaryOps}Kernel.cpp) in fp32, except gelu tanh (σ(2u) form, below).
// act<A> lives in activation.h; exp is exp_f32 (vecmath.h) so the loops vectorise; erf stays std::erf.
// Same-index kernels: an output may be exactly an input (in place). Legend: n elements.
#include <omp.h>

#include <cmath>

#include "activation.h"
#include "check.h"
#include "cpu.h"
#include "fused.h"
#include "gemm/gemm.h"
#include "registry.h"

namespace rrt {

constexpr float kInvSqrt2Pi = 0.39894228040143267794f;  // 1/sqrt(2π)

// σ(z) and 1 − σ(z), each without cancellation (1 − σ(z) for large z is not 1 − 0.99…);
// exp(−|z|) ≤ 1 never overflows.
static inline void sigmoid_pair(float z, float& s, float& one_minus_s) {
  const float e = exp_f32(-std::fabs(z)), r = 1.0f / (1.0f + e);
  s = select_f32(z >= 0.0f, r, e * r);
  one_minus_s = select_f32(z >= 0.0f, e * r, r);
}

// d act / dx; relu's is 0 for x ≤ 0 (also at 0) and 1 otherwise (NaN too), as torch.threshold_backward.
template <int A>
static inline float act_grad(float x) {
  if constexpr (A == 0) {
    float s, t;
    sigmoid_pair(x, s, t);
    return s * (1.0f + x * t);
  }
  if constexpr (A == 1) {
    const float x2 = x * x;
    float s, t;
    sigmoid_pair(2.0f * kGeluBeta * (x + kGeluKappa * x2 * x), s, t);
    return s + 2.0f * x * s * t * kGeluBeta * (1.0f + 3.0f * kGeluKappa * x2);
  }
  if constexpr (A == 2) return 0.5f * (1.0f + std::erf(x * kSqrt1_2)) + x * kInvSqrt2Pi * exp_f32(-0.5f * x * x);
  if constexpr (A == 3) return select_f32(x <= 0.0f, 0.0f, 1.0f);
}

template <int A>
static void act_fwd(float* y, const float* x, int64_t n) {
#pragma omp parallel for simd if (n > kParallelMin) schedule(static)
  for (int64_t i = 0; i < n; i++) y[i] = act<A>(x[i]);
}

template <int A>
static void act_bwd(float* dx, const float* dy, const float* x, int64_t n) {
#pragma omp parallel for simd if (n > kParallelMin) schedule(static)
  for (int64_t i = 0; i < n; i++) dx[i] = dy[i] * act_grad<A>(x[i]);
}

// Instantiates f<A> for the run-time code `code` (validated to 0..3).
#define RRT_ACT_DISPATCH(code, f, ...) \
  switch (code) {                      \
    case 0: f<0>(__VA_ARGS__); break;  \
    case 1: f<1>(__VA_ARGS__); break;  \
    case 2: f<2>(__VA_ARGS__); break;  \
    default: f<3>(__VA_ARGS__); break; \
  }

template <int A>
static void glu_portable(float* out, const float* gate, const float* up, int64_t i0, int64_t i1) {
#pragma omp simd
  for (int64_t i = i0; i < i1; i++) out[i] = act<A>(gate[i]) * up[i];
}

void glu_range(int act, float* out, const float* gate, const float* up, int64_t i0, int64_t i1) {
  if (active_isa() >= Isa::avx512) return glu_range_avx512(act, out, gate, up, i0, i1);
  RRT_ACT_DISPATCH(act, glu_portable, out, gate, up, i0, i1);
}

// Contiguous thread ranges in slices of 16 elements, as the GEMV splits its columns.
static void glu_fwd(int act, float* out, const float* gate, const float* up, int64_t n) {
#pragma omp parallel if (n > kParallelMin)
  {
    int64_t i0, i1;
    gemm::gemv_slice(n, omp_get_thread_num(), omp_get_num_threads(), &i0, &i1);
    glu_range(act, out, gate, up, i0, i1);
  }
}

// dgate = dout·up·act'(gate), dup = dout·act(gate); inputs are read before either output is written.
template <int A>
static void glu_bwd(float* dgate, float* dup, const float* dout, const float* gate, const float* up, int64_t n) {
#pragma omp parallel for simd if (n > kParallelMin) schedule(static)
  for (int64_t i = 0; i < n; i++) {
    const float g = gate[i], u = up[i], d = dout[i];
    dgate[i] = d * u * act_grad<A>(g);
    dup[i] = d * act<A>(g);
  }
}


static Napi::Value js_act_fwd_f32(const Napi::CallbackInfo& info) {
  Args a(info, "act_fwd_f32", 4);
  int64_t n = a.size(2, "n");
  int act_code = (int)a.integer(3, "act", 0, 3);
  float* y = a.f32(0, "y", n, "n");
  const float* x = a.f32(1, "x", n, "n");
  check_same_or_disjoint(a, {y, n, "y"}, {x, n, "x"});
  RRT_ACT_DISPATCH(act_code, act_fwd, y, x, n);
  return info.Env().Undefined();
}

static Napi::Value js_act_bwd_f32(const Napi::CallbackInfo& info) {
  Args a(info, "act_bwd_f32", 5);
  int64_t n = a.size(3, "n");
  int act_code = (int)a.integer(4, "act", 0, 3);
  float* dx = a.f32(0, "dx", n, "n");
  const float* dy = a.f32(1, "dy", n, "n");
  const float* x = a.f32(2, "x", n, "n");
  check_same_or_disjoint(a, {dx, n, "dx"}, {dy, n, "dy"});
  check_same_or_disjoint(a, {dx, n, "dx"}, {x, n, "x"});
  RRT_ACT_DISPATCH(act_code, act_bwd, dx, dy, x, n);
  return info.Env().Undefined();
}

static Napi::Value js_glu_fwd_f32(const Napi::CallbackInfo& info) {
  Args a(info, "glu_fwd_f32", 5);
  int64_t n = a.size(3, "n");
  int act_code = (int)a.integer(4, "act", 0, 3);
  float* out = a.f32(0, "out", n, "n");
  const float* gate = a.f32(1, "gate", n, "n");
  const float* up = a.f32(2, "up", n, "n");
  check_same_or_disjoint(a, {out, n, "out"}, {gate, n, "gate"});
  check_same_or_disjoint(a, {out, n, "out"}, {up, n, "up"});
  glu_fwd(act_code, out, gate, up, n);
  return info.Env().Undefined();
}

static Napi::Value js_glu_bwd_f32(const Napi::CallbackInfo& info) {
  Args a(info, "glu_bwd_f32", 7);
  int64_t n = a.size(5, "n");
  int act_code = (int)a.integer(6, "act", 0, 3);
  float* dgate = a.f32(0, "dgate", n, "n");
  float* dup = a.f32(1, "dup", n, "n");
  const float* dout = a.f32(2, "dout", n, "n");
  const float* gate = a.f32(3, "gate", n, "n");
  const float* up = a.f32(4, "up", n, "n");
  check_disjoint(a, {{dgate, n, "dgate"}, {dup, n, "dup"}}, {});
  for (const Span& out : {Span(dgate, n, "dgate"), Span(dup, n, "dup")})
    for (const Span& in : {Span(dout, n, "dout"), Span(gate, n, "gate"), Span(up, n, "up")})
      check_same_or_disjoint(a, out, in);
  RRT_ACT_DISPATCH(act_code, glu_bwd, dgate, dup, dout, gate, up, n);
  return info.Env().Undefined();
}

#undef RRT_ACT_DISPATCH

RRT_EXPORT("act_fwd_f32", js_act_fwd_f32);
RRT_EXPORT("act_bwd_f32", js_act_bwd_f32);
RRT_EXPORT("glu_fwd_f32", js_glu_fwd_f32);
RRT_EXPORT("glu_bwd_f32", js_glu_bwd_f32);

}  // namespace rrt
