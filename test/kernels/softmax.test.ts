// Row softmax: native against the TS reference on every rows × cols in ODD_SIZES;
// the backward against central finite differences of a float64 softmax; stability
// and known facts (equal logits give 1/cols, shift invariance, −inf entries give 0);
// argument validation. Tolerances: forward 1e-6, backward 1e-5 of max|ref|.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { native, reference as ref, type Kernels } from '../../src/tensor/kernels.js';
import { ODD_SIZES, assertClose, randn, skipWithoutNative } from '../helpers.js';

const skip = skipWithoutNative(native);
const nat = native!;
const impls: [string, Kernels][] = native ? [['native', native], ['ref', ref]] : [['ref', ref]];

function softmax64(x: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const y = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const e = Array.from({ length: cols }, (_, j) => Math.exp(x[r * cols + j]));
    const s = e.reduce((a, b) => a + b, 0);
    e.forEach((v, j) => (y[r * cols + j] = v / s));
  }
  return y;
}

test('softmax forward and backward: native matches the reference for every rows × cols in ODD_SIZES', { skip }, () => {
  for (const rows of ODD_SIZES)
    for (const cols of ODD_SIZES) {
      const n = rows * cols, tag = `${rows}x${cols}`;
      const x = randn(n, rows + cols, 4), dy = randn(n, rows * cols + 1);
      const yN = new Float32Array(n), yR = new Float32Array(n);
      nat.softmax_fwd_f32(yN, x, rows, cols);
      ref.softmax_fwd_f32(yR, x, rows, cols);
      assertClose(yN, yR, { rel: 1e-6, label: `${tag} y` });
      const dxN = new Float32Array(n), dxR = new Float32Array(n);
      nat.softmax_bwd_f32(dxN, dy, yR, rows, cols);
      ref.softmax_bwd_f32(dxR, dy, yR, rows, cols);
      assertClose(dxN, dxR, { rel: 1e-5, label: `${tag} dx` });
    }
});

test('softmax backward equals finite differences of Σ softmax(x)·r computed in float64', () => {
  for (const [rows, cols] of [[3, 7], [1, 33], [2, 1]])
    for (const [name, k] of impls) {
      const n = rows * cols, x = randn(n, cols, 2), r = randn(n, cols + 1);
      const y = new Float32Array(n), dx = new Float32Array(n).fill(NaN);
      k.softmax_fwd_f32(y, x, rows, cols);
      assertClose(y, softmax64(x, rows, cols), { rel: 1e-6, label: `${name} ${rows}x${cols} y vs float64` });
      k.softmax_bwd_f32(dx, r, y, rows, cols);
      const xx = Float64Array.from(x), h = 1e-6, fd = new Float64Array(n);
      const f = () => softmax64(xx, rows, cols).reduce((s, v, i) => s + v * r[i], 0);
      for (let i = 0; i < n; i++) {
        xx[i] += h;
        const fp = f();
        xx[i] -= 2 * h;
        const fm = f();
        xx[i] += h;
        fd[i] = (fp - fm) / (2 * h);
      }
      // cols = 1: softmax is the constant 1, the gradient exactly 0; the floor allows fp32 round-off of r.
      assertClose(dx, fd, { rel: 1e-5, abs: 1e-7, label: `${name} ${rows}x${cols} dx` });
    }
});

test('softmax facts: equal logits give 1/cols; adding 1000 to a row changes nothing and overflows nothing; −inf logits give 0', () => {
  for (const [name, k] of impls) {
    const cols = 33, y = new Float32Array(cols);
    k.softmax_fwd_f32(y, new Float32Array(cols).fill(3.5), 1, cols);
    assertClose(y, new Float32Array(cols).fill(1 / cols), { rel: 1e-7, label: `${name} uniform` });
    const x = randn(cols, 9), big = x.map((v) => v + 1000), a = new Float32Array(cols), b = new Float32Array(cols);
    k.softmax_fwd_f32(a, x, 1, cols);
    k.softmax_fwd_f32(b, big, 1, cols);
    assertClose(b, a, { rel: 1e-4, label: `${name} shift by 1000` }); // x + 1000 in fp32 keeps ~1e-4 of x
    assert.ok(Math.abs(b.reduce((s, v) => s + v, 0) - 1) < 1e-6, `${name}: row sums to 1`);
    const m = Float32Array.from([0, -Infinity, Math.log(3), -Infinity]), p = new Float32Array(4);
    k.softmax_fwd_f32(p, m, 1, 4);
    assertClose(p, [0.25, 0, 0.75, 0], { rel: 1e-6, label: `${name} masked` });
  }
});

test('native softmax rejects bad arguments', { skip }, () => {
  const a = new Float32Array(6), b = new Float32Array(6), c = new Float32Array(6);
  const range = (fn: () => void, msg: RegExp) => assert.throws(fn, { name: 'RangeError', message: msg });
  const type = (fn: () => void, msg: RegExp) => assert.throws(fn, { name: 'TypeError', message: msg });
  range(() => nat.softmax_fwd_f32(a, b, 2, 4), /\[softmax_fwd_f32\] y has 6 elements, expected rows·cols = 8/);
  range(() => nat.softmax_fwd_f32(a, b, -2, 3), /rows must be a non-negative integer/);
  range(() => nat.softmax_fwd_f32(a, b, 2, 3.5), /cols must be a non-negative integer/);
  type(() => nat.softmax_fwd_f32(a, [1, 2, 3, 4, 5, 6] as unknown as Float32Array, 2, 3), /x must be a Float32Array/);
  range(() => nat.softmax_fwd_f32(a, a, 2, 3), /y and x must not overlap/);
  range(() => nat.softmax_bwd_f32(a, b, c.subarray(0, 5), 2, 3), /y has 5 elements/);
  range(() => nat.softmax_bwd_f32(a, a.subarray(0), c, 2, 3), /dx and dy must not overlap/);
  range(() => nat.softmax_bwd_f32(a, b, c, 2 ** 30, 2 ** 30), /size overflow/);
});
