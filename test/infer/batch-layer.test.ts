// The serving step's fused layer (batch_layer_f32, taken by BatchForward.layer where it applies)
// against the composed kernels it replaces: the same output bits and the same keys and values in
// the pool, for one depth or several (a recursive model's loops with their own LoRA and norms),
// with propagate-fill rows, f32, bf16, q8_0 and q4_0 weights, Qwen2's biases, Gemma's norm, and every
// norm placement: Qwen3's per-head q/k norms, OLMo-2's norms after the sublayers and whole-projection
// q/k norms, Gemma 3's norms before and after (its fixture with a window as long as its context), on
// every ISA level and per depth in recursive forms; Phi-3's fused qkv and gate_up (cut into row
// ranges) with full, longrope and partial rotary and a window, on every ISA level; Gemma 2/3's sliding windows (pages behind them
// freed), local rotary bases and soft-cap; the composed path where it does not apply; and the native
// layer's refusals of bad arguments.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { BatchForward, type DepthGroup } from '../../src/infer/batch-forward.js';
import { KvPool, type KvSeq } from '../../src/infer/kv-pool.js';
import { BUNDLED_MODEL, loadModel, type LoadedModel } from '../../src/models/load.js';
import type { WeightDType } from '../../src/models/weights.js';
import { convertToRecursive } from '../../src/recursive/convert.js';
import { native } from '../../src/tensor/kernels.js';
import { forEachIsa, randn, skipWithoutNative } from '../helpers.js';

const skip = skipWithoutNative(native);
const root = new URL('../../', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'rrt-batch-layer-'));

function load(name: string, dtype: WeightDType): LoadedModel {
  if (name === 'stories-c2') {
    const path = join(tmp, 'c2');
    if (!existsSync(path)) convertToRecursive(BUNDLED_MODEL, path, { nLoops: 2, strategy: 'cycle', init: 'stepwise', loraRank: 8, untieNorms: true });
    return loadModel(path, { dtype });
  }
  if (name.endsWith('-c2')) {
    // shared projections with per-loop LoRA, per-depth norms (untied), q/k norms included
    const path = join(tmp, name);
    if (!existsSync(path)) convertToRecursive(fixture(name.slice(0, -3)), path, { nLoops: 2, strategy: 'cycle', init: 'stepwise', loraRank: 8, untieNorms: true });
    return loadModel(path, { dtype });
  }
  return loadModel(fixture(name), { dtype });
}

/** Fixtures made from others by a config change: gemma3-full, Gemma 3 with its sliding window as long as its context (full attention on local rotary bases: nothing freed); phi3-partial, Phi-3 rotating half of each head (Phi-4-mini's partial rotary). */
const VARIANTS: Record<string, [string, (cfg: Record<string, unknown>) => Record<string, unknown>]> = {
  'gemma3-full': ['gemma3', (cfg) => ({ ...cfg, sliding_window: cfg.max_position_embeddings })],
  'phi3-partial': ['phi3', (cfg) => ({ ...cfg, partial_rotary_factor: 0.5 })],
};

/** A fixture's path (VARIANTS written on first use). */
function fixture(name: string): string {
  const variant = VARIANTS[name];
  if (!variant) return join(root, 'fixtures/hf', name);
  const path = join(tmp, name), src = join(root, 'fixtures/hf', variant[0]);
  if (!existsSync(path)) {
    mkdirSync(path);
    const cfg = JSON.parse(readFileSync(join(src, 'config.json'), 'utf8'));
    writeFileSync(join(path, 'config.json'), JSON.stringify(variant[1](cfg)));
    symlinkSync(join(src, 'model.safetensors'), join(path, 'model.safetensors'));
  }
  return path;
}

/** Counts the native fused layer's calls. */
function countFused(): { n: number; restore(): void } {
  const nat = native as unknown as Record<string, (...a: unknown[]) => unknown>;
  const real = nat.batch_layer_f32;
  const c = { n: 0, restore: () => void (nat.batch_layer_f32 = real) };
  nat.batch_layer_f32 = (...a: unknown[]) => {
    c.n++;
    return real(...a);
  };
  return c;
}

