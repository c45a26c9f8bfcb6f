// The batch engine against single-stream decoding: continuous batching and depth-wise batching
// give the same greedy tokens; early exits never leave holes in the KV cache; the queue,
// the KV budget, cancellation and the stop conditions behave as the Engine contract says.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { generateIds } from '../../src/models/generate.js';
import { BUNDLED_MODEL, loadModel, type LoadedModel } from '../../src/models/load.js';
import { convertToRecursive } from '../../src/recursive/convert.js';
import { BatchEngine, type BatchEngineOptions } from '../../src/infer/engine.js';
import { EngineBusyError } from '../../src/infer/errors.js';
import { SerialEngine } from '../../src/infer/serial-engine.js';
import { attainableExitGain } from '../../src/infer/throughput.js';
import { configFromHf } from '../../src/models/profiles/index.js';
import type { RequestOptions, TokenEvent } from '../../src/infer/types.js';
import { randint } from '../helpers.js';
import { native, reference as ref } from '../../src/tensor/kernels.js';
import { decodeLayerAvailable } from '../../src/tensor/ops/decode-layer.js';
import { ropeInvFreq } from '../../src/models/config.js';
import { noGrad } from '../../src/tensor/autograd.js';
import type { Linear } from '../../src/models/weights.js';
import type { KvSeq } from '../../src/infer/kv-pool.js';

const root = new URL('../../', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'rrt-infer-'));
const cache = new Map<string, LoadedModel>();
function model(name: string): LoadedModel {
  if (!cache.has(name)) {
    let path: string;
    if (name === 'stories') path = BUNDLED_MODEL;
    else if (name === 'stories-mc3') {
      path = join(tmp, name);
      convertToRecursive(BUNDLED_MODEL, path, { nLoops: 3, strategy: 'middle-cycle', init: 'average', loraRank: 4 });
    } else if (name === 'stories-c2') {
      path = join(tmp, name);
      convertToRecursive(BUNDLED_MODEL, path, { nLoops: 2, strategy: 'cycle', init: 'stepwise', loraRank: 8, untieNorms: true });
    } else if (name === 'stories-s2') {
      path = join(tmp, name);
      convertToRecursive(BUNDLED_MODEL, path, { nLoops: 2, strategy: 'sequence', init: 'stepwise', loraRank: 4 });
    } else if (name === 'stories-c2-loopnorm') {
      // as a looped GGUF file without skip_loop_final_norm reads: the final norm between loops
      path = join(tmp, name);
      convertToRecursive(BUNDLED_MODEL, path, { nLoops: 2, strategy: 'cycle', init: 'stepwise' });
      const cfg = JSON.parse(readFileSync(join(path, 'config.json'), 'utf8'));
      writeFileSync(join(path, 'config.json'), JSON.stringify({ ...cfg, recursive: { ...cfg.recursive, loopNorm: true } }));
    } else if (name === 'qwen3-c2') {
      // per-depth q/k norms (untied), shared projections with LoRA
      path = join(tmp, name);
      convertToRecursive(join(root, 'fixtures/hf/qwen3'), path, { nLoops: 2, strategy: 'cycle', init: 'stepwise', loraRank: 8, untieNorms: true });
    } else if (name === 'phi3-c2') {
      // fused qkv and gate_up projections shared with per-loop LoRA, per-depth norms (untied)
      path = join(tmp, name);
      convertToRecursive(join(root, 'fixtures/hf/phi3'), path, { nLoops: 2, strategy: 'cycle', init: 'stepwise', loraRank: 8, untieNorms: true });
    } else if (name === 'olmo2-c2') {
      // per-depth post-norms and whole-projection q/k norms (untied), shared projections with LoRA
      path = join(tmp, name);
      convertToRecursive(join(root, 'fixtures/hf/olmo2'), path, { nLoops: 2, strategy: 'cycle', init: 'stepwise', loraRank: 8, untieNorms: true });
    } else if (name === 'gemma3-c2' || name === 'gemma2-c2' || name === 'qwen2-swa-c2') {
      // sliding windows and global layers at different depths of one loop (Gemma: per-depth sandwich norms)
      path = join(tmp, name);
      convertToRecursive(join(root, 'fixtures/hf', name.slice(0, -3)), path, { nLoops: 2, strategy: 'cycle', init: 'stepwise', loraRank: 8, untieNorms: true });
    } else path = join(root, 'fixtures/hf', name);
    cache.set(name, loadModel(path));
  }
  return cache.get(name)!;
}

