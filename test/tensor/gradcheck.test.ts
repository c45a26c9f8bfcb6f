// Finite-difference gradient checks for every differentiable primitive, through the
// autograd tape: loss = Σ op(inputs)·r for a fixed random r; each analytic gradient
// element is compared with a central difference of the same loss.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backward, noGrad } from '../../src/tensor/autograd.js';
import { Act } from '../../src/tensor/kernels.js';
import * as ops from '../../src/tensor/ops/index.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { assertClose, randint, randn } from '../helpers.js';

type Build = (inputs: Tensor[]) => Tensor;

function dot(a: Float32Array, r: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * r[i];
  return s;
}

/** Checks d(Σ f(x)·r)/dx for every input that requires grad. */
function gradcheck(name: string, f: Build, inputs: Tensor[], opts: { eps?: number; rel?: number; abs?: number } = {}): void {
  const { eps = 1e-2, rel = 2e-2, abs = 2e-3 } = opts;
  for (const t of inputs) t.grad = null;
  const out = f(inputs);
  const r = randn(out.size, 99);
  backward(out, r);
  for (const [j, t] of inputs.entries()) {
    if (!t.requiresGrad) continue;
    const x = t.f32;
    const numeric = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) {
      const keep = x[i];
      x[i] = keep + eps;
      const up = noGrad(() => dot(f(inputs).f32, r));
      x[i] = keep - eps;
      const down = noGrad(() => dot(f(inputs).f32, r));
      x[i] = keep;
      numeric[i] = (up - down) / (2 * eps);
    }
    assertClose(t.grad!, numeric, { rel, abs, label: `${name}: d/d input ${j}` });
  }
}

const p = (n: number, shape: number[], seed: number, scale = 1) => Tensor.param(randn(n, seed, scale), shape);

test('linear gradients (x, W, b) match finite differences', () => {
  gradcheck('linear', ([x, w, b]) => ops.linear(x, w, b), [p(15, [3, 5], 1), p(20, [4, 5], 2), p(4, [4], 3)]);
});

test('linear gradients with M > 32 rows (GEMM path) match finite differences', () => {
  gradcheck('linear', ([x, w]) => ops.linear(x, w), [p(35 * 6, [35, 6], 4), p(7 * 6, [7, 6], 5)]);
});

test('add, mul, scale gradients match finite differences', () => {
  gradcheck('add', ([a, b]) => ops.add(a, b), [p(12, [3, 4], 6), p(12, [3, 4], 7)]);
  gradcheck('mul', ([a, b]) => ops.mul(a, b), [p(12, [3, 4], 8), p(12, [3, 4], 9)]);
  gradcheck('scale', ([a]) => ops.scale(a, -1.7), [p(12, [3, 4], 10)]);
});

test('softcap gradient matches finite differences, where the cap bites and where it does not', () => {
  gradcheck('softcap', ([a]) => ops.softcap(a, 1.5), [p(12, [3, 4], 12, 3)]);
  const y = ops.softcap(Tensor.param(new Float32Array([0, 0.01, -100, 100]), [4]), 2);
  assert.ok(Math.abs(y.f32[1] - 0.01) < 1e-6 && y.f32[0] === 0 && Math.abs(y.f32[2] + 2) < 1e-6 && Math.abs(y.f32[3] - 2) < 1e-6, `${y.f32}`);
});

test('a tensor used twice gets the sum of both gradients (x·x and x + x)', () => {
  gradcheck('mul-self', ([a]) => ops.mul(a, a), [p(6, [6], 11)]);
  gradcheck('add-self', ([a]) => ops.add(ops.add(a, a), a), [p(6, [6], 12)]);
});

test('reshape, gatherCols, gatherRows gradients match finite differences', () => {
  gradcheck('reshape', ([a]) => ops.mul(ops.reshape(a, [4, 3]), ops.reshape(a, [4, 3])), [p(12, [3, 4], 13)]);
  gradcheck('gatherCols', ([a]) => ops.gatherCols(a, Int32Array.from([3, 0, 3, 1])), [p(12, [3, 4], 14)]);
  gradcheck('gatherRows', ([a]) => ops.gatherRows(a, Int32Array.from([2, 2, 0])), [p(12, [3, 4], 15)]);
});