interface Setup {
  fwd: BatchForward;
  pool: KvPool;
  seqs: KvSeq[];
}

/** A pool whose sequences hold `filled` positions of random keys and values at every depth (the same in every setup). */
function setup(m: LoadedModel, fused: boolean, nSeqs: number, filled: number): Setup {
  const cfg = m.config, rowSize = cfg.nKvHeads * cfg.headDim, L = m.decoder.nLayers;
  const pool = new KvPool({ budgetBytes: 4 * 2 ** 20, nDepths: L, rowSize, debug: true, windows: cfg.windows });
  const fwd = new BatchForward(m.decoder, pool, fused);
  const seqs = Array.from({ length: nSeqs }, () => pool.allocate(filled + 4)!);
  seqs.forEach((seq, i) => {
    for (let d = 0; d < L; d++)
      pool.write(randn(filled * rowSize, 1000 * i + d, 0.5), randn(filled * rowSize, 2000 * i + d + 7), [{ seq, depth: d, pos0: 0, T: filled }]);
  });
  return { fwd, pool, seqs };
}

/** One layer at slot k of the plan: decode rows of several sequences at loops `loops`, fill rows for the rest. */
function step(s: Setup, k: number, loops: number[], fillLoops: number[], filled: number, D: number) {
  const plan = s.fwd.plan;
  const groups: DepthGroup[] = loops.map((b, i) => ({ depth: plan.blocks[b][k], segs: [{ kv: s.seqs[i], pos0: filled, T: 1 }] }));
  const fillGroups: DepthGroup[] = fillLoops.map((b, i) => ({ depth: plan.blocks[b][k], segs: [{ kv: s.seqs[i], pos0: filled + 1, T: 1 }] }));
  const x = randn(groups.length * D, 77 + k, 1.3);
  const fill = fillGroups.length > 0 ? { x: randn(fillGroups.length * D, 99 + k), groups: fillGroups } : undefined;
  return s.fwd.layer(x, groups, fill).slice();
}

// [model, dtype, decode rows]: 24 decode rows and 8 fill rows make the layer big enough for two
// threads (column and head splits, barriers); the others run on one.
// Quantized: stories260K's FFN width (172) is not whole 32-value blocks, so its down projection
// stays bf16 beside packed q/k/v/o/gate/up: one layer mixes both kinds.
// The q/k norm and norm placement cases (Qwen3, OLMo-2, Gemma 3) on every ISA level the CPU runs.
const CASES: [string, WeightDType, number][] = [
  ['llama', 'f32', 4], ['llama', 'bf16', 4], ['qwen2', 'f32', 4], ['gemma', 'f32', 4], ['stories-c2', 'f32', 4], ['stories-c2', 'bf16', 4],
  ['stories-c2', 'f32', 24], ['stories-c2', 'bf16', 24], ['llama', 'q8_0', 4], ['qwen2', 'q4_0', 4], ['stories-c2', 'q8_0', 4], ['stories-c2', 'q4_0', 24],
  ['qwen3', 'f32', 4], ['qwen3', 'bf16', 24], ['qwen3', 'q8_0', 4], ['qwen3-c2', 'f32', 4], ['qwen3-c2', 'bf16', 24], ['qwen3-c2', 'q4_0', 24],
  ['olmo2', 'f32', 4], ['olmo2', 'bf16', 24], ['olmo2', 'q4_0', 4], ['olmo2-c2', 'f32', 4], ['olmo2-c2', 'bf16', 24], ['olmo2-c2', 'q8_0', 24],
  ['gemma3-full', 'f32', 4], ['gemma3-full', 'bf16', 24], ['gemma3-full-c2', 'f32', 4], ['gemma3-full-c2', 'bf16', 24],
  ['gemma2', 'f32', 4], ['gemma2', 'bf16', 24], ['gemma2-c2', 'f32', 4], ['gemma2-c2', 'bf16', 24],
  ['gemma3', 'f32', 4], ['gemma3', 'q8_0', 24], ['gemma3-c2', 'f32', 4], ['gemma3-c2', 'bf16', 24],
  // Phi-3's fused qkv and gate_up weights as row ranges (packed ones cut at 16-row panels; LoRA's B cut, A shared)
  ['phi3', 'f32', 4], ['phi3', 'bf16', 24], ['phi3', 'q8_0', 4], ['phi3', 'q4_0', 24], ['phi3-c2', 'f32', 4], ['phi3-c2', 'bf16', 24], ['phi3-c2', 'q8_0', 24],
  ['phi3-longrope', 'f32', 4], ['phi3-longrope-c2', 'q4_0', 4], ['phi3-partial', 'bf16', 4], ['phi3-partial-c2', 'f32', 24],
  ['phi3-swa', 'f32', 4], ['phi3-swa', 'q8_0', 24], ['phi3-swa-c2', 'bf16', 4],
];
const ALL_ISAS = /^(qwen3|olmo2|gemma|phi3)/;

