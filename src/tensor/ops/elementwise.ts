// Elementwise ops and shape plumbing: add, mul, scale, reshape, column gather.
import { ShapeError } from '../../errors.js';
import { record } from '../autograd.js';
import { kernels } from '../kernels.js';
import { Tensor } from '../tensor.js';

function sameShape(op: string, a: Tensor, b: Tensor): void {
  if (a.size !== b.size || a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i]))
    throw new ShapeError(`${op}: shapes [${a.shape.join(', ')}] and [${b.shape.join(', ')}] differ`);
}

export function add(a: Tensor, b: Tensor): Tensor {
  sameShape('add', a, b);
  const y = new Float32Array(a.size);
  kernels.add_f32(y, a.f32, b.f32, a.size);
  return record(new Tensor(y, a.shape), 'add', [a, b], (g) => [g, g]);
}

export function mul(a: Tensor, b: Tensor): Tensor {
  sameShape('mul', a, b);
  const y = new Float32Array(a.size);
  kernels.mul_f32(y, a.f32, b.f32, a.size);
  return record(new Tensor(y, a.shape), 'mul', [a, b], (g) => {
    const da = a.requiresGrad ? new Float32Array(a.size) : null;
    const db = b.requiresGrad ? new Float32Array(b.size) : null;
    if (da) kernels.mul_f32(da, g, b.f32, a.size);
    if (db) kernels.mul_f32(db, g, a.f32, a.size);
    return [da, db];
  });
}

export function scale(a: Tensor, s: number): Tensor {
  const y = new Float32Array(a.size);
  kernels.scale_f32(y, a.f32, s, a.size);
  return record(new Tensor(y, a.shape), 'scale', [a], (g) => {
    const d = new Float32Array(a.size);
    kernels.scale_f32(d, g, s, a.size);
    return [d];
  });
}

/** Same data under a new shape of equal size. */
export function reshape(a: Tensor, shape: readonly number[]): Tensor {
  const t = new Tensor(a.data, shape, a.dtype);
  if (t.size !== a.size) throw new ShapeError(`reshape: [${a.shape.join(', ')}] to [${shape.join(', ')}]`);
  return record(t, 'reshape', [a], (g) => [g]);
}

/** y[r, j] = x[r, cols[j]] for x [rows, C]: splits fused projections (qkv) into parts. */
export function gatherCols(x: Tensor, cols: Int32Array): Tensor {
  const C = x.shape[x.shape.length - 1];
  const rows = x.size / C;
  const W = cols.length;
  for (let j = 0; j < W; j++) if (cols[j] < 0 || cols[j] >= C) throw new ShapeError(`gatherCols: column ${cols[j]} outside [0, ${C})`);
  const xs = x.f32;
  const y = new Float32Array(rows * W);
  for (let r = 0; r < rows; r++) {
    const xo = r * C, yo = r * W;
    for (let j = 0; j < W; j++) y[yo + j] = xs[xo + cols[j]];
  }
  return record(new Tensor(y, [...x.shape.slice(0, -1), W]), 'gatherCols', [x], (g) => {
    const dx = new Float32Array(x.size);
    for (let r = 0; r < rows; r++) {
      const xo = r * C, yo = r * W;
      for (let j = 0; j < W; j++) dx[xo + cols[j]] += g[yo + j];
    }
    return [dx];
  });
}

/** Sum of all elements, as a scalar tensor. */
export function sum(a: Tensor): Tensor {
  const xs = a.f32;
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i];
  return record(new Tensor(new Float32Array([s]), [1]), 'sum', [a], (g) => [new Float32Array(a.size).fill(g[0])]);
}

/** y[i, :] = x[rows[i], :] for x [R, C] → [rows.length, C]. */
export function gatherRows(x: Tensor, rows: Int32Array): Tensor {
  const C = x.shape[x.shape.length - 1];
  const R = x.size / C;
  for (const r of rows) if (r < 0 || r >= R) throw new ShapeError(`gatherRows: row ${r} outside [0, ${R})`);
  const xs = x.f32;
  const y = new Float32Array(rows.length * C);
  rows.forEach((r, i) => y.set(xs.subarray(r * C, (r + 1) * C), i * C));
  return record(new Tensor(y, [rows.length, C]), 'gatherRows', [x], (g) => {
    const dx = new Float32Array(x.size);
    rows.forEach((r, i) => {
      for (let c = 0; c < C; c++) dx[r * C + c] += g[i * C + c];
    });
    return [dx];
  });
}

/** tanh(x/cap) in float32 steps as transformers: the soft-cap's value is cap times it. */
const capTanh = (x: number, cap: number) => Math.fround(Math.tanh(Math.fround(x / cap)));

/** cap·tanh(x/cap) in place, without gradient (the serving engine's logits): the same numbers as softcap. */
export function softcapInPlace(x: Float32Array, cap: number): void {
  for (let i = 0; i < x.length; i++) x[i] = capTanh(x[i], cap) * cap;
}

/** cap·tanh(a/cap), elementwise (Gemma 2's logit soft-capping). */
export function softcap(a: Tensor, cap: number): Tensor {
  const x = a.f32, y = new Float32Array(a.size), t = new Float32Array(a.size);
  for (let i = 0; i < x.length; i++) {
    t[i] = capTanh(x[i], cap);
    y[i] = t[i] * cap;
  }
  return record(new Tensor(y, a.shape), 'softcap', [a], (g) => {
    const d = new Float32Array(a.size);
    for (let i = 0; i < d.length; i++) d[i] = g[i] * (1 - t[i] * t[i]);
    return [d];
  });
}