const PROMPT_LENS = [3, 21, 1, 40, 9];
function prompts(V: number): number[][] {
  return PROMPT_LENS.map((n, i) => Array.from(randint(n, V, 100 + i)));
}

async function runAll(engine: { submit: BatchEngine['submit'] }, ps: number[][], opts: RequestOptions) {
  const handles = ps.map((p) => engine.submit(p, opts));
  return Promise.all(handles.map((h) => h.result));
}

const greedy: RequestOptions = { maxTokens: 10, eosIds: [] };

/** Counts the engine's steps whose block pass ran rows at different loops together (one layer call, several loops). */
function countMixedLoopSteps(engine: BatchEngine): { steps: number } {
  const loopOf = new Map<number, number>();
  engine.fwd.plan.blocks.forEach((depths, b) => depths.forEach((d) => loopOf.set(d, b)));
  const count = { steps: 0 };
  let mixed = false;
  const layer = engine.fwd.layer.bind(engine.fwd), step = engine.step.bind(engine);
  engine.fwd.layer = (x, groups, fill) => {
    if (new Set(groups.map((g) => loopOf.get(g.depth))).size > 1) mixed = true;
    return layer(x, groups, fill);
  };
  engine.step = () => {
    mixed = false;
    step();
    if (mixed) count.steps++;
  };
  return count;
}

/** Counts the native fused layer's calls (batch_layer_f32) while fn runs. */
async function countFusedLayers<T>(fn: () => Promise<T>): Promise<{ result: T; calls: number }> {
  const nat = native as unknown as Record<string, (...a: unknown[]) => unknown>;
  const real = nat?.batch_layer_f32;
  let calls = 0;
  if (real)
    nat.batch_layer_f32 = (...a: unknown[]) => {
      calls++;
      return real(...a);
    };
  try {
    return { result: await fn(), calls };
  } finally {
    if (real) nat.batch_layer_f32 = real;
  }
}

// the models whose layers the engine runs as one native call (where the addon is in use)
const FUSED = new Set(['llama', 'qwen3', 'stories-mc3', 'stories-c2', 'stories-c2-loopnorm', 'qwen3-c2', 'olmo2', 'olmo2-c2', 'gemma2', 'gemma2-c2', 'gemma3', 'gemma3-c2', 'mistral-swa', 'qwen2-swa', 'qwen2-swa-c2', 'phi3', 'phi3-c2', 'phi3-longrope', 'phi3-swa']);