for (const [name, dtype, rows] of CASES)
  test(`${name} (${dtype}, ${rows} decode rows): the fused layer gives the composed layer's bits, in its output and in the KV pool`, { skip }, () => {
    if (ALL_ISAS.test(name)) forEachIsa(native!, () => sameAsComposed(name, dtype, rows));
    else sameAsComposed(name, dtype, rows);
  });

function sameAsComposed(name: string, dtype: WeightDType, rows: number): void {
  // windowed depths (Gemma 2/3, windows of 5 and 6) have freed the pages behind them by position 40
  const m = load(name, dtype), D = m.config.hidden, filled = m.config.windows?.some((w) => w > 0 && w < 40) ? 40 : 19;
  const recursive = m.decoder.config.recursive !== undefined;
  const A = setup(m, true, rows, filled), B = setup(m, false, rows, filled);
  const nLoops = A.fwd.plan.nLoops;
  // recursive: rows in both loops (each its own adapters and norms) and fill rows of loop 2; vanilla: one depth
  const loops = Array.from({ length: rows }, (_, i) => (recursive && i >= rows / 2 ? 1 : 0));
  const fillLoops = recursive ? Array.from({ length: rows > 4 ? 8 : 2 }, () => 1) : [];
  assert.equal(nLoops, recursive ? 2 : 1);
  const counter = countFused();
  try {
    for (let k = 0; k < A.fwd.plan.blocks[0].length; k++) {
      const before = counter.n;
      const yA = step(A, k, loops, fillLoops, filled, D), yB = step(B, k, loops, fillLoops, filled, D);
      assert.equal(counter.n, before + 1, 'the fused layer ran once (and only for the fused setup)');
      assert.deepEqual(yA, yB, `slot ${k}: output`);
    }
  } finally {
    counter.restore();
  }
  assert.deepEqual(A.pool.k, B.pool.k, 'keys in the pool');
  assert.deepEqual(A.pool.v, B.pool.v, 'values in the pool');
  const short = m.config.windows?.some((w) => w > 0 && w < filled);
  assert.equal(A.seqs.some((seq) => seq.pages.some((t) => t.includes(-1))), !!short, short ? 'pages behind a window were freed' : 'no window is short enough to free a page');
}

