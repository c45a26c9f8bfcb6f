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