for (const name of ['llama', 'gpt2', 'qwen3', 'stories-mc3', 'stories-c2', 'stories-c2-loopnorm', 'qwen3-c2', 'olmo2', 'olmo2-c2', 'phi3', 'phi3-c2', 'phi3-longrope', 'gemma2', 'gemma2-c2', 'gemma3', 'gemma3-c2', 'mistral-swa', 'qwen2-swa', 'qwen2-swa-c2', 'phi3-swa']) {
  test(`${name}: continuous batching (3 slots, prefill chunks of 8, requests one step apart) gives the greedy tokens of one-at-a-time decoding`, async () => {
    const m = model(name);
    const ps = prompts(m.config.vocabSize);
    const engine = new BatchEngine(m.decoder, { maxBatch: 3, prefillChunk: 8, debugKv: true });
    const recursive = m.config.recursive !== undefined;
    if (recursive) assert.equal(engine.fwd.plan.nLoops, name.includes('mc3') ? 3 : 2, 'depth-wise plan in use');
    const mixed = countMixedLoopSteps(engine);
    // arrivals one step apart put sequences at different loops (submitted together, they stay in phase)
    const { result: results, calls } = await countFusedLayers(() => {
      const handles = ps.map((p) => {
        const h = engine.submit(p, greedy);
        engine.step();
        return h;
      });
      return Promise.all(handles.map((h) => h.result));
    });
    if (decodeLayerAvailable) assert.equal(calls > 0, FUSED.has(name), `fused layer calls: ${calls}`);
    // depth-wise batching: sequences at different loops share steps, and the tokens still match
    if (recursive) assert.ok(mixed.steps > 0, 'no step ran rows at different loops together');
    ps.forEach((p, i) => {
      assert.equal(results[i].finishReason, 'length', results[i].error);
      assert.deepEqual(results[i].ids, [...generateIds(m.decoder, p, greedy)], `request ${i}`);
      assert.equal(results[i].exits.meanLoops, engine.nLoops);
    });
    assert.equal(engine.pool.freePages, engine.pool.nPages, 'every page back in the pool');
  });
}

test('sliding-window models (Mistral, Qwen2) in the batch engine: a windowed depth holds at most its window plus a page, a full depth every position', async () => {
  const P = 16, chunk = 8;
  for (const name of ['mistral-swa', 'qwen2-swa']) {
    const m = model(name), windows = m.config.windows!;
    const engine = new BatchEngine(m.decoder, { maxBatch: 2, prefillChunk: chunk, pageSize: P, debugKv: true });
    const ps = [40, 25].map((n, i) => Array.from(randint(n, m.config.vocabSize, 300 + i)));
    const opts = { maxTokens: 60, eosIds: [] };
    const handles = ps.map((p) => engine.submit(p, opts));
    const most = { windowed: 0, full: 0 };
    while (!engine.sched.idle) {
      engine.step();
      for (const s of engine.sched.active)
        windows.forEach((w, depth) => {
          const held = s.kv.pages[depth].filter((p) => p >= 0).length;
          // a prompt chunk may add chunk − 1 positions past the window
          const bound = Math.ceil((w + chunk - 2) / P) + 1;
          if (w > 0) assert.ok(held <= bound, `${name} depth ${depth}: ${held} pages held, window ${w}`);
          most[w > 0 ? 'windowed' : 'full'] = Math.max(most[w > 0 ? 'windowed' : 'full'], held);
        });
    }
    const results = await Promise.all(handles.map((h) => h.result));
    ps.forEach((p, i) => assert.deepEqual(results[i].ids, [...generateIds(m.decoder, p, opts)], `${name} request ${i}`));
    assert.equal(most.windowed, Math.ceil(windows.find((w) => w > 0)! / P) + 1, `${name}: the bound is reached`);
    // 100 positions (prompt 40, 60 tokens): 7 pages at a full depth (the last token's is never written)
    if (windows.includes(0)) assert.equal(most.full, Math.ceil(99 / P), `${name}: a full depth holds every position`);
    assert.equal(engine.pool.freePages, engine.pool.nPages, 'every page back in the pool');
  }
});

test('decode rows read the pages directly (page sizes 16, 32) or through the gathered copy (8, 24): the same greedy tokens', async () => {
  const m = model('stories-mc3');
  const ps = prompts(m.config.vocabSize);
  for (const pageSize of [8, 16, 24, 32]) {
    const engine = new BatchEngine(m.decoder, { maxBatch: 3, prefillChunk: 8, debugKv: true, pageSize });
    assert.equal(engine.pool.paged, pageSize % 16 === 0);
    const results = await runAll(engine, ps, greedy);
    ps.forEach((p, i) => assert.deepEqual(results[i].ids, [...generateIds(m.decoder, p, greedy)], `page size ${pageSize}, request ${i}`));
  }
});

