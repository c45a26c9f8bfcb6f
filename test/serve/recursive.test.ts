// The server over recursive models converted from the bundled stories260K: a cycle-shared model
// with early exit (tokens leave after different loops, in the response and in /metrics), and a
// sequence-shared one, whose loops cannot be cut short (early_exit refused, every token reported
// at its real loop count).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BatchEngine } from '../../src/infer/engine.js';
import type { Engine } from '../../src/infer/types.js';
import { BUNDLED_MODEL, loadModel, type LoadedModel } from '../../src/models/load.js';
import { convertToRecursive, type ConvertOptions } from '../../src/recursive/convert.js';
import { createServer, type RrtServer } from '../../src/serve/server.js';

const tmp = mkdtempSync(join(tmpdir(), 'rrt-serve-recursive-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function converted(name: string, opts: ConvertOptions): LoadedModel {
  const dir = join(tmp, name);
  convertToRecursive(BUNDLED_MODEL, dir, opts);
  return loadModel(dir);
}

async function start(m: LoadedModel, engine: Engine): Promise<{ url: string; server: RrtServer }> {
  const server = createServer(engine, { name: 'rrt-model', config: m.config, tokenizer: m.tokenizer! });
  const addr = await server.listen(0, '127.0.0.1');
  return { url: `http://127.0.0.1:${addr.port}`, server };
}

function post(url: string, body: unknown): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
}

/** The exit-loop histogram's buckets in /metrics, per loop (not cumulative). */
async function metricsHistogram(url: string): Promise<number[]> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const cumulative = [...text.matchAll(/^rrt_exit_loop_bucket\{le="(\d+)"\} (\d+)$/gm)].map((mm) => Number(mm[2]));
  return cumulative.map((c, i) => c - (i > 0 ? cumulative[i - 1] : 0));
}

const PROMPT = 'Once upon a time';

test('a sequence-shared model of 2 loops: every token is reported at 2 loops, and early_exit is refused with 400 naming it', async () => {
  const m = converted('sequence-2', { nLoops: 2, strategy: 'sequence', init: 'stepwise', loraRank: 4 });
  const { url, server } = await start(m, new BatchEngine(m.decoder, { tokenizer: m.tokenizer, maxBatch: 2 }));
  try {
    const res = await post(`${url}/v1/completions`, { prompt: PROMPT, max_tokens: 12, temperature: 0, ignore_eos: true });
    assert.equal(res.status, 200);
    assert.deepEqual((await res.json()).rrt, { mean_loops: 2, exit_histogram: [0, 12] });
    assert.deepEqual(await metricsHistogram(url), [0, 12]);
    const refused = await post(`${url}/v1/completions`, { prompt: PROMPT, max_tokens: 12, early_exit: { threshold: 0.5, measure: 'maxProb' } });
    assert.equal(refused.status, 400);
    const e = (await refused.json()).error;
    assert.equal(e.param, 'early_exit');
    assert.equal(e.code, 'unsupported');
    assert.match(e.message, /sequence/);
  } finally {
    await server.close();
  }
});

test('a cycle-shared model of 3 loops with early exit: tokens leave after different loops, and the response, the stream and /metrics agree on the histogram', async () => {
  const m = converted('middle-cycle-3', { nLoops: 3, strategy: 'middle-cycle', init: 'average', loraRank: 4 });
  const { url, server } = await start(m, new BatchEngine(m.decoder, { tokenizer: m.tokenizer, maxBatch: 4 }));
  try {
    const request = { prompt: PROMPT, max_tokens: 40, temperature: 0, ignore_eos: true, early_exit: { threshold: 0.3, measure: 'maxProb' } };
    const res = await post(`${url}/v1/completions`, request);
    assert.equal(res.status, 200);
    const { rrt, usage } = await res.json();
    const histogram: number[] = rrt.exit_histogram;
    assert.equal(histogram.length, 3);
    assert.equal(histogram.reduce((a, n) => a + n, 0), usage.completion_tokens);
    assert.ok(histogram.filter((n) => n > 0).length >= 2, `tokens exit at more than one loop: ${histogram}`);
    assert.ok(histogram[0] + histogram[1] > 0, `some tokens leave before the last loop: ${histogram}`);
    assert.equal(rrt.mean_loops, histogram.reduce((a, n, b) => a + n * (b + 1), 0) / usage.completion_tokens);
    assert.ok(rrt.mean_loops < 3);

    // greedy: the streamed request exits the same way
    const streamed = await (await post(`${url}/v1/completions`, { ...request, stream: true })).text();
    const chunks = streamed.split('\n\n').filter((e) => e.startsWith('data: {')).map((e) => JSON.parse(e.slice('data: '.length)));
    assert.deepEqual(chunks.at(-1).rrt, rrt);
    assert.deepEqual(await metricsHistogram(url), histogram.map((n) => 2 * n));

    // without early_exit every token runs all 3 loops
    const full = await (await post(`${url}/v1/completions`, { ...request, early_exit: undefined })).json();
    assert.deepEqual(full.rrt, { mean_loops: 3, exit_histogram: [0, 0, 40] });
  } finally {
    await server.close();
  }
});