/** Decode rows of seqs [0, nDecode) at loops 0, 1, 0, 1, …; chunks of 4 and 3 tokens (seqs nDecode, nDecode + 1) at loops 0 and 1; fills of loop 2 for seqs 0-3. */
function mixedStep(s: Setup, k: number, nDecode: number, filled: number) {
  const blocks = s.fwd.plan.blocks;
  const decode: DepthGroup[] = [0, 1].map((b) => ({ depth: blocks[b][k], segs: s.seqs.slice(0, nDecode).filter((_, i) => i % 2 === b).map((kv) => ({ kv, pos0: filled, T: 1 })) }));
  const chunks: DepthGroup[] = [0, 1].map((b) => ({ depth: blocks[b][k], segs: [{ kv: s.seqs[nDecode + b], pos0: filled, T: 4 - b }] }));
  const fill = { x: randn(4 * s.fwd.decoder.config.hidden, 99 + k), groups: [{ depth: blocks[1][k], segs: s.seqs.slice(0, 4).map((kv) => ({ kv, pos0: filled + 1, T: 1 })) }] };
  return { decode, chunks, fill };
}
type Mixed = ReturnType<typeof mixedStep>;

/**
 * Per slot, a mixed step (mixedStep with random rows) as ONE fused call in setup A, against
 * `alone`'s calls in setup B over the same rows; outputs and pools must match bit for bit.
 */
function checkMixed(dtype: WeightDType, nDecode: number, alone: (B: Setup, b: Mixed, xd: Float32Array, xc: Float32Array) => number[]): void {
  const m = load('stories-c2', dtype), D = m.config.hidden, filled = 19;
  const A = setup(m, true, nDecode + 2, filled), B = setup(m, true, nDecode + 2, filled);
  const counter = countFused();
  try {
    for (let k = 0; k < A.fwd.plan.blocks[0].length; k++) {
      const a = mixedStep(A, k, nDecode, filled), b = mixedStep(B, k, nDecode, filled);
      const xd = randn(nDecode * D, 77 + k, 1.3), xc = randn(7 * D, 88 + k, 1.3);
      const before = counter.n;
      const together = A.fwd.layer(Float32Array.of(...xd, ...xc), [...a.decode, ...a.chunks], a.fill).slice();
      assert.equal(counter.n, before + 1, 'one fused call in A');
      assert.deepEqual(together, Float32Array.from(alone(B, b, xd, xc)), `slot ${k}: output`);
    }
  } finally {
    counter.restore();
  }
  assert.deepEqual(A.pool.k, B.pool.k, 'keys in the pool');
  assert.deepEqual(A.pool.v, B.pool.v, 'values in the pool');
}

for (const dtype of ['f32', 'bf16', 'q8_0'] as const)
  test(`stories-c2 (${dtype}): prompt chunks in the fused layer get the bits their tokens get fed one at a time, among other rows`, { skip }, () => {
    // 20 decode + 7 chunk + 4 fill rows: one fused call (two threads); B: the decode rows and fills, then each chunk token alone
    checkMixed(dtype, 20, (B, b, xd, xc) => {
      const D = B.fwd.decoder.config.hidden, out = [...B.fwd.layer(xd, b.decode, b.fill)];
      let r = 0;
      for (const g of b.chunks)
        for (const seg of g.segs)
          for (let t = 0; t < seg.T; t++, r++)
            out.push(...B.fwd.layer(xc.slice(r * D, (r + 1) * D), [{ depth: g.depth, segs: [{ kv: seg.kv, pos0: seg.pos0 + t, T: 1 }] }]));
      return out;
    });
  });

test('stories-c2 (f32): a step past the row limit runs its decode rows fused and its chunks composed, each as it would alone', { skip }, () => {
  // 28 decode + 4 fill rows = 32, the f32 limit; the 7 chunk rows go past it
  checkMixed('f32', 28, (B, b, xd, xc) => [...B.fwd.layer(xd, b.decode, b.fill), ...new BatchForward(B.fwd.decoder, B.pool, false).layer(xc, b.chunks)]);
});

