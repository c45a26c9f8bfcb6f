// Reference row softmax, forward and backward: plain loops in double, row max
// subtracted before exp. The native kernels (native/kernels/softmax.cpp) must match these.
// Legend: x, y, dx, dy (rows, cols).

export function softmax_fwd_f32(y: Float32Array, x: Float32Array, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let m = -Infinity;
    for (let j = 0; j < cols; j++) m = Math.max(m, x[o + j]);
    let s = 0;
    for (let j = 0; j < cols; j++) s += Math.exp(x[o + j] - m);
    for (let j = 0; j < cols; j++) y[o + j] = Math.exp(x[o + j] - m) / s;
  }
}

/** dx = y·(dy − Σ dy·y) per row (overwritten) */
export function softmax_bwd_f32(dx: Float32Array, dy: Float32Array, y: Float32Array, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let dot = 0;
    for (let j = 0; j < cols; j++) dot += dy[o + j] * y[o + j];
    for (let j = 0; j < cols; j++) dx[o + j] = y[o + j] * (dy[o + j] - dot);
  }
}

/** Row maximum and Σ exp(x − max); NaN sum when the row has no distribution (NaN, +inf, or all −inf). */
function maxAndSum(x: Float32Array, o: number, n: number): { m: number; s: number } {
  let m = -Infinity, nan = false;
  for (let i = 0; i < n; i++) {
    if (Number.isNaN(x[o + i])) nan = true;
    else if (x[o + i] > m) m = x[o + i];
  }
  if (nan || !Number.isFinite(m)) return { m, s: NaN };
  let s = 0;
  for (let i = 0; i < n; i++) s += Math.exp(x[o + i] - m);
  return { m, s };
}

/**
 * Index of the first maximum of x[offset .. offset+n) (NaN ignored, 0 when nothing beats −inf);
 * probs[0] = its softmax probability, probs[1] = the largest probability at any other index.
 */
export function softmax_top2_f32(probs: Float64Array, x: Float32Array, offset: number, n: number): number {
  const { m, s } = maxAndSum(x, offset, n);
  let top = 0;
  if (m > -Infinity) while (x[offset + top] !== m) top++;
  let m2 = -Infinity;
  for (let i = 0; i < n; i++) if (i !== top && x[offset + i] > m2) m2 = x[offset + i];
  probs[0] = 1 / s;
  probs[1] = Math.exp(m2 - m) / s;
  return top;
}

/** KL(softmax p ‖ softmax q) over entries with P > 0, each Q floored at qFloor; NaN when either row has no distribution. */
export function kl_logits_f32(p: Float32Array, pOffset: number, q: Float32Array, qOffset: number, n: number, qFloor: number): number {
  const P = maxAndSum(p, pOffset, n), Q = maxAndSum(q, qOffset, n);
  if (Number.isNaN(P.s) || Number.isNaN(Q.s)) return NaN;
  const lsp = Math.log(P.s), lsq = Math.log(Q.s), lfloor = Math.log(qFloor);
  let kl = 0;
  for (let i = 0; i < n; i++) {
    const e = Math.exp(p[pOffset + i] - P.m);
    if (e > 0) kl += (e / P.s) * (p[pOffset + i] - P.m - lsp - Math.max(q[qOffset + i] - Q.m - lsq, lfloor));
  }
  return kl;
}
