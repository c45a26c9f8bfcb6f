// One AdamW step, in place on param, m, v (f32). Contract: src/tensor/kernels.ts.
// PyTorch torch.optim.AdamW semantics (single-tensor path): decoupled decay
// p ·= 1 − lr·wd; m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²;
// p −= (lr/(1−β1^t)) · m / (sqrt(v)/sqrt(1−β2^t) + eps). Scalars are formed in
// double and applied in fp32, as PyTorch does. (PyTorch updates m with lerp, which
// can differ from this form in the last bit.) Legend: param, grad, m, v (n).
#include <cmath>

#include "check.h"
#include "fused.h"
#include "registry.h"

namespace rrt {

static Napi::Value js_adamw_f32(const Napi::CallbackInfo& info) {
  Args a(info, "adamw_f32", 11);
  int64_t n = a.size(4, "n");
  double lr = a.number(5, "lr");
  double beta1 = a.number(6, "beta1"), beta2 = a.number(7, "beta2");
  double eps = a.number(8, "eps");
  double wd = a.number(9, "weightDecay");
  int64_t step = a.integer(10, "step", 1, kMaxDim);
  if (!(beta1 >= 0 && beta1 < 1)) a.range_error("beta1 must be in [0, 1), got %g", beta1);
  if (!(beta2 >= 0 && beta2 < 1)) a.range_error("beta2 must be in [0, 1), got %g", beta2);
  if (eps < 0) a.range_error("eps must be ≥ 0, got %g", eps);
  float* p = a.f32(0, "param", n, "n");
  const float* g = a.f32(1, "grad", n, "n");
  float* m = a.f32(2, "m", n, "n");
  float* v = a.f32(3, "v", n, "n");
  check_disjoint(a, {{p, n, "param"}, {m, n, "m"}, {v, n, "v"}}, {{g, n, "grad"}});
  const float decay = (float)(1.0 - lr * wd);
  const float b1 = (float)beta1, c1 = (float)(1.0 - beta1);
  const float b2 = (float)beta2, c2 = (float)(1.0 - beta2);
  const float step_size = (float)(lr / (1.0 - std::pow(beta1, (double)step)));
  const float bc2_sqrt = (float)std::sqrt(1.0 - std::pow(beta2, (double)step));
  const float epsf = (float)eps;
#pragma omp parallel for simd if (n > kParallelMin) schedule(static)
  for (int64_t i = 0; i < n; i++) {
    const float gi = g[i];
    const float mi = b1 * m[i] + c1 * gi;
    const float vi = b2 * v[i] + c2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] * decay - step_size * (mi / (std::sqrt(vi) / bc2_sqrt + epsf));
  }
  return info.Env().Undefined();
}

RRT_EXPORT("adamw_f32", js_adamw_f32);

}  // namespace rrt
