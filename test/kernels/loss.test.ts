// Fused cross-entropy and distillation KL: native against the TS reference on
// every rows × V in ODD_SIZES (with ignored rows); both gradients against central
// finite differences of float64 losses written here; known values (CE of uniform
// logits = log V, a two-class KL worked by hand, KL(p‖p) = 0); ignored rows; in-place
// gradients; target validation; argument validation.
// Tolerances: loss 1e-5 of max|ref| (+1e-6 absolute), gradients 1e-5 native vs ref, 1e-4 vs finite differences.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { native, reference as ref, type Kernels } from '../../src/tensor/kernels.js';
import { ODD_SIZES, assertClose, randint, randn, skipWithoutNative } from '../helpers.js';

const skip = skipWithoutNative(native);
const nat = native!;
const impls: [string, Kernels][] = native ? [['native', native], ['ref', ref]] : [['ref', ref]];
const IGNORE = -100;

/** log softmax of one row of z/τ in float64, written from the definition. */
function logSoftmax64(z: ArrayLike<number>, o: number, V: number, tau = 1): number[] {
  const row = Array.from({ length: V }, (_, j) => z[o + j] / tau);
  const m = Math.max(...row);
  const lse = m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
  return row.map((v) => v - lse);
}

function ce64(logits: ArrayLike<number>, targets: Int32Array, rows: number, V: number): number[] {
  return Array.from({ length: rows }, (_, r) => (targets[r] === IGNORE ? 0 : -logSoftmax64(logits, r * V, V)[targets[r]]));
}

