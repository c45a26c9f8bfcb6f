// RMSNorm (plain and Gemma's ·(1+w)) and LayerNorm: native against the TS
// reference on every rows × D in ODD_SIZES; both backward passes against central
// finite differences of a float64 forward written here; accumulate semantics;
// known facts; argument validation of the native entry points.
// Tolerances (max|Δ| / max|ref|): forward 1e-5, backward 1e-5 native vs ref, 1e-4 vs finite differences;
// dx also gets an absolute floor at the size of its terms (rstd·|w|·|dy|), because where the
// terms cancel (D = 1 RMSNorm, D = 2 LayerNorm) the true dx is ~0 and fp32 keeps only that floor.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { native, reference as ref, type Kernels } from '../../src/tensor/kernels.js';
import { ODD_SIZES, assertClose, randn, randu, skipWithoutNative } from '../helpers.js';

const skip = skipWithoutNative(native);
const nat = native!;
const impls: [string, Kernels][] = native ? [['native', native], ['ref', ref]] : [['ref', ref]];
const EPS = 1e-5;

// ---- float64 forward passes (the finite-difference oracles) ----

function rmsnorm64(x: Float64Array, w: Float64Array, rows: number, D: number, plusOne: boolean): Float64Array {
  const y = new Float64Array(rows * D);
  for (let r = 0; r < rows; r++) {
    let ms = 0;
    for (let j = 0; j < D; j++) ms += x[r * D + j] ** 2 / D;
    for (let j = 0; j < D; j++) y[r * D + j] = (x[r * D + j] / Math.sqrt(ms + EPS)) * (plusOne ? 1 + w[j] : w[j]);
  }
  return y;
}

function layernorm64(x: Float64Array, w: Float64Array, b: Float64Array, rows: number, D: number): Float64Array {
  const y = new Float64Array(rows * D);
  for (let r = 0; r < rows; r++) {
    const row = x.subarray(r * D, r * D + D);
    const mu = row.reduce((s, v) => s + v, 0) / D;
    const v = row.reduce((s, xv) => s + (xv - mu) ** 2, 0) / D;
    for (let j = 0; j < D; j++) y[r * D + j] = ((row[j] - mu) / Math.sqrt(v + EPS)) * w[j] + b[j];
  }
  return y;
}

/** Central differences of f with respect to every element of x. */
function fdGrad(f: (x: Float64Array) => number, x0: ArrayLike<number>, h = 1e-6): Float64Array {
  const x = Float64Array.from(x0), g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const xi = x[i];
    x[i] = xi + h;
    const fp = f(x);
    x[i] = xi - h;
    const fm = f(x);
    x[i] = xi;
    g[i] = (fp - fm) / (2 * h);
  }
  return g;
}

