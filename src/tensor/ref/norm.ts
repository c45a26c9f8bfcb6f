// Reference RMSNorm and LayerNorm, forward and backward: plain loops, double
// accumulation. The native kernels (native/kernels/norm.cpp) must match these.
// dw/db accumulate (+=), dx is overwritten. D must be ≥ 1 (a norm of an empty row is undefined).
// Legend: x, y, dx, dy (rows, D); w, b, dw, db (D); mean, rstd (rows).

function checkD(op: string, D: number): void {
  if (!(Number.isInteger(D) && D >= 1)) throw new RangeError(`[${op}] D must be an integer ≥ 1, got ${D}`);
}

/** y = x·rstd·w (plusOne: ·(1+w), Gemma), rstd = 1/sqrt(mean(x²) + eps); rstd[rows] saved when non-null. */
export function rmsnorm_fwd_f32(
  y: Float32Array, rstd: Float32Array | null, x: Float32Array, w: Float32Array,
  rows: number, D: number, eps: number, plusOne: 0 | 1,
): void {
  checkD('rmsnorm_fwd_f32', D);
  for (let r = 0; r < rows; r++) {
    const o = r * D;
    let ss = 0;
    for (let j = 0; j < D; j++) ss += x[o + j] * x[o + j];
    const rs = 1 / Math.sqrt(ss / D + eps);
    for (let j = 0; j < D; j++) y[o + j] = x[o + j] * rs * (plusOne ? 1 + w[j] : w[j]);
    if (rstd) rstd[r] = rs;
  }
}

/** dx = rstd·w'·dy − x·rstd³·Σ(dy·w'·x)/D with w' = w or 1+w; dw += Σ_rows dy·x·rstd. */
export function rmsnorm_bwd_f32(
  dx: Float32Array, dw: Float32Array | null, dy: Float32Array, x: Float32Array, w: Float32Array,
  rstd: Float32Array, rows: number, D: number, plusOne: 0 | 1,
): void {
  checkD('rmsnorm_bwd_f32', D);
  for (let r = 0; r < rows; r++) {
    const o = r * D, rs = rstd[r];
    let dot = 0;
    for (let j = 0; j < D; j++) dot += dy[o + j] * (plusOne ? 1 + w[j] : w[j]) * x[o + j];
    const coef = (rs * rs * rs * dot) / D;
    for (let j = 0; j < D; j++) {
      dx[o + j] = rs * (plusOne ? 1 + w[j] : w[j]) * dy[o + j] - coef * x[o + j];
    }
  }
  if (dw) {
    for (let j = 0; j < D; j++) {
      let s = 0;
      for (let r = 0; r < rows; r++) s += dy[r * D + j] * x[r * D + j] * rstd[r];
      dw[j] += s;
    }
  }
}

/** y = (x−mean)·rstd·w + b (b may be null), rstd = 1/sqrt(biased var + eps); mean/rstd saved when non-null. */
export function layernorm_fwd_f32(
  y: Float32Array, mean: Float32Array | null, rstd: Float32Array | null, x: Float32Array, w: Float32Array,
  b: Float32Array | null, rows: number, D: number, eps: number,
): void {
  checkD('layernorm_fwd_f32', D);
  for (let r = 0; r < rows; r++) {
    const o = r * D;
    let s = 0;
    for (let j = 0; j < D; j++) s += x[o + j];
    const mu = s / D;
    let ss = 0;
    for (let j = 0; j < D; j++) ss += (x[o + j] - mu) * (x[o + j] - mu);
    const rs = 1 / Math.sqrt(ss / D + eps);
    for (let j = 0; j < D; j++) y[o + j] = (x[o + j] - mu) * rs * w[j] + (b ? b[j] : 0);
    if (mean) mean[r] = mu;
    if (rstd) rstd[r] = rs;
  }
}

/** g = dy·w, xhat = (x−mean)·rstd: dx = rstd·(g − mean(g) − xhat·mean(g·xhat)); dw += Σ dy·xhat; db += Σ dy. */
export function layernorm_bwd_f32(
  dx: Float32Array, dw: Float32Array | null, db: Float32Array | null, dy: Float32Array, x: Float32Array,
  w: Float32Array, mean: Float32Array, rstd: Float32Array, rows: number, D: number,
): void {
  checkD('layernorm_bwd_f32', D);
  for (let r = 0; r < rows; r++) {
    const o = r * D, mu = mean[r], rs = rstd[r];
    let sg = 0, sgx = 0;
    for (let j = 0; j < D; j++) {
      const g = dy[o + j] * w[j];
      sg += g;
      sgx += g * (x[o + j] - mu) * rs;
    }
    const mg = sg / D, mgx = sgx / D;
    for (let j = 0; j < D; j++) dx[o + j] = rs * (dy[o + j] * w[j] - mg - (x[o + j] - mu) * rs * mgx);
  }
  for (let j = 0; j < D; j++) {
    let sw = 0, sb = 0;
    for (let r = 0; r < rows; r++) {
      sw += dy[r * D + j] * (x[r * D + j] - mean[r]) * rstd[r];
      sb += dy[r * D + j];
    }
    if (dw) dw[j] += sw;
    if (db) db[j] += sb;
  }
}