test('where the fused layer does not apply, the composed one runs: GPT-2, rows past the GEMV range; a prompt chunk alone takes it', { skip }, () => {
  const counter = countFused();
  try {
    const g = load('gpt2', 'f32'), sg = setup(g, true, 1, 5);
    sg.fwd.layer(randn(g.config.hidden, 2), [{ depth: 0, segs: [{ kv: sg.seqs[0], pos0: 5, T: 1 }] }]);
    const f = load('llama', 'f32'), sf = setup(f, true, 33, 2);
    sf.fwd.layer(randn(33 * f.config.hidden, 3), [{ depth: 0, segs: sf.seqs.map((kv) => ({ kv, pos0: 2, T: 1 })) }]);
    assert.equal(counter.n, 0);
    sf.fwd.layer(randn(32 * f.config.hidden, 3), [{ depth: 0, segs: sf.seqs.slice(0, 32).map((kv) => ({ kv, pos0: 3, T: 1 })) }]);
    assert.equal(counter.n, 1, '32 f32 rows do take it');
    const m = load('llama', 'bf16'), D = m.config.hidden;
    const s = setup(m, true, 1, 5);
    s.fwd.layer(randn(3 * D, 1), [{ depth: 0, segs: [{ kv: s.seqs[0], pos0: 5, T: 3 }] }]);
    assert.equal(counter.n, 2, 'a 3-token chunk');
  } finally {
    counter.restore();
  }
});