function kl64(s: ArrayLike<number>, t: ArrayLike<number>, rows: number, V: number, tau: number): number[] {
  return Array.from({ length: rows }, (_, r) => {
    const ls = logSoftmax64(s, r * V, V, tau), lt = logSoftmax64(t, r * V, V, tau);
    return lt.reduce((acc, l, j) => acc + Math.exp(l) * (l - ls[j]), 0);
  });
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

const sum = (a: ArrayLike<number>) => Array.from(a).reduce((s, v) => s + v, 0);

/** Targets in [0, V) with every third row ignored. */
const targetsFor = (rows: number, V: number, seed: number) => randint(rows, V, seed).map((t, r) => (r % 3 === 1 ? IGNORE : t));

test('cross_entropy and kl_div: native matches the reference for every rows × V in ODD_SIZES', { skip }, () => {
  for (const rows of ODD_SIZES)
    for (const V of ODD_SIZES) {
      const n = rows * V, tag = `${rows}x${V}`;
      const logits = randn(n, rows + V, 3), teacher = randn(n, rows + V + 1, 3), targets = targetsFor(rows, V, rows * V);
      const gs = 1 / rows;
      const [lN, lR, dN, dR] = [new Float32Array(rows), new Float32Array(rows), new Float32Array(n), new Float32Array(n)];
      nat.cross_entropy_f32(lN, dN, logits, targets, rows, V, IGNORE, gs);
      ref.cross_entropy_f32(lR, dR, logits, targets, rows, V, IGNORE, gs);
      assertClose(lN, lR, { rel: 1e-5, abs: 1e-6, label: `CE ${tag} loss` });
      assertClose(dN, dR, { rel: 1e-5, label: `CE ${tag} dlogits` });
      for (const tau of [1, 2.5]) {
        nat.kl_div_f32(lN, dN, logits, teacher, rows, V, tau, gs);
        ref.kl_div_f32(lR, dR, logits, teacher, rows, V, tau, gs);
        assertClose(lN, lR, { rel: 1e-5, abs: 1e-6, label: `KL ${tag} τ=${tau} loss` });
        assertClose(dN, dR, { rel: 1e-5, label: `KL ${tag} τ=${tau} dlogits` });
      }
    }
});

test('cross_entropy: loss equals a float64 log-softmax NLL and dlogits equals gradScale × finite differences', () => {
  const rows = 4, V = 7, gs = 0.3, n = rows * V;
  const logits = randn(n, 1, 2), targets = Int32Array.from([3, IGNORE, 0, 6]);
  for (const [name, k] of impls) {
    const loss = new Float32Array(rows), dl = new Float32Array(n).fill(NaN);
    k.cross_entropy_f32(loss, dl, logits, targets, rows, V, IGNORE, gs);
    assertClose(loss, ce64(logits, targets, rows, V), { rel: 1e-6, label: `${name} loss vs float64` });
    const fd = fdGrad((z) => gs * sum(ce64(z, targets, rows, V)), logits);
    assertClose(dl, fd, { rel: 1e-4, label: `${name} dlogits vs finite differences` });
  }
});

test('kl_div: loss equals a float64 KL(p_t‖p_s) at temperature τ and dlogits equals gradScale × finite differences', () => {
  const rows = 3, V = 7, n = rows * V;
  const s = randn(n, 2, 2), t = randn(n, 3, 2);
  for (const tau of [1, 2])
    for (const [name, k] of impls) {
      const gs = tau * tau; // Hinton's τ² factor, as a caller would pass it
      const loss = new Float32Array(rows), dl = new Float32Array(n);
      k.kl_div_f32(loss, dl, s, t, rows, V, tau, gs);
      assertClose(loss, kl64(s, t, rows, V, tau), { rel: 1e-5, label: `${name} τ=${tau} loss vs float64` });
      const fd = fdGrad((z) => gs * sum(kl64(z, t, rows, V, tau)), s);
      assertClose(dl, fd, { rel: 1e-4, label: `${name} τ=${tau} dlogits vs finite differences` });
    }
});

test('known values: CE of equal logits is log V; two-class KL([½,½]‖[¼,¾]) = ½·ln(4/3); KL(p‖p) = 0 with zero gradient', () => {
  for (const [name, k] of impls) {
    for (const V of [1, 7, 1000]) {
      const loss = new Float32Array(2), dl = new Float32Array(2 * V);
      k.cross_entropy_f32(loss, dl, new Float32Array(2 * V).fill(-2.5), Int32Array.from([0, V - 1]), 2, V, IGNORE, 1);
      assertClose(loss, [Math.log(V), Math.log(V)], { rel: 1e-6, abs: 1e-7, label: `${name} CE uniform V=${V}` });
      assert.ok(Math.abs(sum(dl.subarray(0, V))) < 1e-6, `${name}: CE gradient row sums to 0`);
    }
    const loss = new Float32Array(1);
    k.kl_div_f32(loss, null, Float32Array.of(0, Math.log(3)), Float32Array.of(0, 0), 1, 2, 1, 1);
    assertClose(loss, [0.5 * Math.log(4 / 3)], { rel: 1e-6, label: `${name} two-class KL` });
    const z = randn(33, 4, 3), dl = new Float32Array(33);
    k.kl_div_f32(loss, dl, z, z, 1, 33, 2, 1);
    assert.ok(Math.abs(loss[0]) < 1e-6 && dl.every((v) => Math.abs(v) < 1e-7), `${name}: KL(p‖p) = ${loss[0]}`);
  }
});

test('ignored rows give loss 0 and zero gradient rows (any ignoreIndex, also one inside [0, V)); teacher −inf logits (p_t = 0) add nothing', () => {
  const rows = 3, V = 5, n = rows * V, logits = randn(n, 5);
  for (const [name, k] of impls) {
    const loss = new Float32Array(rows).fill(NaN), dl = new Float32Array(n).fill(NaN);
    k.cross_entropy_f32(loss, dl, logits, Int32Array.from([2, 0, 0]), rows, V, 0, 1);
    assert.equal(loss[1], 0);
    assert.equal(loss[2], 0);
    assert.ok(dl.subarray(V).every((v) => v === 0), `${name}: ignored gradient rows are 0`);
    assert.ok(loss[0] > 0 && dl.subarray(0, V).every(Number.isFinite), `${name}: the kept row is computed`);
    const t = Float32Array.of(0, -Infinity, 1, -Infinity), s = Float32Array.of(0.5, 2, -1, 0), kl = new Float32Array(1), g = new Float32Array(4);
    k.kl_div_f32(kl, g, s, t, 1, 4, 1, 1);
    // Over the teacher's support {0, 2}: KL = KL(restricted rows) + log(Σ_all e^s / Σ_support e^s).
    const expect = kl64([0.5, -1], [0, 1], 1, 2, 1)[0] + Math.log(sum([0.5, 2, -1, 0].map(Math.exp)) / (Math.exp(0.5) + Math.exp(-1)));
    assertClose(kl, [expect], { rel: 1e-6, label: `${name} KL with p_t = 0 entries` });
    assert.ok(g.every(Number.isFinite), `${name}: finite gradient`);
  }
});

test('dlogits may overwrite the logits (in place) with the same results', () => {
  const rows = 7, V = 33, n = rows * V, logits = randn(n, 8, 2), teacher = randn(n, 9), targets = targetsFor(rows, V, 3);
  for (const [name, k] of impls) {
    const l1 = new Float32Array(rows), d1 = new Float32Array(n), l2 = new Float32Array(rows), z = logits.slice();
    k.cross_entropy_f32(l1, d1, logits, targets, rows, V, IGNORE, 0.5);
    k.cross_entropy_f32(l2, z, z, targets, rows, V, IGNORE, 0.5);
    assertClose(l2, l1, { rel: 0, label: `${name} CE loss in place` });
    assertClose(z, d1, { rel: 0, label: `${name} CE dlogits in place` });
    const s = logits.slice();
    k.kl_div_f32(l1, d1, logits, teacher, rows, V, 2, 1);
    k.kl_div_f32(l2, s, s, teacher, rows, V, 2, 1);
    assertClose(l2, l1, { rel: 0, label: `${name} KL loss in place` });
    assertClose(s, d1, { rel: 0, label: `${name} KL dlogits in place` });
  }
});

test('targets outside [0, V) that are not ignoreIndex throw before anything is written; τ ≤ 0 throws', () => {
  const rows = 4, V = 6, logits = randn(rows * V, 1);
  for (const [name, k] of impls) {
    for (const [r, bad] of [[2, V], [0, -1], [3, IGNORE + 1]]) {
      const targets = Int32Array.from([0, 1, 2, 3]);
      targets[r] = bad;
      const loss = new Float32Array(rows).fill(9), dl = new Float32Array(rows * V).fill(9);
      assert.throws(() => k.cross_entropy_f32(loss, dl, logits, targets, rows, V, IGNORE, 1), {
        name: 'RangeError', message: new RegExp(`targets\\[${r}\\] = ${bad} is outside \\[0, V = ${V}\\)`),
      }, name);
      assert.ok(loss.every((v) => v === 9) && dl.every((v) => v === 9), `${name}: nothing written`);
    }
    for (const tau of [0, -1])
      assert.throws(() => k.kl_div_f32(new Float32Array(rows), null, logits, logits, rows, V, tau, 1), { name: 'RangeError', message: /temperature must be > 0/ });
  }
});

test('native losses reject bad arguments', { skip }, () => {
  const rows = 2, V = 4, loss = new Float32Array(2), z = new Float32Array(8), d = new Float32Array(8), t = new Int32Array(2);
  const range = (fn: () => void, msg: RegExp) => assert.throws(fn, { name: 'RangeError', message: msg });
  const type = (fn: () => void, msg: RegExp) => assert.throws(fn, { name: 'TypeError', message: msg });
  range(() => nat.cross_entropy_f32(loss, d, new Float32Array(7), t, rows, V, IGNORE, 1), /\[cross_entropy_f32\] logits has 7 elements, expected rows·V = 8/);
  range(() => nat.cross_entropy_f32(new Float32Array(1), null, z, t, rows, V, IGNORE, 1), /loss has 1 elements, expected rows = 2/);
  range(() => nat.cross_entropy_f32(loss, null, z, new Int32Array(1), rows, V, IGNORE, 1), /targets has 1 elements/);
  type(() => nat.cross_entropy_f32(loss, null, z, Float32Array.of(0, 1) as unknown as Int32Array, rows, V, IGNORE, 1), /targets must be a Int32Array/);
  range(() => nat.cross_entropy_f32(loss, null, z, t, rows, V, 0.5, 1), /ignoreIndex must be an integer/);
  range(() => nat.cross_entropy_f32(loss, null, z, t, rows, V, IGNORE, Infinity), /gradScale must be finite/);
  range(() => nat.cross_entropy_f32(loss, null, z, t, -rows, V, IGNORE, 1), /rows must be a non-negative integer/);
  range(() => nat.cross_entropy_f32(loss, new Float32Array(7), z, t, rows, V, IGNORE, 1), /dlogits has 7 elements, expected rows·V = 8/);
  range(() => nat.cross_entropy_f32(loss, z.subarray(1), z, t, rows, 3, IGNORE, 1), /dlogits and logits must not overlap/);
  range(() => nat.cross_entropy_f32(z.subarray(0, 2), null, z, t, rows, V, IGNORE, 1), /loss and logits must not overlap/);
  range(() => nat.kl_div_f32(loss, d, z, d, rows, V, 1, 1), /dlogits and teacher must not overlap/);
  type(() => nat.kl_div_f32(loss, d, z, new Float64Array(8) as unknown as Float32Array, rows, V, 1, 1), /teacher must be a Float32Array/);
  range(() => nat.kl_div_f32(loss, null, z, z, rows, V, NaN, 1), /temperature must be finite/);
});