/** Wraps the forward pass so any NaN (a poisoned, unwritten KV entry) reaching attention output or logits fails. */
function guardNaN(engine: BatchEngine): void {
  const fwd = engine.fwd;
  const layer = fwd.layer.bind(fwd), head = fwd.head.bind(fwd);
  fwd.layer = (x, g, fill) => {
    const y = layer(x, g, fill);
    assert.ok(!y.some(Number.isNaN), 'NaN in a layer output');
    return y;
  };
  fwd.head = (x, r) => {
    const y = head(x, r);
    assert.ok(!y.some(Number.isNaN), 'NaN in logits');
    return y;
  };
}

for (const kvFill of ['propagate', 'copy'] as const) {
  test(`early exit after loop 1 (threshold 0) with '${kvFill}' fill: no token reads an unwritten KV entry, text stays valid`, async () => {
    const m = model('stories-mc3');
    const engine = new BatchEngine(m.decoder, { maxBatch: 3, prefillChunk: 8, debugKv: true, kvFill, tokenizer: m.tokenizer });
    guardNaN(engine);
    const events: TokenEvent[] = [];
    const ps = prompts(m.config.vocabSize);
    const hs = ps.map((p) => engine.submit(p, { ...greedy, maxTokens: 16, earlyExit: { measure: 'maxProb', threshold: 0 } }));
    (async () => {
      for await (const e of hs[0].events()) events.push(e);
    })();
    const results = await Promise.all(hs.map((h) => h.result));
    for (const r of results) {
      assert.equal(r.finishReason, 'length', r.error);
      assert.equal(r.ids.length, 16);
      // the first token comes from the prompt's last position, which runs every loop
      assert.deepEqual(r.exits.histogram, [15, 0, 1]);
      assert.ok(r.ids.every((id) => id >= 0 && id < m.config.vocabSize));
      assert.ok(r.text.length > 0);
    }
    assert.deepEqual(events.map((e) => e.loops), [3, ...new Array(15).fill(1)]);
    assert.equal(events.map((e) => e.text).join(''), results[0].text);
  });

  test(`mixed exits (after loop 1, 2 or 3 by token index) with '${kvFill}' fill: later tokens at deeper loops read only written, finite KV`, async () => {
    const m = model('stories-mc3');
    const forcedExit = (_r: number, i: number, done: number) => (done === 1 + (i % 3) ? true : done < 1 + (i % 3) ? false : undefined);
    const engine = new BatchEngine(m.decoder, { maxBatch: 2, prefillChunk: 8, debugKv: true, kvFill, forcedExit });
    guardNaN(engine);
    const results = await runAll(engine, prompts(m.config.vocabSize), { ...greedy, maxTokens: 12 });
    for (const r of results) {
      assert.equal(r.finishReason, 'length', r.error);
      assert.deepEqual(r.exits.histogram, [3, 4, 5]);
    }
  });
}

/**
 * What `propagate` must store for a token that exited with hidden state x at position pos: at a
 * skipped depth, that depth's own attention-input norm, k/v projection (with its LoRA) and
 * rotary applied to x. Computed here with the TypeScript reference kernels, one row at a time.
 */
function propagatedKv(m: LoadedModel, depth: number, x: Float32Array, pos: number): { k: Float32Array; v: Float32Array } {
  const cfg = m.config, layer = m.decoder.weights.layers[depth], D = cfg.hidden, R = cfg.nKvHeads * cfg.headDim;
  const h = new Float32Array(D);
  ref.rmsnorm_fwd_f32(h, null, x, layer.attnNorm.w.f32, 1, D, cfg.normEps, cfg.normKind === 'rmsPlusOne' ? 1 : 0);
  const project = (lin: Linear) => {
    const y = new Float32Array(R);
    ref.gemm_f32(y, h, lin.w.f32, 1, R, D, 0, 1, 0);
    if (lin.b) for (let i = 0; i < R; i++) y[i] += lin.b.f32[i];
    if (lin.lora) {
      const rank = lin.lora.a.shape[0], t = new Float32Array(rank);
      ref.gemm_f32(t, h, lin.lora.a.f32, 1, rank, D, 0, 1, 0);
      ref.gemm_f32(y, t, lin.lora.b.f32, 1, R, rank, 0, 1, 1);
    }
    return y;
  };
  const k = project(layer.proj.k!), v = project(layer.proj.v!);
  ref.rope_f32(k, Int32Array.of(pos), ropeInvFreq(cfg), 1, cfg.nKvHeads, cfg.headDim, cfg.rotaryDim, cfg.ropeInterleaved ? 1 : 0, 0);
  return { k, v };
}