test('rmsNorm (plain and Gemma 1+w) gradients match finite differences', () => {
  gradcheck('rmsNorm', ([x, w]) => ops.rmsNorm(x, w, 1e-5), [p(21, [3, 7], 16), p(7, [7], 17)]);
  gradcheck('rmsNorm+1', ([x, w]) => ops.rmsNorm(x, w, 1e-6, true), [p(21, [3, 7], 18), p(7, [7], 19)]);
});

test('layerNorm gradients (x, w, b) match finite differences', () => {
  gradcheck('layerNorm', ([x, w, b]) => ops.layerNorm(x, w, b, 1e-5), [p(21, [3, 7], 20), p(7, [7], 21), p(7, [7], 22)]);
});

test('rope gradients (rotate-half, interleaved, partial) match finite differences', () => {
  const pos = Int32Array.from([0, 3, 7]);
  const invFreq = Float32Array.from([1, 0.3, 0.05]);
  gradcheck('rope', ([x]) => ops.rope(x, pos, { invFreq, rotDim: 6, interleaved: false }), [p(3 * 2 * 6, [3, 2, 6], 23)]);
  gradcheck('rope-il', ([x]) => ops.rope(x, pos, { invFreq, rotDim: 6, interleaved: true }), [p(3 * 2 * 6, [3, 2, 6], 24)]);
  gradcheck('rope-partial', ([x]) => ops.rope(x, pos, { invFreq: invFreq.subarray(0, 2), rotDim: 4, interleaved: false }), [p(3 * 2 * 8, [3, 2, 8], 25)]);
});

test('causal attention gradients (q, k, v; GQA, two sequences) match finite differences', () => {
  const B = 2, T = 5, H = 4, Hkv = 2, Dh = 3;
  gradcheck('attention', ([q, k, v]) => ops.causalAttention(q, k, v, B, T, 0.5),
    [p(B * T * H * Dh, [B * T, H, Dh], 26), p(B * T * Hkv * Dh, [B * T, Hkv, Dh], 27), p(B * T * Hkv * Dh, [B * T, Hkv, Dh], 28)]);
});

test('activation and glu gradients match finite differences for every activation', () => {
  for (const [name, act] of Object.entries(Act)) {
    gradcheck(`act ${name}`, ([x]) => ops.activation(x, act), [p(13, [13], 29)], { eps: 1e-3 });
    gradcheck(`glu ${name}`, ([g, u]) => ops.glu(g, u, act), [p(13, [13], 30), p(13, [13], 31)], { eps: 1e-3 });
  }
});

test('embedding gradient (scatter-add, repeated ids) matches finite differences', () => {
  const ids = Int32Array.from([2, 0, 2, 4]);
  gradcheck('embedding', ([t]) => ops.embedding(t, ids), [p(5 * 3, [5, 3], 32)]);
});

test('cross-entropy gradient (with an ignored target) matches finite differences', () => {
  const targets = Int32Array.from([3, ops.IGNORE_INDEX, 0, 6]);
  gradcheck('crossEntropy', ([l]) => ops.crossEntropy(l, targets), [p(4 * 7, [4, 7], 33)], { eps: 1e-2 });
});

test('KL-divergence gradient (temperature 2) matches finite differences', () => {
  const teacher = randn(4 * 7, 34, 2);
  gradcheck('klDivergence', ([s]) => ops.klDivergence(s, teacher, 2), [p(4 * 7, [4, 7], 35)], { eps: 1e-2 });
});

test('a tiny end-to-end graph (embed → rmsNorm → linear → CE) matches finite differences', () => {
  const ids = randint(6, 9, 36);
  const targets = randint(6, 9, 37);
  gradcheck('graph', ([e, w, h]) => ops.crossEntropy(ops.linear(ops.rmsNorm(ops.embedding(e, ids), w, 1e-5), h), targets),
    [p(9 * 4, [9, 4], 38), p(4, [4], 39), p(9 * 4, [9, 4], 40)]);
});
