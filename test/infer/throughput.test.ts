// The serving benchmark's report (src/infer/throughput.ts) on a small real recursive model:
// every system generates every token, rounds give medians, and the systems that must agree do.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BatchEngine } from '../../src/infer/engine.js';
import { benchThroughput, models, SYSTEM_NAMES, timeRequests } from '../../src/infer/throughput.js';
import { BUNDLED_MODEL } from '../../src/models/load.js';
import { convertToRecursive } from '../../src/recursive/index.js';

const tmp = mkdtempSync(join(tmpdir(), 'rrt-throughput-'));
const path = join(tmp, 'c2');
convertToRecursive(BUNDLED_MODEL, path, { nLoops: 2, strategy: 'cycle', init: 'stepwise', loraRank: 4 });
test.after(() => rmSync(tmp, { recursive: true, force: true }));

for (const dtype of ['f32', 'bf16'] as const) {
  test(`bench throughput (${dtype} weights, 2 rounds, forced exits): six systems, medians of the rounds, serial = batched tokens`, async () => {
    const progress: string[] = [];
    const r = await benchThroughput({ model: path, requests: 3, promptLen: 4, genLen: 6, concurrency: 2, exitFraction: 0.5, rounds: 2, dtype, threads: 1, onProgress: (d, t, k) => progress.push(`${d}/${t} ${k}`) });
    assert.equal(r.dtype, dtype);
    assert.deepEqual(progress, [...SYSTEM_NAMES, ...SYSTEM_NAMES].map((k, i) => `${i + 1}/12 ${k}`), 'one progress call per timed run');
    assert.equal(r.rounds, 2);
    for (const [name, s] of Object.entries(r.systems)) {
      assert.equal(s.tokens, 18, name);
      assert.equal(s.tokens_per_s_rounds.length, 2, name);
      const [a, b] = s.tokens_per_s_rounds;
      assert.ok(Math.abs(s.tokens_per_s - (a + b) / 2) <= 1e-9 * s.tokens_per_s, `${name}: the median of two rounds is their mean`);
    }
    const { depthwise, depthwise_exit, recursive_serial } = r.systems;
    assert.deepEqual(Object.keys(r.systems), ['vanilla_serial', 'vanilla_batched', 'depthwise', 'depthwise_exit', 'depthwise_oracle', 'recursive_serial']);
    assert.equal(depthwise!.mean_loops, 2);
    assert.equal(recursive_serial!.agreement_with_depthwise, 1, 'one request at a time gives the tokens of depth-wise batching');
    const loops = depthwise_exit!.mean_loops;
    assert.ok(loops > 1 && loops < 2, `forced exits after loop 1 for about half the tokens: ${loops}`);
    assert.ok(Math.abs(r.exit_gain!.ideal_loops_only - 2 / loops) < 1e-12);
    const perRound = depthwise_exit!.tokens_per_s_rounds.map((t, i) => t / depthwise!.tokens_per_s_rounds[i]);
    assert.ok(Math.abs(r.exit_gain!.measured - (perRound[0] + perRound[1]) / 2) < 1e-9);
    // 3 requests, 2 slots: one waits, so every system has a loaded window
    for (const [name, s] of Object.entries(r.systems)) assert.ok(s.loaded_tokens_per_s! > 0, `${name}: ${s.loaded_tokens_per_s}`);
    assert.ok(r.exit_gain!.measured_loaded! > 0);
  });
}

test('bench throughput with spread generation lengths: each request keeps its own length in every system', async () => {
  const r = await benchThroughput({ model: path, requests: 4, promptLen: 3, genLen: 8, genSpread: 0.5, concurrency: 2, exitFraction: 0.5, threads: 1 });
  assert.equal(r.gen_spread, 0.5);
  const tokens = Object.values(r.systems).map((s) => s.tokens);
  assert.ok(tokens.every((t) => t === tokens[0]), `same tokens in every system: ${tokens}`);
  assert.equal(tokens[0], r.gen_lengths.reduce((a, b) => a + b, 0));
  assert.ok(r.gen_lengths.every((n) => n >= 4 && n <= 12), `lengths within 8 × (1 ± 0.5): ${r.gen_lengths}`);
  assert.ok(new Set(r.gen_lengths).size > 1, `lengths differ: ${r.gen_lengths}`);
  assert.equal(r.systems.recursive_serial!.agreement_with_depthwise, 1);
});