for (const name of ['stories-c2', 'stories-mc3'])
  test(`${name}: the propagate fill stores, at every skipped depth, that depth's norm, k/v projection with its LoRA, and rotary of the exited state`, () => {
    const m = model(name);
    // 3 sequences; every token with an even index exits after loop 1
    const engine = new BatchEngine(m.decoder, { maxBatch: 3, debugKv: true, forcedExit: (_r, i, done) => (i % 2 === 0 && done === 1 ? true : undefined) });
    const plan = engine.fwd.plan, R = m.config.nKvHeads * m.config.headDim;
    const hook = engine as unknown as { fillSkipped: (exited: { kv: KvSeq; row: { x: Float32Array; pos0: number; loop: number } }[]) => void };
    const fill = hook.fillSkipped.bind(engine);
    let pending: { kv: KvSeq; x: Float32Array; pos: number; after: number }[] = [];
    hook.fillSkipped = (exited) => {
      for (const s of exited) pending.push({ kv: s.kv, x: s.row.x.slice(), pos: s.row.pos0, after: s.row.loop });
      fill(exited);
    };
    for (const p of prompts(m.config.vocabSize).slice(0, 3)) engine.submit(p, { ...greedy, maxTokens: 12 });
    let checked = 0, worst = 0;
    while (!engine.sched.idle) {
      const due = pending;
      pending = [];
      engine.step();
      // the fill of a token that exited in the previous step has been written by now
      for (const e of due)
        for (let b = e.after + 1; b < plan.nLoops; b++)
          for (const depth of plan.blocks[b]) {
            const want = propagatedKv(m, depth, e.x, e.pos);
            const got = engine.pool.gather(e.kv, depth, e.pos + 1);
            for (const [w, g] of [[want.k, got.k.subarray(e.pos * R)], [want.v, got.v.subarray(e.pos * R)]])
              for (let i = 0; i < R; i++) worst = Math.max(worst, Math.abs(w[i] - g[i]) / (1e-3 + Math.abs(w[i])));
            checked++;
          }
    }
    assert.ok(checked >= 3 * 5 * plan.blocks[0].length, `${checked} fills checked`);
    assert.ok(worst < 1e-4, `largest relative difference ${worst}`);
  });

test('a sequence-strategy model (each layer runs its 2 loops back to back) reports 2 loops per token on both engines; the batch engine refuses early exit', async () => {
  const m = model('stories-s2');
  for (const engine of [new BatchEngine(m.decoder, { maxBatch: 2 }), new SerialEngine(m.decoder)]) {
    assert.equal(engine.nLoops, 2);
    const r = await engine.submit([1, 2, 3], greedy).result;
    assert.deepEqual(r.exits, { meanLoops: 2, histogram: [0, 10] });
    assert.deepEqual(engine.stats().exitHistogram, [0, 10]);
  }
  const batch = new BatchEngine(m.decoder);
  assert.equal(batch.earlyExitHandling, 'refused');
  assert.throws(() => batch.submit([1, 2, 3], { ...greedy, earlyExit: { measure: 'maxProb', threshold: 0.5 } }), { name: 'InputError', code: 'unsupported', message: /sequence/ });
  assert.equal(new BatchEngine(model('stories-c2').decoder).earlyExitHandling, 'applied');
});

