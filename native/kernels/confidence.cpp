// Early-exit confidence over one row of logits (src/infer/early-exit.ts): the top-1 and top-2
// softmax probabilities, and the KL divergence between two rows' softmax distributions, without
// materialising either distribution. Contract: src/tensor/kernels.ts; reference:
// src/tensor/ref/softmax.ts. Max and exp in fp32 (exp_f32), sums in double. A row holding NaN,
// +inf, or nothing above −inf has no distribution: its probabilities and KL are NaN, so no
// threshold test passes.
#include <cmath>
#include <limits>

#include "check.h"
#include "registry.h"
#include "vecmath.h"

namespace rrt {

static float row_max(const float* x, int64_t n) {
  float m = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : m)
  for (int64_t i = 0; i < n; i++) m = x[i] > m ? x[i] : m;  // NaN never wins a comparison
  return m;
}

// Σ exp(x − m) in double; NaN when the row has no distribution.
static double sum_exp(const float* x, int64_t n, float m) {
  if (!(m > -INFINITY && m < INFINITY)) return NAN;
  double s = 0.0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; i++) s += exp_f32(x[i] - m);  // a NaN entry makes s NaN
  return s;
}

// softmax_top2_f32(probs, x, offset, n) → index of the first maximum of x[offset .. offset+n)
// (as argmax_f32: NaN ignored, 0 when nothing beats −inf); probs[0] = its probability, probs[1]
// = the largest probability at any other index (0 when n = 1; equal to probs[0] on a tie).
static Napi::Value js_softmax_top2_f32(const Napi::CallbackInfo& info) {
  Args a(info, "softmax_top2_f32", 4);
  double* probs = a.f64(0, "probs", 2, "2");
  const int64_t offset = a.size(2, "offset"), n = a.size(3, "n");
  if (n < 1) a.range_error("n must be at least 1, got 0");
  const float* x = a.f32(1, "x", offset + n, "offset + n") + offset;
  const float m = row_max(x, n);
  int64_t top = 0;
  if (m > -INFINITY)
    while (!(x[top] == m)) top++;
  float m2 = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : m2)
  for (int64_t i = 0; i < n; i++) {
    const float v = i == top ? -INFINITY : x[i];
    m2 = v > m2 ? v : m2;
  }
  const double s = sum_exp(x, n, m);
  probs[0] = 1.0 / s;
  probs[1] = std::isnan(s) ? NAN : (double)exp_f32(m2 - m) / s;
  return Napi::Number::New(info.Env(), (double)top);
}

// kl_logits_f32(p, p_offset, q, q_offset, n, q_floor) → KL(P ‖ Q) = Σ P_i (log P_i − log max(Q_i,
// q_floor)) over entries with P_i > 0, where P and Q are the softmax of p[p_offset ..] and
// q[q_offset ..] (n entries each). The floor keeps a token Q gives no mass from making it infinite.
static Napi::Value js_kl_logits_f32(const Napi::CallbackInfo& info) {
  Args a(info, "kl_logits_f32", 6);
  const int64_t po = a.size(1, "p_offset"), qo = a.size(3, "q_offset"), n = a.size(4, "n");
  const double floor = a.number(5, "q_floor");
  if (n < 1) a.range_error("n must be at least 1, got 0");
  if (!(floor > 0)) a.range_error("q_floor must be positive, got %g", floor);
  const float* p = a.f32(0, "p", po + n, "p_offset + n") + po;
  const float* q = a.f32(2, "q", qo + n, "q_offset + n") + qo;
  const float mp = row_max(p, n), mq = row_max(q, n);
  const double sp = sum_exp(p, n, mp), sq = sum_exp(q, n, mq);
  if (std::isnan(sp) || std::isnan(sq)) return Napi::Number::New(info.Env(), NAN);
  const double lsp = std::log(sp), lsq = std::log(sq), lfloor = std::log(floor);
  double kl = 0.0;
#pragma omp simd reduction(+ : kl)
  for (int64_t i = 0; i < n; i++) {
    const float e = exp_f32(p[i] - mp);
    const double lp = (double)(p[i] - mp) - lsp, lq0 = (double)(q[i] - mq) - lsq;
    const double lq = lq0 > lfloor ? lq0 : lfloor;
    kl += e > 0.0f ? (double)e / sp * (lp - lq) : 0.0;
  }
  return Napi::Number::New(info.Env(), kl);
}

RRT_EXPORT("softmax_top2_f32", js_softmax_top2_f32);
RRT_EXPORT("kl_logits_f32", js_kl_logits_f32);

}  // namespace rrt
