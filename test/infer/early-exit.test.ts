// The exit tracker's four confidence measures, on logits whose probabilities are worked out here
// in float64: each passes just below its value and fails just above it, kl compares consecutive
// loops of one token only, stable counts loops with the same argmax, minLoops holds a token
// back, and the oracle reports the earliest loop that agrees with the last.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExitTracker } from '../../src/infer/early-exit.js';
import type { EarlyExitOptions } from '../../src/infer/types.js';

const V = 6;
const opts = (measure: EarlyExitOptions['measure'], threshold: number, minLoops = 1, stableLoops = 2): Required<EarlyExitOptions> =>
  ({ measure, threshold, minLoops, stableLoops });
function softmax(x: number[]): number[] {
  const m = Math.max(...x), e = x.map((v) => Math.exp(v - m)), s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}
/** logits at an offset inside a larger buffer, as the engine hands them over */
function packed(x: number[], offset = 3): [Float32Array, number] {
  const buf = new Float32Array(offset + x.length + 2).fill(99);
  buf.set(x, offset);
  return [buf, offset];
}
const A = [2.0, 0.5, 1.25, -1, 0, 0.3], B = [0.2, 1.7, 1.5, -0.5, 0.1, 0];
const once = (x: number[], o: Required<EarlyExitOptions>, loopsDone = 1) => new ExitTracker().observe(...packed(x), V, loopsDone, o);

test('maxProb and margin pass exactly when the top probability (or top-1 minus top-2) reaches the threshold', () => {
  const p = softmax(Array.from(new Float32Array(A))).sort((a, b) => b - a);
  assert.equal(once(A, opts('maxProb', p[0] - 1e-5)), true);
  assert.equal(once(A, opts('maxProb', p[0] + 1e-5)), false);
  assert.equal(once(A, opts('margin', p[0] - p[1] - 1e-5)), true);
  assert.equal(once(A, opts('margin', p[0] - p[1] + 1e-5)), false);
  assert.equal(once([1, 3, 3, 0, 0, 0], opts('margin', 1e-9)), false, 'a tie has margin 0');
  assert.equal(once(A, opts('maxProb', 0, 2), 1), false, 'minLoops holds the token back');
  assert.equal(once(A, opts('maxProb', 0, 2), 2), true);
  assert.equal(once([NaN, 1, 2, 3, 4, 5], opts('maxProb', 0)), false, 'logits with NaN never pass');
});

test('kl compares a loop with the previous loop of the same token: never on its first loop, and not across tokens', () => {
  const P = softmax(Array.from(new Float32Array(B))), Q = softmax(Array.from(new Float32Array(A)));
  const kl = P.reduce((s, p, i) => s + p * Math.log(p / Q[i]), 0);
  for (const [threshold, expect] of [[kl + 1e-5, true], [kl - 1e-5, false]] as const) {
    const t = new ExitTracker();
    assert.equal(t.observe(...packed(A), V, 1, opts('kl', 1e9)), false, 'no previous loop yet');
    assert.equal(t.observe(...packed(B, 7), V, 2, opts('kl', threshold)), expect, `KL(B ‖ A) = ${kl} against ${threshold}`);
  }
  const t = new ExitTracker();
  t.observe(...packed(A), V, 1, opts('kl', 1e-6));
  assert.equal(t.observe(...packed(A), V, 2, opts('kl', 1e-6)), true, 'the same distribution twice: KL 0');
  t.reset();
  assert.equal(t.observe(...packed(A), V, 1, opts('kl', 1e9)), false, 'a new token has no previous loop');
});

test('stable passes once the argmax has held for stableLoops loops; the oracle names the first loop that agrees with the last', () => {
  const t = new ExitTracker(), o = opts('stable', 0, 1, 3);
  assert.deepEqual([A, A, B, B, B].map((x, i) => t.observe(...packed(x), V, i + 1, o)), [false, false, false, false, true]);
  assert.deepEqual(t.argmaxes, [0, 0, 1, 1, 1]);
  assert.equal(t.oracleLoops(), 3);
  t.reset();
  [B, A, A].forEach((x, i) => t.observe(...packed(x), V, i + 1, null));
  assert.equal(t.oracleLoops(), 2);
});
