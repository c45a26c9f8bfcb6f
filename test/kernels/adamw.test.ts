// AdamW: native against the TS reference over several steps for n in ODD_SIZES;
// both against a float64 transcription of the torch.optim.AdamW algorithm; facts
// of the method (first step moves each weight by lr·sign(g); zero gradient is pure
// decay); argument validation. Tolerance: 1e-6 native vs ref, 1e-5 vs float64.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { native, reference as ref, type Kernels } from '../../src/tensor/kernels.js';
import { ODD_SIZES, assertClose, randn, skipWithoutNative } from '../helpers.js';

const skip = skipWithoutNative(native);
const nat = native!;
const impls: [string, Kernels][] = native ? [['native', native], ['ref', ref]] : [['ref', ref]];
const HP = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, wd: 0.1 };

/** torch.optim.AdamW's documented algorithm (amsgrad off, maximize off), in float64. */
function adamw64(p: Float64Array, g: ArrayLike<number>, m: Float64Array, v: Float64Array, t: number): void {
  const { lr, beta1, beta2, eps, wd } = HP;
  for (let i = 0; i < p.length; i++) {
    p[i] -= lr * wd * p[i];
    m[i] = beta1 * m[i] + (1 - beta1) * g[i];
    v[i] = beta2 * v[i] + (1 - beta2) * g[i] ** 2;
    const mHat = m[i] / (1 - beta1 ** t), vHat = v[i] / (1 - beta2 ** t);
    p[i] -= (lr * mHat) / (Math.sqrt(vHat) + eps);
  }
}

function run(k: Kernels, p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, t: number): void {
  k.adamw_f32(p, g, m, v, p.length, HP.lr, HP.beta1, HP.beta2, HP.eps, HP.wd, t);
}

test('adamw: native matches the reference and a float64 AdamW over 5 steps, for n in ODD_SIZES', { skip }, () => {
  for (const n of ODD_SIZES) {
    const p0 = randn(n, n), state = () => [p0.slice(), new Float32Array(n), new Float32Array(n)] as const;
    const [pN, mN, vN] = state(), [pR, mR, vR] = state();
    const p64 = Float64Array.from(p0), m64 = new Float64Array(n), v64 = new Float64Array(n);
    for (let t = 1; t <= 5; t++) {
      const g = randn(n, 100 * n + t, t === 3 ? 1e-3 : 1); // step 3: gradients 1000× smaller, so the moments carry history
      run(nat, pN, g, mN, vN, t);
      run(ref, pR, g, mR, vR, t);
      adamw64(p64, g, m64, v64, t);
      assertClose(pN, pR, { rel: 1e-6, label: `n=${n} step ${t} param` });
      assertClose(mN, mR, { rel: 1e-6, label: `n=${n} step ${t} m` });
      assertClose(vN, vR, { rel: 1e-6, label: `n=${n} step ${t} v` });
      assertClose(pR, p64, { rel: 1e-5, label: `n=${n} step ${t} ref param vs float64` });
    }
  }
});

test('adamw facts: without decay the first step moves each weight by lr against the sign of its gradient; a zero gradient only decays', () => {
  const n = 33;
  for (const [name, k] of impls) {
    const p0 = randn(n, 1), g = randn(n, 2), p = p0.slice();
    k.adamw_f32(p, g, new Float32Array(n), new Float32Array(n), n, 0.01, 0.9, 0.999, 1e-8, 0, 1);
    assertClose(Array.from(p, (v, i) => v - p0[i]), Array.from(g, (v) => -0.01 * Math.sign(v)), { rel: 1e-4, label: `${name} first step` });
    const q = p0.slice(), m = new Float32Array(n), v = new Float32Array(n);
    k.adamw_f32(q, new Float32Array(n), m, v, n, 0.01, 0.9, 0.999, 1e-8, 0.5, 7);
    assertClose(q, Array.from(p0, (x) => x * (1 - 0.01 * 0.5)), { rel: 1e-7, label: `${name} decay only` });
    assert.ok(m.every((x) => x === 0) && v.every((x) => x === 0), `${name}: moments stay 0`);
  }
});

test('adamw rejects step < 1 or fractional (native and reference) and bad arguments (native)', () => {
  const n = 4, p = new Float32Array(n), g = new Float32Array(n), m = new Float32Array(n), v = new Float32Array(n);
  const range = (fn: () => void, msg: RegExp) => assert.throws(fn, { name: 'RangeError', message: msg });
  const type = (fn: () => void, msg: RegExp) => assert.throws(fn, { name: 'TypeError', message: msg });
  for (const [, k] of impls)
    for (const step of [0, -1, 1.5]) range(() => k.adamw_f32(p, g, m, v, n, 1e-3, 0.9, 0.999, 1e-8, 0, step), /step must be an integer/);
  if (!native) return;
  range(() => nat.adamw_f32(p, g, m, new Float32Array(3), n, 1e-3, 0.9, 0.999, 1e-8, 0, 1), /\[adamw_f32\] v has 3 elements, expected n = 4/);
  range(() => nat.adamw_f32(p, g, m, v, n, 1e-3, 1, 0.999, 1e-8, 0, 1), /beta1 must be in \[0, 1\)/);
  range(() => nat.adamw_f32(p, g, m, v, n, 1e-3, 0.9, -0.1, 1e-8, 0, 1), /beta2 must be in \[0, 1\)/);
  range(() => nat.adamw_f32(p, g, m, v, n, 1e-3, 0.9, 0.999, -1, 0, 1), /eps must be ≥ 0/);
  range(() => nat.adamw_f32(p, g, m, v, n, NaN, 0.9, 0.999, 1e-8, 0, 1), /lr must be finite/);
  range(() => nat.adamw_f32(p, g, m, v, -n, 1e-3, 0.9, 0.999, 1e-8, 0, 1), /n must be a non-negative integer/);
  type(() => nat.adamw_f32(p, g, new Float64Array(n) as unknown as Float32Array, v, n, 1e-3, 0.9, 0.999, 1e-8, 0, 1), /m must be a Float32Array/);
  range(() => nat.adamw_f32(p, g, p, v, n, 1e-3, 0.9, 0.999, 1e-8, 0, 1), /param and m must not overlap/);
  range(() => nat.adamw_f32(p, v, m, v, n, 1e-3, 0.9, 0.999, 1e-8, 0, 1), /v and grad must not overlap/);
});