test('bench throughput runs a chosen subset of systems, always with both baselines', async () => {
  const r = await benchThroughput({ model: path, requests: 2, promptLen: 3, genLen: 4, concurrency: 2, exitFraction: 0.5, threads: 1, systems: ['depthwise_exit'] });
  assert.deepEqual(Object.keys(r.systems), ['vanilla_batched', 'depthwise', 'depthwise_exit']);
  assert.ok(r.exit_gain && r.exit_gain.measured > 0);
  // 2 requests, 2 slots: nobody waits for a slot, so there is no loaded window
  assert.ok(Object.values(r.systems).every((s) => s.loaded_tokens_per_s === null));
  assert.equal(r.exit_gain.measured_loaded, null);
  const base = await benchThroughput({ model: path, requests: 2, promptLen: 3, genLen: 4, concurrency: 2, threads: 1, systems: ['recursive_serial'] });
  assert.deepEqual(Object.keys(base.systems), ['vanilla_batched', 'depthwise', 'recursive_serial']);
  assert.equal(base.exit_gain, null, 'no exit gain without depthwise_exit');
  assert.equal(base.systems.recursive_serial!.agreement_with_depthwise, 1);
});

test('bench throughput, paired: the batched systems run interleaved, each timed by its own steps, with the same tokens', async () => {
  const r = await benchThroughput({ model: path, requests: 3, promptLen: 3, genLen: 5, concurrency: 2, exitFraction: 0.5, threads: 1, paired: true, rounds: 2 });
  assert.equal(r.paired, true);
  assert.deepEqual(Object.keys(r.systems), ['vanilla_serial', 'vanilla_batched', 'depthwise', 'depthwise_exit', 'depthwise_oracle', 'recursive_serial']);
  for (const [name, s] of Object.entries(r.systems)) {
    assert.equal(s.tokens, 15, name);
    assert.equal(s.tokens_per_s_rounds.length, 2, name);
    assert.ok(s.seconds > 0 && s.tokens_per_s > 0, name);
  }
  assert.equal(r.systems.recursive_serial!.agreement_with_depthwise, 1);
  assert.equal(r.systems.vanilla_batched!.agreement_with_depthwise, r.systems.vanilla_serial!.agreement_with_depthwise);
});

test('timeRequests on the busy clock counts only the engine\'s own steps', async () => {
  const { recursive } = models(path, 0, 'f32');
  const engine = new BatchEngine(recursive, { maxBatch: 2 });
  const prompts = [[1, 2, 3], [4, 5, 6]];
  const t0 = performance.now();
  const busy = await timeRequests(engine, prompts, { maxTokens: 4, temperature: 0, eosIds: [] }, undefined, 'busy');
  const wall = (performance.now() - t0) / 1000;
  assert.equal(busy.tokens, 8);
  assert.ok(busy.seconds > 0 && busy.seconds <= wall, `busy ${busy.seconds} s within the wall time ${wall} s`);
  assert.ok(Math.abs(busy.seconds - engine.stats().busySeconds) < 1e-9, 'the engine reports the same busy time');
});

test('bench throughput refuses a bad dtype or round count with a clear message', async () => {
  await assert.rejects(benchThroughput({ model: path, dtype: 'f16' as 'f32' }), /dtype must be one of f32, bf16, q8_0, q4_0, got f16/);
  await assert.rejects(benchThroughput({ model: path, rounds: 0 }), /rounds must be a positive integer/);
  await assert.rejects(benchThroughput({ model: path, genSpread: 1 }), /genSpread must be in \[0, 1\)/);
  await assert.rejects(benchThroughput({ model: path, systems: ['fast' as 'depthwise'] }), /unknown system fast; systems are vanilla_serial, /);
});