/** max rstd · max|w (or 1+w)| · max|dy|: the size of the terms dx is a difference of. */
function termScale(rstd: Float32Array, w: Float32Array, dy: Float32Array, plusOne = false): number {
  const m = (a: ArrayLike<number>, f = (v: number) => v) => Array.from(a).reduce((s, v) => Math.max(s, Math.abs(f(v))), 0);
  return m(rstd) * m(w, (v) => (plusOne ? 1 + v : v)) * m(dy);
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

// ---- native vs reference ----

test('rmsnorm forward and backward: native matches the reference for every rows × D (plain and plusOne)', { skip }, () => {
  for (const rows of ODD_SIZES)
    for (const D of ODD_SIZES)
      for (const plusOne of [0, 1] as const) {
        const n = rows * D, tag = `rmsnorm ${rows}x${D} plusOne=${plusOne}`;
        const x = randn(n, rows + D), w = randn(D, D + 1, 0.5), dy = randn(n, rows * D + 3);
        const [yN, yR, sN, sR] = [new Float32Array(n), new Float32Array(n), new Float32Array(rows), new Float32Array(rows)];
        nat.rmsnorm_fwd_f32(yN, sN, x, w, rows, D, EPS, plusOne);
        ref.rmsnorm_fwd_f32(yR, sR, x, w, rows, D, EPS, plusOne);
        assertClose(yN, yR, { rel: 1e-5, label: `${tag} y` });
        assertClose(sN, sR, { rel: 1e-5, label: `${tag} rstd` });
        const [dxN, dxR, dwN, dwR] = [new Float32Array(n), new Float32Array(n), new Float32Array(D), new Float32Array(D)];
        nat.rmsnorm_bwd_f32(dxN, dwN, dy, x, w, sR, rows, D, plusOne);
        ref.rmsnorm_bwd_f32(dxR, dwR, dy, x, w, sR, rows, D, plusOne);
        assertClose(dxN, dxR, { rel: 1e-5, abs: 1e-6 * termScale(sR, w, dy, plusOne === 1), label: `${tag} dx` });
        assertClose(dwN, dwR, { rel: 1e-5, label: `${tag} dw` });
      }
});

test('layernorm forward and backward: native matches the reference for every rows × D (with and without bias)', { skip }, () => {
  for (const rows of ODD_SIZES)
    for (const D of ODD_SIZES)
      for (const withBias of [true, false]) {
        const n = rows * D, tag = `layernorm ${rows}x${D} bias=${withBias}`;
        const x = randu(n, rows + D, -2, 3), w = randn(D, D + 1), b = withBias ? randn(D, D + 2) : null;
        const dy = randn(n, rows * D + 3);
        const outs = () => [new Float32Array(n), new Float32Array(rows), new Float32Array(rows)] as const;
        const [yN, mN, sN] = outs(), [yR, mR, sR] = outs();
        nat.layernorm_fwd_f32(yN, mN, sN, x, w, b, rows, D, EPS);
        ref.layernorm_fwd_f32(yR, mR, sR, x, w, b, rows, D, EPS);
        assertClose(yN, yR, { rel: 1e-5, label: `${tag} y` });
        assertClose(mN, mR, { rel: 1e-5, abs: 1e-6, label: `${tag} mean` });
        assertClose(sN, sR, { rel: 1e-5, label: `${tag} rstd` });
        const grads = () => [new Float32Array(n), new Float32Array(D), new Float32Array(D)] as const;
        const [dxN, dwN, dbN] = grads(), [dxR, dwR, dbR] = grads();
        nat.layernorm_bwd_f32(dxN, dwN, dbN, dy, x, w, mR, sR, rows, D);
        ref.layernorm_bwd_f32(dxR, dwR, dbR, dy, x, w, mR, sR, rows, D);
        assertClose(dxN, dxR, { rel: 1e-5, abs: 1e-6 * termScale(sR, w, dy), label: `${tag} dx` });
        assertClose(dwN, dwR, { rel: 1e-5, label: `${tag} dw` });
        assertClose(dbN, dbR, { rel: 1e-5, label: `${tag} db` });
      }
});

// ---- gradients against finite differences ----

test('rmsnorm backward (dx, dw; plain and plusOne) equals finite differences of a float64 forward', () => {
  for (const [rows, D] of [[3, 7], [2, 1], [1, 33]])
    for (const plusOne of [0, 1] as const)
      for (const [name, k] of impls) {
        const n = rows * D, tag = `${name} rmsnorm ${rows}x${D} plusOne=${plusOne}`;
        const x = randn(n, 11 + D), w = randn(D, 12 + D, 0.7), R = randn(n, 13 + D);
        const y = new Float32Array(n), rstd = new Float32Array(rows);
        k.rmsnorm_fwd_f32(y, rstd, x, w, rows, D, EPS, plusOne);
        assertClose(y, rmsnorm64(Float64Array.from(x), Float64Array.from(w), rows, D, plusOne === 1), { rel: 1e-6, label: `${tag} y vs float64` });
        const dx = new Float32Array(n), dw = new Float32Array(D);
        k.rmsnorm_bwd_f32(dx, dw, R, x, w, rstd, rows, D, plusOne);
        const w64 = Float64Array.from(w), x64 = Float64Array.from(x);
        assertClose(dx, fdGrad((xx) => dot(rmsnorm64(xx, w64, rows, D, plusOne === 1), R), x), {
          rel: 1e-4, abs: 1e-5 * termScale(rstd, w, R, plusOne === 1), label: `${tag} dx` });
        assertClose(dw, fdGrad((ww) => dot(rmsnorm64(x64, ww, rows, D, plusOne === 1), R), w), { rel: 1e-4, label: `${tag} dw` });
      }
});

test('layernorm backward (dx, dw, db) equals finite differences of a float64 forward', () => {
  for (const [rows, D] of [[3, 7], [2, 2], [1, 33]])
    for (const [name, k] of impls) {
      const n = rows * D, tag = `${name} layernorm ${rows}x${D}`;
      const x = randn(n, 21 + D, 2), w = randn(D, 22 + D), b = randn(D, 23 + D), R = randn(n, 24 + D);
      const y = new Float32Array(n), mean = new Float32Array(rows), rstd = new Float32Array(rows);
      k.layernorm_fwd_f32(y, mean, rstd, x, w, b, rows, D, EPS);
      const [x64, w64, b64] = [x, w, b].map((a) => Float64Array.from(a));
      assertClose(y, layernorm64(x64, w64, b64, rows, D), { rel: 1e-6, label: `${tag} y vs float64` });
      const dx = new Float32Array(n), dw = new Float32Array(D), db = new Float32Array(D);
      k.layernorm_bwd_f32(dx, dw, db, R, x, w, mean, rstd, rows, D);
      assertClose(dx, fdGrad((xx) => dot(layernorm64(xx, w64, b64, rows, D), R), x), {
        rel: 1e-4, abs: 1e-5 * termScale(rstd, w, R), label: `${tag} dx` });
      assertClose(dw, fdGrad((ww) => dot(layernorm64(x64, ww, b64, rows, D), R), w), { rel: 1e-4, label: `${tag} dw` });
      assertClose(db, fdGrad((bb) => dot(layernorm64(x64, w64, bb, rows, D), R), b), { rel: 1e-4, label: `${tag} db` });
    }
});

// ---- accumulate / overwrite semantics ----

test('dw and db accumulate (two calls give twice the gradient); dx is overwritten; null dw/db are skipped', () => {
  const rows = 33, D = 1000, n = rows * D;
  const x = randn(n, 1), w = randn(D, 2), b = randn(D, 3), dy = randn(n, 4);
  for (const [name, k] of impls) {
    const y = new Float32Array(n), mean = new Float32Array(rows), rstd = new Float32Array(rows);
    k.rmsnorm_fwd_f32(y, rstd, x, w, rows, D, EPS, 0);
    const dx1 = new Float32Array(n), dw = new Float32Array(D);
    k.rmsnorm_bwd_f32(dx1, dw, dy, x, w, rstd, rows, D, 0);
    const once = dw.slice(), dx2 = new Float32Array(n).fill(NaN);
    k.rmsnorm_bwd_f32(dx2, dw, dy, x, w, rstd, rows, D, 0);
    assertClose(dw, Array.from(once, (v) => 2 * v), { rel: 1e-6, label: `${name} rmsnorm dw twice` });
    assertClose(dx2, dx1, { rel: 0, label: `${name} rmsnorm dx overwritten` });
    const dx3 = new Float32Array(n);
    k.rmsnorm_bwd_f32(dx3, null, dy, x, w, rstd, rows, D, 0);
    assertClose(dx3, dx1, { rel: 0, label: `${name} rmsnorm dw = null` });

    k.layernorm_fwd_f32(y, mean, rstd, x, w, b, rows, D, EPS);
    const ldx = new Float32Array(n), ldw = new Float32Array(D), ldb = new Float32Array(D);
    k.layernorm_bwd_f32(ldx, ldw, ldb, dy, x, w, mean, rstd, rows, D);
    const w1 = ldw.slice(), b1 = ldb.slice();
    k.layernorm_bwd_f32(ldx.fill(NaN), ldw, ldb, dy, x, w, mean, rstd, rows, D);
    assertClose(ldw, Array.from(w1, (v) => 2 * v), { rel: 1e-6, label: `${name} layernorm dw twice` });
    assertClose(ldb, Array.from(b1, (v) => 2 * v), { rel: 1e-6, label: `${name} layernorm db twice` });
    const ldx2 = new Float32Array(n);
    k.layernorm_bwd_f32(ldx2, null, null, dy, x, w, mean, rstd, rows, D);
    assertClose(ldx2, ldx, { rel: 0, label: `${name} layernorm dw = db = null` });
  }
});

test('native norm results do not depend on the thread count (rows split across threads, dw by column panels)', { skip }, () => {
  const rows = 100, D = 1000, n = rows * D, x = randn(n, 7), w = randn(D, 8), dy = randn(n, 9);
  const runWith = (threads: number) => {
    const before = nat.get_threads();
    nat.set_threads(threads);
    const y = new Float32Array(n), rstd = new Float32Array(rows), dx = new Float32Array(n), dw = new Float32Array(D);
    nat.rmsnorm_fwd_f32(y, rstd, x, w, rows, D, EPS, 0);
    nat.rmsnorm_bwd_f32(dx, dw, dy, x, w, rstd, rows, D, 0);
    nat.set_threads(before);
    return [y, rstd, dx, dw];
  };
  const one = runWith(1), two = runWith(2);
  one.forEach((a, i) => assertClose(two[i], a, { rel: 0, label: `output ${i}` }));
});

// ---- known facts ----

test('known facts: rmsnorm with w = 1 (eps = 0) gives rows of mean square 1; Gemma plusOne with w = 0 equals plain with w = 1; layernorm rows have mean 0 and variance 1', () => {
  const rows = 7, D = 33, n = rows * D;
  const x = randn(n, 5, 4), ones = new Float32Array(D).fill(1), zeros = new Float32Array(D);
  for (const [name, k] of impls) {
    const y = new Float32Array(n), yg = new Float32Array(n);
    k.rmsnorm_fwd_f32(y, null, x, ones, rows, D, 0, 0);
    k.rmsnorm_fwd_f32(yg, null, x, zeros, rows, D, 0, 1);
    assertClose(yg, y, { rel: 0, label: `${name} plusOne w=0` });
    for (let r = 0; r < rows; r++) {
      const ms = y.subarray(r * D, r * D + D).reduce((s, v) => s + v * v, 0) / D;
      assert.ok(Math.abs(ms - 1) < 1e-5, `${name} rmsnorm row ${r} mean square ${ms}`);
    }
    k.layernorm_fwd_f32(y, null, null, x, ones, null, rows, D, 0);
    for (let r = 0; r < rows; r++) {
      const row = y.subarray(r * D, r * D + D);
      const mu = row.reduce((s, v) => s + v, 0) / D, v = row.reduce((s, e) => s + (e - mu) ** 2, 0) / D;
      assert.ok(Math.abs(mu) < 1e-6 && Math.abs(v - 1) < 1e-5, `${name} layernorm row ${r}: mean ${mu}, var ${v}`);
    }
  }
});

// ---- validation ----

test('native norm kernels reject bad arguments', { skip }, () => {
  const rows = 2, D = 4, x = new Float32Array(8), y = new Float32Array(8), w = new Float32Array(4), s = new Float32Array(2);
  const range = (fn: () => void, msg: RegExp) => assert.throws(fn, { name: 'RangeError', message: msg });
  const type = (fn: () => void, msg: RegExp) => assert.throws(fn, { name: 'TypeError', message: msg });
  range(() => nat.rmsnorm_fwd_f32(y, s, x, w, rows, 0, EPS, 0), /D must be an integer in \[1,/);
  range(() => nat.rmsnorm_fwd_f32(y, s, x, w, -1, D, EPS, 0), /rows must be a non-negative integer/);
  range(() => nat.rmsnorm_fwd_f32(y, s, x, w, 1.5, D, EPS, 0), /rows must be a non-negative integer/);
  range(() => nat.rmsnorm_fwd_f32(y, s, x, w, rows, D, -1e-5, 0), /eps must be ≥ 0/);
  range(() => nat.rmsnorm_fwd_f32(y, s, x, w, rows, D, EPS, 2 as 0), /plusOne must be an integer in \[0, 1\]/);
  range(() => nat.rmsnorm_fwd_f32(y, new Float32Array(1), x, w, rows, D, EPS, 0), /rstd has 1 elements, expected rows = 2/);
  range(() => nat.rmsnorm_fwd_f32(y, s, x, new Float32Array(3), rows, D, EPS, 0), /w has 3 elements, expected D = 4/);
  range(() => nat.rmsnorm_fwd_f32(y, s, new Float32Array(7), w, rows, D, EPS, 0), /x has 7 elements, expected rows·D = 8/);
  type(() => nat.rmsnorm_fwd_f32(y, s, x, new Float64Array(4) as unknown as Float32Array, rows, D, EPS, 0), /w must be a Float32Array/);
  range(() => nat.rmsnorm_fwd_f32(x, s, x, w, rows, D, EPS, 0), /y and x must not overlap/);
  range(() => nat.rmsnorm_bwd_f32(y, y.subarray(4), x, x, w, s, rows, D, 0), /dx and dw must not overlap/);
  range(() => nat.rmsnorm_bwd_f32(y, w, x, x, w, s, rows, D, 0), /dw and w must not overlap/);
  type(() => nat.rmsnorm_bwd_f32(y, null, x, x, w, null as unknown as Float32Array, rows, D, 0), /rstd must be a Float32Array/);
  range(() => nat.layernorm_fwd_f32(y, s, s, x, w, null, rows, D, EPS), /mean and rstd must not overlap/);
  range(() => nat.layernorm_fwd_f32(y, null, null, x, w, new Float32Array(2), rows, D, EPS), /b has 2 elements, expected D = 4/);
  range(() => nat.layernorm_bwd_f32(y, w.slice(), w.slice(), x, x, w, s, new Float32Array(1), rows, D), /rstd has 1 elements/);
  range(() => nat.layernorm_bwd_f32(y, null, null, x, x, w, s, s, 2 ** 21, 2 ** 20), /size overflow/);
});