test('early exit loop counts past the model\'s loops are refused (they could never be met)', () => {
  const engine = new BatchEngine(model('stories-c2').decoder);
  for (const extra of [{ minLoops: 3 }, { stableLoops: 3 }])
    assert.throws(() => engine.submit([1, 2, 3], { ...greedy, earlyExit: { measure: 'stable', threshold: 0, ...extra } }), { name: 'InputError', message: /2 loops|\[1, 2\]/ }, JSON.stringify(extra));
  engine.submit([1, 2, 3], { ...greedy, earlyExit: { measure: 'stable', threshold: 0, stableLoops: 2, minLoops: 2 } }).cancel();
});

test('the hole check can fail: exits without filling the skipped loops end in an error', async () => {
  const m = model('stories-mc3');
  const engine = new BatchEngine(m.decoder, { debugKv: true, forcedExit: (_r, i) => (i % 2 === 0 ? true : undefined) });
  (engine as unknown as { fillSkipped: () => void }).fillSkipped = () => {};
  const r = await engine.submit([1, 2, 3], greedy).result;
  assert.equal(r.finishReason, 'error');
  assert.match(r.error!, /never written/);
});

function argmaxAt(logits: Float32Array, row: number, V: number): number {
  let best = 0;
  for (let v = 1; v < V; v++) if (logits[row * V + v] > logits[row * V + best]) best = v;
  return best;
}

/**
 * For each generated token, the earliest loop whose exit argmax equals the full model's, from one
 * teacher-forced forward with allExits; the first token comes from the prompt's prefill, which
 * runs every loop and is reported as nLoops.
 */
function earliestAgreeingLoops(m: LoadedModel, prompt: number[], ids: number[]): number[] {
  const seq = Int32Array.from([...prompt, ...ids.slice(0, -1)]);
  const out = noGrad(() => m.decoder.forward(seq, 1, seq.length, { allExits: true }));
  const perLoop = [...out.exits.map((e) => e.f32), out.logits.f32];
  const V = m.config.vocabSize;
  return ids.map((_, j) => {
    if (j === 0) return perLoop.length;
    const row = prompt.length - 1 + j;
    const final = argmaxAt(perLoop[perLoop.length - 1], row, V);
    return perLoop.findIndex((logits) => argmaxAt(logits, row, V) === final) + 1;
  });
}

// A cycle model: its exit after loop b is the stream at that point through norm and head, the
// same in decoding and in the teacher-forced forward. (A middle-cycle exit also runs the unique
// last layer, whose attention reads earlier tokens' full-depth keys when decoding but their
// loop-b keys in the teacher-forced forward, so the two need not agree.)
test('oracle mode runs every loop (full-depth tokens) and reports, per token, the earliest loop whose argmax is the final one', async () => {
  const m = model('stories-c2');
  const engine = new BatchEngine(m.decoder, { oracle: true, maxBatch: 2 });
  const ps = prompts(m.config.vocabSize).slice(0, 3);
  const handles = ps.map((p) => engine.submit(p, greedy));
  const streams = handles.map(async (h) => {
    const loops: number[] = [];
    for await (const e of h.events()) loops.push(e.loops);
    return loops;
  });
  const results = await Promise.all(handles.map((h) => h.result));
  const reported = await Promise.all(streams);
  ps.forEach((p, i) => {
    assert.deepEqual(results[i].ids, [...generateIds(m.decoder, p, greedy)], `request ${i}: full-depth tokens`);
    assert.deepEqual(reported[i], earliestAgreeingLoops(m, p, results[i].ids), `request ${i}: loop per token`);
  });
  const decoded = reported.flatMap((loops) => loops.slice(1));
  assert.ok(new Set(decoded).size > 1, `tokens agree at different loops, so the check has teeth: ${decoded}`);
});

