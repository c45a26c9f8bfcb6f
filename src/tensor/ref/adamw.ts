// Reference AdamW step (PyTorch torch.optim.AdamW semantics, decoupled weight
// decay, bias correction with step ≥ 1), in place on param, m, v. Each element's
// update is in double, the stored state in fp32. The native kernel
// (native/kernels/adamw.cpp) must match this. Legend: param, grad, m, v (n).

/**
 * p ·= 1 − lr·wd; m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²;
 * p −= (lr/(1−β1^t)) · m / (sqrt(v)/sqrt(1−β2^t) + eps).
 */
export function adamw_f32(
  param: Float32Array, grad: Float32Array, m: Float32Array, v: Float32Array, n: number,
  lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, step: number,
): void {
  if (!(Number.isInteger(step) && step >= 1)) throw new RangeError(`[adamw_f32] step must be an integer ≥ 1, got ${step}`);
  const stepSize = lr / (1 - beta1 ** step);
  const bc2Sqrt = Math.sqrt(1 - beta2 ** step);
  for (let i = 0; i < n; i++) {
    const g = grad[i];
    m[i] = beta1 * m[i] + (1 - beta1) * g;
    v[i] = beta2 * v[i] + (1 - beta2) * g * g;
    param[i] = param[i] * (1 - lr * weightDecay) - (stepSize * m[i]) / (Math.sqrt(v[i]) / bc2Sqrt + eps);
  }
}
