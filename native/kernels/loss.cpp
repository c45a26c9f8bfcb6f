// Fused losses over logits rows: cross-entropy (log-softmax + NLL) and the
// distillation KL(teacher ‖ student) at temperature τ, each with its gradient
// w.r.t. the (student) logits. Contract: src/tensor/kernels.ts. Row max subtracted
// before exp (exp_f32, fused.h); row sums and the loss in double. dlogits may be
// exactly the logits buffer (the gradient then overwrites them, saving rows·V floats).
// Legend: logits, student, teacher, dlogits (rows, V); loss, targets (rows).
#include <algorithm>
#include <cmath>
#include <limits>

#include "check.h"
#include "fused.h"
#include "registry.h"

namespace rrt {

static float row_max(const float* x, int64_t V) {
  float m = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : m)
  for (int64_t j = 0; j < V; j++) m = std::fmax(m, x[j]);
  return m;
}

// loss[r] = logsumexp(x) − x[target];  dlogits = gradScale·(softmax(x) − onehot(target))
static Napi::Value js_cross_entropy_f32(const Napi::CallbackInfo& info) {
  Args a(info, "cross_entropy_f32", 8);
  int64_t rows = a.size(4, "rows"), V = a.size(5, "V");
  int64_t ignore = a.integer(6, "ignoreIndex", INT32_MIN, INT32_MAX);
  const float gs = (float)a.number(7, "gradScale");
  int64_t n = a.mul(rows, V);
  float* loss = a.f32(0, "loss", rows, "rows");
  float* dl = a.f32_opt(1, "dlogits", n, "rows·V");
  const float* logits = a.f32(2, "logits", n, "rows·V");
  const int32_t* targets = a.i32(3, "targets", rows, "rows");
  check_disjoint(a, {{loss, rows, "loss"}, {dl, n, "dlogits"}}, {{targets, rows, "targets"}});
  check_disjoint(a, {{loss, rows, "loss"}}, {{logits, n, "logits"}});
  if (dl) check_same_or_disjoint(a, {dl, n, "dlogits"}, {logits, n, "logits"});
  for (int64_t r = 0; r < rows; r++)
    if (targets[r] != ignore && (targets[r] < 0 || targets[r] >= V))
      a.range_error("targets[%lld] = %d is outside [0, V = %lld) and is not ignoreIndex (%lld)", (long long)r,
                    targets[r], (long long)V, (long long)ignore);
#pragma omp parallel for if (n > kParallelMin) schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const float* xr = logits + r * V;
    float* dr = dl ? dl + r * V : nullptr;
    const int32_t t = targets[r];
    if (t == ignore) {
      loss[r] = 0.0f;
      if (dr)
        for (int64_t j = 0; j < V; j++) dr[j] = 0.0f;
      continue;
    }
    const float xt = xr[t];  // read before dr (possibly the same buffer) is written
    const float m = row_max(xr, V);
    double s = 0.0;
    if (dr) {
#pragma omp simd reduction(+ : s)
      for (int64_t j = 0; j < V; j++) {
        const float e = exp_f32(xr[j] - m);
        dr[j] = e;
        s += e;
      }
    } else {
#pragma omp simd reduction(+ : s)
      for (int64_t j = 0; j < V; j++) s += exp_f32(xr[j] - m);
    }
    loss[r] = (float)((double)m + std::log(s) - (double)xt);
    if (dr) {
      const float k = (float)(gs / s);
#pragma omp simd
      for (int64_t j = 0; j < V; j++) dr[j] *= k;
      dr[t] -= gs;
    }
  }
  return info.Env().Undefined();
}

// p = softmax(z/τ): loss[r] = Σ p_t·(log p_t − log p_s) (terms with p_t = 0 are 0);
// dlogits = gradScale·(p_s − p_t)/τ.
static Napi::Value js_kl_div_f32(const Napi::CallbackInfo& info) {
  Args a(info, "kl_div_f32", 8);
  int64_t rows = a.size(4, "rows"), V = a.size(5, "V");
  double tau = a.number(6, "temperature");
  if (!(tau > 0)) a.range_error("temperature must be > 0, got %g", tau);
  const double gs = a.number(7, "gradScale");
  int64_t n = a.mul(rows, V);
  float* loss = a.f32(0, "loss", rows, "rows");
  float* dl = a.f32_opt(1, "dlogits", n, "rows·V");
  const float* student = a.f32(2, "student", n, "rows·V");
  const float* teacher = a.f32(3, "teacher", n, "rows·V");
  check_disjoint(a, {{loss, rows, "loss"}, {dl, n, "dlogits"}}, {{teacher, n, "teacher"}});
  check_disjoint(a, {{loss, rows, "loss"}}, {{student, n, "student"}});
  if (dl) check_same_or_disjoint(a, {dl, n, "dlogits"}, {student, n, "student"});
  const float tauf = (float)tau;
  const double gscale = gs / tau;
#pragma omp parallel for if (n > kParallelMin) schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const float* sr = student + r * V;
    const float* tr = teacher + r * V;
    // max(x)/τ = max(x/τ): division by τ > 0 is monotone in fp32 too
    const float ms = row_max(sr, V) / tauf, mt = row_max(tr, V) / tauf;
    double ss = 0.0, st = 0.0;
#pragma omp simd reduction(+ : ss, st)
    for (int64_t j = 0; j < V; j++) {
      ss += exp_f32(sr[j] / tauf - ms);
      st += exp_f32(tr[j] / tauf - mt);
    }
    const double ls = (double)ms + std::log(ss), lt = (double)mt + std::log(st);
    // log-probabilities in double (the KL terms cancel when student ≈ teacher); the
    // probabilities themselves need only fp32. A p_t = 0 term (teacher logit −inf) must add
    // 0, not 0·(−inf): std::max bounds log p_t (and, unlike fmax, vectorises).
    double kl = 0.0;
#pragma omp simd reduction(+ : kl)
    for (int64_t j = 0; j < V; j++) {
      const double lps = (double)(sr[j] / tauf) - ls, lpt = (double)(tr[j] / tauf) - lt;
      kl += (double)exp_f32((float)lpt) * (std::max(lpt, -1e30) - lps);
    }
    if (dl) {
      float* dr = dl + r * V;  // may be sr itself: each j reads sr[j] before writing dr[j]
#pragma omp simd
      for (int64_t j = 0; j < V; j++)
        dr[j] = (float)(gscale * (double)(exp_f32((float)(sr[j] / tauf - ls)) - exp_f32((float)(tr[j] / tauf - lt))));
    }
    loss[r] = (float)kl;
  }
  return info.Env().Undefined();
}

RRT_EXPORT("cross_entropy_f32", js_cross_entropy_f32);
RRT_EXPORT("kl_div_f32", js_kl_div_f32);

}  // namespace rrt
