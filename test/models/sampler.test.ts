// The token sampler: greedy is argmax; temperature sampling draws from softmax(logits / T);
// top-k and top-p keep only the tokens they should; the same seed gives the same draws.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Sampler } from '../../src/models/sampler.js';

const logits = Float32Array.from([2, 0.5, -1, 1.5, 0, -3, 1, 0.2]);
const softmax = (x: Float32Array, T: number) => {
  const m = Math.max(...x);
  const e = Array.from(x, (v) => Math.exp((v - m) / T));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
};
const frequencies = (s: Sampler, n: number, row = logits) => {
  const f = new Array(row.length).fill(0);
  for (let i = 0; i < n; i++) f[s.sample(row)] += 1 / n;
  return f;
};

test('greedy sampling picks the argmax', () => {
  assert.equal(new Sampler({ temperature: 0 }).sample(logits), 0);
});

test('temperature sampling draws each token with its softmax probability (20 000 draws, within 4 standard errors)', () => {
  for (const T of [0.7, 1, 2]) {
    const n = 20000, p = softmax(logits, T), f = frequencies(new Sampler({ temperature: T, seed: 3 }), n);
    p.forEach((pi, i) => assert.ok(Math.abs(f[i] - pi) < 4 * Math.sqrt((pi * (1 - pi)) / n) + 1e-9, `T ${T}, token ${i}: frequency ${f[i]} vs probability ${pi}`));
  }
});

test('top-k = vocabulary size draws exactly like plain temperature sampling; sampling reads its row at an offset', () => {
  const a = new Sampler({ temperature: 1, seed: 7 }), b = new Sampler({ temperature: 1, topK: logits.length, seed: 7 });
  const padded = new Float32Array(3 + logits.length).fill(99);
  padded.set(logits, 3);
  for (let i = 0; i < 500; i++) assert.equal(a.sample(logits), b.sample(padded, 3, logits.length));
});

test('top-k keeps only the k most likely tokens; top-p keeps the smallest set reaching p', () => {
  const k = frequencies(new Sampler({ temperature: 1, topK: 2, seed: 1 }), 4000);
  k.forEach((f, i) => assert.ok(i === 0 || i === 3 || f === 0, `top-2 drew token ${i}`));
  const p = softmax(logits, 1);
  const f = frequencies(new Sampler({ temperature: 1, topP: 0.5, seed: 1 }), 4000);
  // token 0 alone holds < 0.5, tokens 0 and 3 together ≥ 0.5
  assert.ok(p[0] < 0.5 && p[0] + p[3] >= 0.5);
  f.forEach((fi, i) => assert.ok(i === 0 || i === 3 || fi === 0, `top-p 0.5 drew token ${i}`));
});

test('the same seed gives the same draws', () => {
  const a = new Sampler({ temperature: 1, seed: 11 }), b = new Sampler({ temperature: 1, seed: 11 });
  assert.deepEqual(Array.from({ length: 200 }, () => a.sample(logits)), Array.from({ length: 200 }, () => b.sample(logits)));
});