test('cancel frees the slot and the pages at the next step; a queued request then runs', async () => {
  const m = model('stories');
  const engine = new BatchEngine(m.decoder, { maxBatch: 1 });
  const a = engine.submit([1, 2, 3], { maxTokens: 200, eosIds: [] });
  const b = engine.submit([4, 5], { maxTokens: 3, eosIds: [] });
  engine.step();
  engine.step();
  assert.equal(engine.stats().active, 1);
  assert.equal(engine.stats().queueDepth, 1);
  assert.ok(engine.pool.freePages < engine.pool.nPages);
  a.cancel();
  const ra = await a.result;
  assert.equal(ra.finishReason, 'cancelled');
  assert.ok(ra.ids.length < 200);
  const rb = await b.result;
  assert.equal(rb.ids.length, 3);
  assert.equal(engine.pool.freePages, engine.pool.nPages);
});

test('an exhausted KV budget queues requests instead of failing them (same tokens in the end)', async () => {
  const m = model('stories');
  const cfg = m.config;
  // room for one request of 20 + 10 positions (2 pages per depth), not two
  const pageBytes = 2 * 16 * cfg.nKvHeads * cfg.headDim * 4;
  const engine = new BatchEngine(m.decoder, { maxBatch: 4, kvBudgetBytes: pageBytes * cfg.nLayers * 3 });
  const ps = [0, 1, 2].map((i) => Array.from(randint(20, cfg.vocabSize, 7 + i)));
  const hs = ps.map((p) => engine.submit(p, greedy));
  engine.step();
  assert.equal(engine.stats().active, 1);
  assert.equal(engine.stats().queueDepth, 2);
  const rs = await Promise.all(hs.map((h) => h.result));
  ps.forEach((p, i) => assert.deepEqual(rs[i].ids, [...generateIds(m.decoder, p, greedy)]));
  const tooBig = await engine.submit(Array.from(randint(100, cfg.vocabSize, 1)), { maxTokens: 100 }).result;
  assert.equal(tooBig.finishReason, 'error');
  assert.match(tooBig.error!, /KV pages/);
});

test('the queue is bounded: EngineBusyError once maxQueue requests wait beyond the free slots', async () => {
  const m = model('stories');
  const engine = new BatchEngine(m.decoder, { maxBatch: 1, maxQueue: 2 });
  // one takes the slot, two wait
  const hs = [1, 2, 3].map(() => engine.submit([1], { maxTokens: 2 }));
  assert.throws(() => engine.submit([1], { maxTokens: 2 }), EngineBusyError);
  await Promise.all(hs.map((h) => h.result));
  await engine.drain();
  assert.throws(() => engine.submit([1]), /draining/);
});

test('maxQueue 0: requests that can start at once are taken (every free slot), the next one is busy; on both engines', async () => {
  const m = model('stories');
  const engines = [new BatchEngine(m.decoder, { maxBatch: 4, maxQueue: 0 }), new SerialEngine(m.decoder, { maxQueue: 0 })];
  for (const engine of engines) {
    const slots = engine.stats().maxBatch;
    const hs = Array.from({ length: slots }, () => engine.submit([1], { maxTokens: 2 }));
    assert.throws(() => engine.submit([1], { maxTokens: 2 }), EngineBusyError);
    await Promise.all(hs.map((h) => h.result));
    // the slots are free again
    await engine.submit([1], { maxTokens: 2 }).result;
  }
});