test('batch_layer_f32 refuses bad rows, pages, groups and sizes before writing anything', { skip }, () => {
  const nat = native!;
  const D = 16, H = 2, Hkv = 1, Dh = 8, F = 24, P = 16, kvd = Hkv * Dh;
  const w = (n: number, s: number) => randn(n, s, 0.2);
  const [wq, wk, wv, wo, wg, wu, wd] = [w(H * Dh * D, 1), w(kvd * D, 2), w(kvd * D, 3), w(D * H * Dh, 4), w(F * D, 5), w(F * D, 6), w(D * F, 7)];
  const norm = new Float32Array(D).fill(1), invFreq = Float32Array.of(1, 0.1, 0.01, 0.001);
  const kPool = new Float32Array(4 * P * kvd), vPool = new Float32Array(4 * P * kvd);
  type Over = Partial<{ y: Float32Array; x: Float32Array; groupRows: Int32Array; decodeGroups: number; attnNorms: Float32Array[] | null; mlpNorms: Float32Array[] | null; adapters: unknown[]; rowsAt: Int32Array; pos: Int32Array; pages: Int32Array; start: Int32Array; P: number; H: number; kPool: Float32Array; qNorms: unknown; kNorms: unknown; postAttnNorms: unknown; postMlpNorms: unknown; windows: unknown; invFreqs: unknown; softcap: unknown }>;
  const call = (o: Over = {}) =>
    nat.batch_layer_f32(
      o.y ?? new Float32Array(2 * D), o.x ?? randn(3 * D, 9), o.kPool ?? kPool, vPool, wq, wk, wv, wo, wg, wu, wd, null, null, null, null, null, null, null, invFreq,
      o.groupRows ?? Int32Array.of(2, 1), o.decodeGroups ?? 1, o.attnNorms === undefined ? [norm, norm] : o.attnNorms, o.mlpNorms === undefined ? [norm] : o.mlpNorms, (o.adapters ?? [null, null]) as never,
      o.rowsAt ?? Int32Array.of(3, 20, 4), o.pos ?? Int32Array.of(3, 4, 4), o.pages ?? Int32Array.of(0, 1), o.start ?? Int32Array.of(0, 1), o.P ?? P,
      D, o.H ?? H, Hkv, Dh, F, 8, 0, 1e-5, 0, 0, 0, 0.35, null, (o.qNorms ?? null) as never, (o.kNorms ?? null) as never,
      (o.postAttnNorms ?? null) as never, (o.postMlpNorms ?? null) as never, (o.windows ?? null) as never, (o.invFreqs ?? null) as never, ('softcap' in o ? o.softcap : 0) as never,
    );
  call();
  const headNorm = new Float32Array(Dh).fill(1), qWhole = new Float32Array(H * Dh).fill(1);
  call({ qNorms: [headNorm], kNorms: [headNorm, headNorm] });
  call({ kNorms: [headNorm, headNorm] });
  // OLMo-2: no norms before the sublayers, norms after them, q/k normed over the whole projection
  // (k has one head here: its whole projection is one head, either length fits)
  call({ attnNorms: null, mlpNorms: null, postAttnNorms: [norm], postMlpNorms: [norm], qNorms: [qWhole], kNorms: [headNorm, headNorm] });
  const range = (o: Over, msg: RegExp) => {
    const before = kPool.slice();
    assert.throws(() => call(o), { name: 'RangeError', message: msg });
    assert.deepEqual(kPool, before, `nothing written: ${msg}`);
  };
  const type = (o: Over, msg: RegExp) => assert.throws(() => call(o), { name: 'TypeError', message: msg });
  range({ rowsAt: Int32Array.of(3, 64, 4) }, /rowsAt\[1\] = 64 is outside the pool's 64 rows/);
  range({ rowsAt: Int32Array.of(-1, 1, 2) }, /rowsAt\[0\] = -1/);
  range({ pages: Int32Array.of(0, 4) }, /row 1: page 4 outside the pool's 4 pages/);
  range({ pos: Int32Array.of(3, 16, 4) }, /row 1 needs pages\[1 \.\. 3\), but pages has 2 entries/);
  range({ pos: Int32Array.of(3, -2, 4) }, /pos\[1\] = -2 is negative/);
  range({ groupRows: Int32Array.of(2, 2) }, /x has 48 elements, expected rows·D = 64/);
  range({ groupRows: Int32Array.of(2, -1) }, /groupRows\[1\] = -1 is negative/);
  range({ groupRows: new Int32Array(0), attnNorms: [], adapters: [] }, /at least one group/);
  range({ decodeGroups: 3 }, /decodeGroups must be an integer in \[0, 2\]/);
  range({ P: 8 }, /pageRows must be a positive multiple of 16/);
  range({ H: 3 }, /H = 3 must be a multiple of Hkv|wq has/);
  range({ y: new Float32Array(D) }, /y has 16 elements, expected decode rows·D = 32/);
  range({ kPool: new Float32Array(4 * P * kvd + 1) }, /kPool has 513 elements, not a whole number of pages/);
  range({ x: kPool.subarray(0, 3 * D) }, /kPool and x must not overlap/);
  range({ groupRows: Int32Array.of(40, 40), x: randn(80 * D, 1), rowsAt: new Int32Array(80), pos: new Int32Array(80), start: new Int32Array(40) }, /80 rows: at most 32 \(the matrix-vector path of f32 matrices\)/);
  type({ attnNorms: [norm] }, /attnNorms must be null or an Array of one Float32Array per group \(2\)/);
  type({ attnNorms: [norm, new Float64Array(D) as unknown as Float32Array] }, /attnNorms\[1\] must be a Float32Array/);
  range({ mlpNorms: [new Float32Array(3)] }, /mlpNorms\[0\] has 3 elements, expected D = 16/);
  type({ adapters: [null, [1, 2]] }, /adapters must be null or an Array of 14 entries/);
  // per-head q/k norms: one per decode group (q) and per group (k), exactly Dh f32 values each
  type({ qNorms: [headNorm, headNorm] }, /qNorms must be null or an Array of one Float32Array per decode group \(1\)/);
  type({ kNorms: [headNorm] }, /kNorms must be null or an Array of one Float32Array per group \(2\)/);
  type({ kNorms: headNorm }, /kNorms must be null or an Array/);
  range({ qNorms: [new Float32Array(Dh - 1)] }, /qNorms\[0\] has 7 elements, expected Dh = 8 \(each head\) or heads·Dh = 16 \(the whole projection\)/);
  range({ kNorms: [headNorm, new Float32Array(H * Dh)] }, /kNorms\[1\] has 16 elements, expected Dh = 8 \(each head\) or heads·Dh = 8/);
  range({ qNorms: [new Float32Array(3 * Dh)] }, /qNorms\[0\] has 24 elements/);
  type({ kNorms: [headNorm, null] }, /kNorms\[1\] must be a Float32Array/);
  const twoDecodeGroups = { decodeGroups: 2, y: new Float32Array(3 * D), mlpNorms: [norm, norm], start: Int32Array.of(0, 1, 0) };
  call({ ...twoDecodeGroups, qNorms: [qWhole, qWhole] });
  range({ ...twoDecodeGroups, qNorms: [headNorm, qWhole] }, /qNorms\[1\] norms the whole projection, qNorms\[0\] each head/);
  type({ kNorms: [headNorm, new Float64Array(Dh)] }, /kNorms\[1\] must be a Float32Array/);
  type({ qNorms: [null] }, /qNorms\[0\] must be a Float32Array/);
  range({ kNorms: [headNorm, kPool.subarray(0, Dh)] }, /kPool and kNorms must not overlap/);
  range({ qNorms: [vPool.subarray(0, H * Dh)] }, /vPool and qNorms must not overlap/);
  type({ postAttnNorms: [norm, norm] }, /postAttnNorms must be null or an Array of one Float32Array per decode group \(1\)/);
  type({ postMlpNorms: [new Float64Array(D)] }, /postMlpNorms\[0\] must be a Float32Array/);
  range({ postMlpNorms: [new Float32Array(D - 1)] }, /postMlpNorms\[0\] has 15 elements, expected D = 16/);
  range({ postAttnNorms: [kPool.subarray(0, D)] }, /kPool and postAttnNorms must not overlap/);
  type({ mlpNorms: norm as never }, /mlpNorms must be null or an Array of one Float32Array per decode group \(1\)/);
  // attention variants: windows per decode group, rotary frequencies per group, one soft-cap; a row
  // with a window needs valid pages from its window's first key on only
  call({ windows: Int32Array.of(2), invFreqs: [invFreq, invFreq], softcap: 30 });
  call({ windows: Int32Array.of(2), pos: Int32Array.of(3, 17, 4), pages: Int32Array.of(0, -1, 2), start: Int32Array.of(0, 1) });
  range({ windows: Int32Array.of(20), pos: Int32Array.of(3, 17, 4), pages: Int32Array.of(0, -1, 2), start: Int32Array.of(0, 1) }, /row 1: page -1 outside the pool's 4 pages/);
  range({ pos: Int32Array.of(3, 17, 4), pages: Int32Array.of(0, -1, 2), start: Int32Array.of(0, 1) }, /row 1: page -1 outside/);
  range({ windows: Int32Array.of(-1) }, /windows\[0\] = -1 is negative/);
  range({ windows: new Int32Array(0) }, /windows has 0 elements, expected decode groups = 1/);
  type({ windows: [2] }, /windows must be a Int32Array/);
  type({ invFreqs: [invFreq] }, /invFreqs must be null or an Array of one Float32Array per group \(2\)/);
  range({ invFreqs: [invFreq, new Float32Array(3)] }, /invFreqs\[1\] has 3 elements, expected rotDim\/2 = 4/);
  range({ invFreqs: [invFreq, kPool.subarray(0, 4)] }, /kPool and invFreqs must not overlap/);
  range({ softcap: -2 }, /softcap must be ≥ 0/);
  type({ softcap: null }, /softcap must be a number/);
  const bad = Array<unknown>(14).fill(null);
  bad[0] = new Float32Array(D); // rank 1
  bad[1] = new Float32Array(3);
  range({ adapters: [bad, null] }, /adapter B of q has 3 elements, expected 16/);
  bad[1] = new Float64Array(H * Dh);
  type({ adapters: [null, bad] }, /adapter B of q must be a Float32Array \(f32\) or a Uint16Array \(bf16\)/);
});
