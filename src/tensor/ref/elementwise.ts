// Reference elementwise kernels: add, mul, scale, axpy, bias add, column sums.
// Plain loops; scalars are rounded to fp32 first and each result once, so these
// are bit-identical to native/kernels/elementwise.cpp. Column sums use double.
// Same-index ops may run in place (out === a).

export function add_f32(out: Float32Array, a: Float32Array, b: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) out[i] = a[i] + b[i];
}

export function mul_f32(out: Float32Array, a: Float32Array, b: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) out[i] = a[i] * b[i];
}

/** out = a·s */
export function scale_f32(out: Float32Array, a: Float32Array, s: number, n: number): void {
  const sf = Math.fround(s);
  for (let i = 0; i < n; i++) out[i] = a[i] * sf;
}

/** y += alpha·x */
export function axpy_f32(y: Float32Array, x: Float32Array, alpha: number, n: number): void {
  const af = Math.fround(alpha);
  for (let i = 0; i < n; i++) y[i] = y[i] + Math.fround(af * x[i]);
}

/** y[r,:] += b for each of `rows` rows of width N */
export function add_bias_f32(y: Float32Array, b: Float32Array, rows: number, N: number): void {
  for (let r = 0; r < rows; r++) for (let c = 0; c < N; c++) y[r * N + c] += b[c];
}

/** out[N] (+)= Σ_r x[r,:] */
export function sum_rows_f32(out: Float32Array, x: Float32Array, rows: number, N: number, accumulate: 0 | 1): void {
  for (let c = 0; c < N; c++) {
    let s = 0;
    for (let r = 0; r < rows; r++) s += x[r * N + c];
    out[c] = accumulate ? out[c] + s : s;
  }
}

export function argmax_f32(x: Float32Array, offset: number, n: number): number {
  let best = 0;
  let bestV = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = x[offset + i];
    if (v > bestV) {
      bestV = v;
      best = i;
    }
  }
  return best;
}
