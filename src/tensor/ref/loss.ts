// Reference fused losses over logits rows, in double: cross-entropy (log-softmax
// + NLL) and the distillation KL(teacher ‖ student) at temperature τ, each with
// its gradient w.r.t. the (student) logits (overwritten). The native kernels
// (native/kernels/loss.cpp) must match these.
// Legend: logits, student, teacher, dlogits (rows, V); loss, targets (rows).

/** max over a row and log Σ exp(x/τ − max/τ) */
function logSumExp(x: Float32Array, o: number, V: number, tau: number): number {
  let m = -Infinity;
  for (let j = 0; j < V; j++) m = Math.max(m, x[o + j] / tau);
  let s = 0;
  for (let j = 0; j < V; j++) s += Math.exp(x[o + j] / tau - m);
  return m + Math.log(s);
}

/**
 * loss[r] = logsumexp(logits[r]) − logits[r, target] (0 where target == ignoreIndex);
 * dlogits = gradScale·(softmax − onehot), zero rows where ignored. Targets outside [0, V) throw.
 */
export function cross_entropy_f32(
  loss: Float32Array, dlogits: Float32Array | null, logits: Float32Array, targets: Int32Array,
  rows: number, V: number, ignoreIndex: number, gradScale: number,
): void {
  for (let r = 0; r < rows; r++) {
    const t = targets[r];
    if (t !== ignoreIndex && (t < 0 || t >= V))
      throw new RangeError(`[cross_entropy_f32] targets[${r}] = ${t} is outside [0, V = ${V}) and is not ignoreIndex (${ignoreIndex})`);
  }
  for (let r = 0; r < rows; r++) {
    const o = r * V, t = targets[r];
    if (t === ignoreIndex) {
      loss[r] = 0;
      dlogits?.fill(0, o, o + V);
      continue;
    }
    const lse = logSumExp(logits, o, V, 1);
    loss[r] = lse - logits[o + t];
    if (dlogits)
      for (let j = 0; j < V; j++) dlogits[o + j] = gradScale * (Math.exp(logits[o + j] - lse) - (j === t ? 1 : 0));
  }
}

/**
 * p = softmax(z/τ): loss[r] = Σ p_t·(log p_t − log p_s), terms with p_t = 0 counting 0;
 * dlogits (w.r.t. the student) = gradScale·(p_s − p_t)/τ.
 */
export function kl_div_f32(
  loss: Float32Array, dlogits: Float32Array | null, student: Float32Array, teacher: Float32Array,
  rows: number, V: number, temperature: number, gradScale: number,
): void {
  if (!(temperature > 0)) throw new RangeError(`[kl_div_f32] temperature must be > 0, got ${temperature}`);
  for (let r = 0; r < rows; r++) {
    const o = r * V;
    const ls = logSumExp(student, o, V, temperature), lt = logSumExp(teacher, o, V, temperature);
    let kl = 0;
    for (let j = 0; j < V; j++) {
      const lps = student[o + j] / temperature - ls, lpt = teacher[o + j] / temperature - lt;
      const pt = Math.exp(lpt);
      if (pt > 0) kl += pt * (lpt - lps);
      if (dlogits) dlogits[o + j] = (gradScale * (Math.exp(lps) - pt)) / temperature;
    }
    loss[r] = kl;
  }
}
