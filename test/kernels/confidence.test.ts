// Early-exit confidence kernels (softmax_top2_f32, kl_logits_f32): native against the TS
// reference on random, peaked, flat, tied and degenerate rows at several lengths and offsets;
// both against probabilities computed here in float64 from first principles; argument checks.
// Tolerances: probabilities 1e-6 relative (fp32 exp), KL 1e-6 absolute + 1e-5 relative.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { native, reference as ref, type Kernels } from '../../src/tensor/kernels.js';
import { randn, skipWithoutNative } from '../helpers.js';

const skip = skipWithoutNative(native);
const nat = native!;
const impls: [string, Kernels][] = native ? [['native', native], ['ref', ref]] : [['ref', ref]];

/** softmax of x[o .. o+n) in float64, straight from the definition */
function probs64(x: Float32Array, o: number, n: number): number[] {
  const m = Math.max(...x.subarray(o, o + n));
  const e = Array.from(x.subarray(o, o + n), (v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

function rows(): [string, Float32Array][] {
  const tied = Float32Array.from({ length: 300 }, (_, i) => (i * 7) % 5);
  const nan = randn(300, 6);
  nan[17] = NaN;
  const someNegInf = randn(300, 7, 3);
  for (let i = 0; i < 300; i += 4) someNegInf[i] = -Infinity;
  return [
    ['random', randn(1000, 1)],
    ['peaked', randn(1000, 2, 12)],
    ['flat', randn(1000, 3, 0.01)],
    ['tied', tied],
    ['-inf entries', someNegInf],
    ['NaN entry', nan],
    ['all -inf', new Float32Array(40).fill(-Infinity)],
    ['+inf entry', Float32Array.of(1, Infinity, 3, 2)],
  ];
}

const close = (a: number, b: number, rel: number, abs: number, label: string) =>
  assert.ok((Number.isNaN(a) && Number.isNaN(b)) || Math.abs(a - b) <= abs + rel * Math.abs(b), `${label}: ${a} vs ${b}`);

test('softmax_top2: native equals the reference (argmax exactly, probabilities to 1e-6) at every length and offset', { skip }, () => {
  const pn = new Float64Array(2), pr = new Float64Array(2);
  for (const [name, x] of rows())
    for (const offset of [0, 1, 5])
      for (let n = 1; offset + n <= x.length; n += n < 40 ? 1 : 97) {
        const label = `${name} offset ${offset} n ${n}`;
        assert.equal(nat.softmax_top2_f32(pn, x, offset, n), ref.softmax_top2_f32(pr, x, offset, n), label);
        close(pn[0], pr[0], 1e-6, 0, `${label} p1`);
        close(pn[1], pr[1], 1e-6, 1e-12, `${label} p2`);
      }
});

test('softmax_top2: the top two probabilities of a float64 softmax; ties give equal ones; no distribution gives NaN', () => {
  for (const [name, k] of impls) {
    const probs = new Float64Array(2);
    for (const [row, x] of rows().slice(0, 5)) {
      const p = probs64(x, 3, 200);
      const top = k.softmax_top2_f32(probs, x, 3, 200);
      const sorted = [...p].sort((a, b) => b - a);
      assert.equal(top, p.indexOf(sorted[0]), `${name} ${row} argmax`);
      close(probs[0], sorted[0], 1e-6, 0, `${name} ${row} p1`);
      close(probs[1], sorted[1], 1e-6, 1e-12, `${name} ${row} p2`);
    }
    assert.equal(k.softmax_top2_f32(probs, Float32Array.of(0, 2, 2, 1), 0, 4), 1, `${name}: first of two maxima`);
    assert.equal(probs[0], probs[1], `${name}: a tie has margin 0`);
    assert.equal(k.softmax_top2_f32(probs, Float32Array.of(5), 0, 1), 0);
    assert.deepEqual([...probs], [1, 0], `${name}: one entry`);
    for (const x of [Float32Array.of(1, NaN, 2), Float32Array.of(-Infinity, -Infinity), Float32Array.of(0, Infinity)]) {
      k.softmax_top2_f32(probs, x, 0, x.length);
      assert.ok(Number.isNaN(probs[0]) && Number.isNaN(probs[1]), `${name}: [${x}] has no distribution`);
    }
  }
});

test('kl_logits: native equals the reference, and both equal Σ P·log(P / max(Q, floor)) computed in float64', () => {
  const pairs: [string, Float32Array, Float32Array][] = [
    ['random', randn(1000, 11, 2), randn(1000, 12, 2)],
    ['peaked vs flat', randn(1000, 13, 10), randn(1000, 14, 0.1)],
    ['close', randn(1000, 15), randn(1000, 15).map((v, i) => v + 1e-3 * Math.sin(i))],
    ['q with -inf (floored)', randn(1000, 16), randn(1000, 17).map((v, i) => (i % 9 === 4 ? -Infinity : v))],
    ['p with -inf (skipped)', randn(1000, 18).map((v, i) => (i % 5 === 2 ? -Infinity : v)), randn(1000, 19)],
  ];
  for (const [name, k] of impls)
    for (const [label, p, q] of pairs)
      for (const [po, qo, n] of [[0, 0, 1000], [3, 1, 500], [7, 0, 33], [0, 0, 1]]) {
        const P = probs64(p, po, n), Q = probs64(q, qo, n);
        let expect = 0;
        P.forEach((pi, i) => { if (pi > 0) expect += pi * Math.log(pi / Math.max(Q[i], 1e-30)); });
        const got = k.kl_logits_f32(p, po, q, qo, n, 1e-30);
        close(got, expect, 1e-5, 1e-6, `${name} ${label} ${po}/${qo}/${n}`);
        assert.ok(got >= -1e-9, `${name} ${label}: KL ≥ 0`);
        if (native && name === 'native') close(got, ref.kl_logits_f32(p, po, q, qo, n, 1e-30), 1e-5, 1e-7, `${label} native vs ref`);
      }
  for (const [name, k] of impls) {
    const x = randn(500, 21, 4);
    assert.equal(k.kl_logits_f32(x, 0, x.slice(), 0, 500, 1e-30), 0, `${name}: identical rows`);
    assert.ok(Number.isNaN(k.kl_logits_f32(Float32Array.of(1, NaN), 0, Float32Array.of(1, 2), 0, 2, 1e-30)), `${name}: NaN in p`);
    assert.ok(Number.isNaN(k.kl_logits_f32(Float32Array.of(1, 2), 0, Float32Array.of(-Infinity, -Infinity), 0, 2, 1e-30)), `${name}: q all -inf`);
  }
});

test('native confidence kernels reject bad arguments', { skip }, () => {
  const x = new Float32Array(8), probs = new Float64Array(2);
  const range = (fn: () => unknown, msg: RegExp) => assert.throws(fn, { name: 'RangeError', message: msg });
  const type = (fn: () => unknown, msg: RegExp) => assert.throws(fn, { name: 'TypeError', message: msg });
  range(() => nat.softmax_top2_f32(probs, x, 3, 6), /\[softmax_top2_f32\] x has 8 elements, expected offset \+ n = 9/);
  range(() => nat.softmax_top2_f32(probs, x, 0, 0), /n must be at least 1/);
  range(() => nat.softmax_top2_f32(new Float64Array(1), x, 0, 8), /probs has 1 elements, expected 2/);
  type(() => nat.softmax_top2_f32(new Float32Array(2) as unknown as Float64Array, x, 0, 8), /probs must be a Float64Array/);
  range(() => nat.softmax_top2_f32(probs, x, -1, 2), /offset must be a non-negative integer/);
  range(() => nat.kl_logits_f32(x, 0, new Float32Array(4), 0, 8, 1e-30), /\[kl_logits_f32\] q has 4 elements, expected q_offset \+ n = 8/);
  range(() => nat.kl_logits_f32(x, 1, x, 0, 8, 1e-30), /p has 8 elements, expected p_offset \+ n = 9/);
  range(() => nat.kl_logits_f32(x, 0, x, 0, 8, 0), /q_floor must be positive/);
  range(() => nat.kl_logits_f32(x, 0, x, 0, 0, 1e-30), /n must be at least 1/);
  type(() => (nat.kl_logits_f32 as unknown as (...a: unknown[]) => number)(x, 0, x, 0, 8), /expected 6 arguments, got 5/);
});