test('a KV budget past the available memory is refused up front when the pool would be touched at start', () => {
  const m = model('stories');
  assert.throws(() => new BatchEngine(m.decoder, { kvBudgetBytes: 2 * totalmem(), prefaultKv: true }), { name: 'InputError', message: /more than this machine's available memory/ });
});

const ENGINES = {
  BatchEngine: (m: LoadedModel, o: BatchEngineOptions) => new BatchEngine(m.decoder, o),
  SerialEngine: (m: LoadedModel, o: BatchEngineOptions) => new SerialEngine(m.decoder, o),
};
for (const [label, make] of Object.entries(ENGINES)) {
  test(`${label}: max tokens end with 'length', EOS is not emitted and ends with 'stop', a stop string cuts the text and never streams`, async () => {
    const m = model('stories');
    const tok = m.tokenizer!;
    const engine = make(m, { tokenizer: tok });
    const prompt = tok.encode('Once upon a time');
    const full = [...generateIds(m.decoder, prompt, { maxTokens: 30, eosIds: [] })];
    const r = await engine.submit(prompt, { maxTokens: 30, eosIds: [] }).result;
    assert.deepEqual(r.ids, full);
    assert.equal(r.finishReason, 'length');
    assert.deepEqual(r.usage, { promptTokens: prompt.length, completionTokens: 30, totalTokens: prompt.length + 30 });

    const k = full.findIndex((id, i) => i >= 3 && !full.slice(0, i).includes(id));
    const eos = await engine.submit(prompt, { maxTokens: 30, eosIds: [full[k]] }).result;
    assert.deepEqual(eos.ids, full.slice(0, k));
    assert.equal(eos.finishReason, 'stop');

    const text = r.text;
    const stop = text.slice(Math.floor(text.length / 2), Math.floor(text.length / 2) + 4);
    const h = engine.submit(prompt, { maxTokens: 30, eosIds: [], stop: [stop] });
    let streamed = '';
    for await (const e of h.events()) streamed += e.text;
    const s = await h.result;
    assert.equal(s.finishReason, 'stop');
    assert.equal(s.text, text.slice(0, text.indexOf(stop)));
    assert.equal(streamed, s.text, 'the stream never shows the stop string');
  });
}

for (const [label, make] of Object.entries(ENGINES))
  test(`${label}: max tokens past the context stop at the context: prompt + completion tokens never exceed it`, async () => {
    const m = model('stories');
    const n = m.config.maxPositions;
    const r = await make(m, {}).submit(new Array(n - 7).fill(5), { maxTokens: 100, eosIds: [] }).result;
    assert.equal(r.finishReason, 'length');
    assert.deepEqual(r.usage, { promptTokens: n - 7, completionTokens: 7, totalTokens: n });
  });

test('attainable exit gain: 1 without exits, below the loops-only ideal once the head is paid, ≈1.23 on the SmolLM shape at 1.5 loops, ≈1.20 with 16 prompt tokens per 128', () => {
  const smol = configFromHf({ model_type: 'llama', hidden_size: 576, intermediate_size: 1536, num_hidden_layers: 30, num_attention_heads: 9, num_key_value_heads: 3, vocab_size: 49152, max_position_embeddings: 2048, rms_norm_eps: 1e-5, tie_word_embeddings: true });
  assert.equal(attainableExitGain(smol, 2, 2), 1);
  const g = attainableExitGain(smol, 2, 1.5);
  assert.ok(g < 2 / 1.5, `${g}`);
  // by hand: layer 3.54 M, head 28.3 M, k/v 0.221 M multiply-adds; (30·3.54 + 28.3) / (22.5·3.54 + 28.3 + 7.5·0.221)
  assert.ok(Math.abs(g - 1.227) < 0.005, `${g}`);
  // 16 prompt tokens per 128 generated, at full depth in both: (30·3.54·1.125 + 28.3) / (22.5·3.54 + 0.125·30·3.54 + 28.3 + 7.5·0.221)
  const withPrompt = attainableExitGain(smol, 2, 1.5, 16 / 128);
  assert.ok(withPrompt < g && Math.abs(withPrompt - 1.203) < 0.005, `${withPrompt}`);
  // a tiny vocabulary leaves mostly the loops
  const tinyHead = configFromHf({ model_type: 'llama', hidden_size: 576, intermediate_size: 1536, num_hidden_layers: 30, num_attention_heads: 9, num_key_value_heads: 3, vocab_size: 8, max_position_embeddings: 2048, rms_norm_eps: 1e-5 });
  assert.ok(attainableExitGain(tinyHead, 2, 1.5) > 1.3);
});
