// The engine's tokens-per-second meter: the rate over the window's samples, samples older than
// the window dropped, and the same answers after many samples (the expired prefix is compacted).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RateMeter } from '../../src/infer/rate.js';

test('rate meter: tokens over the span of the samples in the window', () => {
  const m = new RateMeter(1000);
  assert.equal(m.perSecond(0), 0, 'no samples');
  m.add(5, 0);
  assert.equal(m.perSecond(0), 0, 'one sample has no span');
  m.add(10, 500);
  assert.equal(m.perSecond(500), 15 / 0.5);
  m.add(10, 1200); // the first sample (t = 0) is now older than the window
  assert.equal(m.perSecond(1200), 20 / 0.7);
  assert.equal(m.perSecond(5000), 0, 'everything expired');
});

test('rate meter: 100k samples, one every ms with n = t mod 7, give the brute-force rate at every 997th', () => {
  const m = new RateMeter(250);
  const samples: [number, number][] = [];
  for (let t = 0; t < 100_000; t++) {
    m.add(t % 7, t);
    samples.push([t, t % 7]);
    if (t % 997 === 0) {
      const live = samples.filter(([s]) => t - s <= 250);
      const expect = live.length > 1 ? live.reduce((a, [, n]) => a + n, 0) / ((t - live[0][0]) / 1000) : 0;
      assert.equal(m.perSecond(t), expect, `t = ${t}`);
    }
  }
});
