// Serving throughput: the same requests, the same KV budget, six
// systems side by side in one run —
//   vanilla_serial     the unrolled (vanilla) model, one request at a time (SerialEngine)
//   vanilla_batched    the unrolled model with continuous batching (BatchEngine)
//   depthwise          the recursive model, continuous depth-wise batching, every token runs every loop
//   depthwise_exit     … with early exit (--exit-fraction F forces a fraction F of tokens out after
//                      loop 1, chosen by a hash of (request, token index); else --threshold on maxProb)
//   depthwise_oracle   … with oracle exits: an untimed oracle pass records each token's earliest loop
//                      whose argmax equals the final one, then the timed run replays those exits
//   recursive_serial   the recursive model, one request at a time
// Reports tokens/s, the ratio to vanilla_batched, mean loops per token, and how many generated
// tokens agree with depthwise (full depth). Greedy decoding, EOS ignored, so every request
// generates --gen-len tokens. Default model: random weights shaped like SmolLM-135M (30 layers,
// d 576, 9/3 heads, FFN 1536, vocab 49152) tied into 15 shared layers × 2 loops (cycle); its
// vanilla twin holds a separate copy of every depth's weights (W + B·A merged), same function.
// Used by `npm run bench:throughput` and `rrt bench throughput`.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError } from '../errors.js';
import { depthPlan } from '../infer/batch-forward.js';
import { BatchEngine, type BatchEngineOptions } from '../infer/engine.js';
import { SerialEngine } from '../infer/serial-engine.js';
import type { Engine, RequestOptions, RequestResult } from '../infer/types.js';
import type { ModelConfig } from '../models/config.js';
import { Decoder } from '../models/decoder.js';
import { loadModel } from '../models/load.js';
import { configFromHf } from '../models/profiles/index.js';
import { type Layer, type Linear, WEIGHT_DTYPES, type WeightDType, type Weights } from '../models/weights.js';
import { exportUnrolled } from '../recursive/export.js';
import { packTensors } from '../tensor/huge-pages.js';
import { kernels, setThreads } from '../tensor/kernels.js';
import { quantize } from '../tensor/quant.js';
import { Tensor, isQuantized } from '../tensor/tensor.js';
import { uniformArray as rand } from '../tensor/random.js';


export interface ThroughputOptions {
  /** a recursive checkpoint (its unrolled export is the vanilla twin); default random SmolLM-135M-shaped weights */
  model?: string;
  requests?: number;
  promptLen?: number;
  genLen?: number;
  /** generated lengths spread uniformly over G·(1 ± spread), fixed per request (0: every request G) */
  genSpread?: number;
  concurrency?: number;
  /** force this fraction of tokens to exit after loop 1 (null: exit on maxProb ≥ threshold) */
  exitFraction?: number | null;
  threshold?: number;
  kvFill?: 'propagate' | 'copy';
  kvMb?: number;
  loraRank?: number;
  threads?: number;
  /** weight matrices of both models in memory (norms stay f32). @default 'f32' */
  dtype?: WeightDType;
  /** run the systems this many times, alternating; report medians (this machine is noisy). @default 1 */
  rounds?: number;
  /** which systems to run (the two baselines, vanilla_batched and depthwise, always run). @default all six */
  systems?: SystemName[];
  /**
   * run the batched systems of a round together, their steps interleaved in one process, and
   * time each by its own steps (Engine busySeconds) instead of the wall clock: on a shared,
   * noisy machine every system then sees the same load, minute by minute. The serial systems
   * run alone, also on their own steps' clock. @default false
   */
  paired?: boolean;
  /** called as each timed run of a system ends (warm-up runs are not counted) */
  onProgress?: (done: number, total: number, system: SystemName) => void;
}

export const SYSTEM_NAMES = ['vanilla_serial', 'vanilla_batched', 'depthwise', 'depthwise_exit', 'depthwise_oracle', 'recursive_serial'] as const;
export type SystemName = (typeof SYSTEM_NAMES)[number];

/** Medians over the rounds (agreement and loops from the first round: greedy runs repeat exactly). */
export interface SystemResult {
  tokens_per_s: number;
  tokens_per_s_rounds: number[];
  /** median over the rounds of Run.loaded_tokens_per_s; null when no request waited */
  loaded_tokens_per_s: number | null;
  mean_loops: number;
  ratio_to_vanilla_batched: number;
  agreement_with_depthwise: number;
  seconds: number;
  tokens: number;
}

export interface ThroughputReport {
  model: string;
  requests: number;
  prompt_len: number;
  gen_len: number;
  gen_spread: number;
  /** each request's generated length */
  gen_lengths: number[];
  concurrency: number;
  exit_fraction: number | null;
  kv_fill: 'propagate' | 'copy';
  dtype: WeightDType;
  rounds: number;
  /** batched systems interleaved, each timed by its own steps (ThroughputOptions.paired) */
  paired: boolean;
  /**
   * depthwise_exit over depthwise: measured; the loops-only ideal nLoops / mean loops (2/(2 − F)
   * for forced exits); and what is attainable once every token also pays the LM head, its share
   * of the prompt (run at full depth by both) and the exited tokens' propagated keys and values
   * (multiply-adds per token, from the model's shape);
   * with several rounds, `measured` is the median of the `per_round` ratios; `measured_loaded`
   * the same over the loaded windows (null when no request waited); null when depthwise_exit
   * was not run
   */
  exit_gain: { measured: number; per_round: number[]; measured_loaded: number | null; ideal_loops_only: number; attainable_with_head: number } | null;
  /** the systems run, in the order above */
  systems: Partial<Record<SystemName, SystemResult>>;
}


/**
 * f32 matrices in `dtype`, after merging; one copy per matrix, so shared slots stay shared. As
 * loadModel does: under a quantized dtype the embedding and head are q8_0 and adapters bf16.
 */
export function castTo(dtype: WeightDType): (t: Tensor, role?: 'head' | 'adapter') => Tensor {
  if (dtype === 'f32') return (t) => t;
  const done = new Map<Tensor, Tensor>();
  const toBf16 = (t: Tensor) => {
    const u = new Uint16Array(t.size);
    kernels.f32_to_bf16(u, t.f32, t.size);
    return new Tensor(u, t.shape, 'bf16');
  };
  return (t, role) => {
    if (!done.has(t)) {
      const want = !isQuantized(dtype) || role === 'adapter' ? 'bf16' : role === 'head' ? 'q8_0' : dtype;
      done.set(t, want === 'bf16' ? toBf16(t) : quantize(t, want));
    }
    return done.get(t)!;
  };
}

/** Random cycle-shared model (K slots × nLoops) with a recursive spec, and its vanilla twin with per-depth copies. */
function randomPair(hf: Record<string, unknown>, K: number, rank: number, dtype: WeightDType): { recursive: Decoder; vanilla: Decoder } {
  const base = configFromHf(hf);
  const { hidden: D, intermediate: F, nHeads: H, nKvHeads: Hkv, headDim: Dh, vocabSize: V, nLayers: L } = base;
  let seed = 1;
  const mat = (o: number, i: number, scale = 1 / Math.sqrt(i)) => new Tensor(rand(o * i, scale, seed++), [o, i]);
  const ones = (n: number) => new Tensor(new Float32Array(n).fill(1), [n]);
  const slots = Array.from({ length: K }, () => ({ q: mat(H * Dh, D), k: mat(Hkv * Dh, D), v: mat(Hkv * Dh, D), o: mat(D, H * Dh), gate: mat(F, D), up: mat(F, D), down: mat(D, F) }));
  const norm = { w: ones(D), b: null };
  const lin = (w: Tensor): Linear => ({ w, b: null, lora: rank > 0 ? { a: mat(rank, w.shape[1]), b: mat(w.shape[0], rank, 0.01 / Math.sqrt(rank)) } : null });
  const recLayers: Layer[] = Array.from({ length: L }, (_, l) => {
    const s = slots[l % K];
    return { attnNorm: norm, mlpNorm: norm, proj: { q: lin(s.q), k: lin(s.k), v: lin(s.v), o: lin(s.o), gate: lin(s.gate), up: lin(s.up), down: lin(s.down) } };
  });
  const merged = (p: Linear): Linear => {
    const w = p.w.f32.slice();
    if (p.lora) kernels.gemm_f32(w, p.lora.b.f32, p.lora.a.f32, p.w.shape[0], p.w.shape[1], p.lora.a.shape[0], 0, 0, 1);
    return { w: new Tensor(w, p.w.shape), b: null, lora: null };
  };
  const vanLayers: Layer[] = recLayers.map((l) => ({ attnNorm: norm, mlpNorm: norm, proj: Object.fromEntries(Object.entries(l.proj).map(([k, p]) => [k, merged(p)])) }));
  const embed = mat(V, D);
  const cast = castTo(dtype);
  const weights = (layers: Layer[]): Weights => ({
    embed: cast(embed, 'head'),
    pos: null,
    layers: layers.map((l) => ({ ...l, proj: Object.fromEntries(Object.entries(l.proj).map(([k, p]) => [k, { w: cast(p.w), b: p.b, lora: p.lora && { a: cast(p.lora.a, 'adapter'), b: cast(p.lora.b, 'adapter') } }])) })),
    finalNorm: norm,
    head: cast(embed, 'head'),
  });
  const unrolled = Array.from({ length: L }, (_, l) => ({ slot: l % K, loop: Math.floor(l / K), unique: false, sourceLayer: l }));
  const recCfg: ModelConfig = {
    ...base,
    recursive: {
      version: 1,
      source: { model: 'random', modelType: 'llama', numHiddenLayers: L, nonEmbeddingParameters: 0 },
      plan: { strategy: 'cycle', nLoops: L / K, nShared: K, unrolled },
      sharedNorms: true,
      lora: null,
    },
  };
  return { recursive: new Decoder(recCfg, packTensors(weights(recLayers))), vanilla: new Decoder(base, packTensors(weights(vanLayers))) };
}

/** The benchmark's pair: a recursive checkpoint and its unrolled export, or the random SmolLM-135M-shaped pair. */
export function models(path: string | undefined, loraRank: number, dtype: WeightDType): { recursive: Decoder; vanilla: Decoder; label: string } {
  if (path) {
    const rec = loadModel(path, { dtype }).decoder;
    if (!rec.config.recursive) throw new InputError('bad_option', `${path} is not a recursive checkpoint: bench throughput needs a model made by rrt convert (or none, for random SmolLM-135M-shaped weights)`);
    const dir = mkdtempSync(join(tmpdir(), 'rrt-bench-'));
    exportUnrolled(path, join(dir, 'unrolled'));
    const van = loadModel(join(dir, 'unrolled'), { dtype }).decoder;
    rmSync(dir, { recursive: true, force: true });
    return { recursive: rec, vanilla: van, label: path };
  }
  const hf = { model_type: 'llama', hidden_size: 576, intermediate_size: 1536, num_hidden_layers: 30, num_attention_heads: 9, num_key_value_heads: 3, vocab_size: 49152, max_position_embeddings: 2048, rms_norm_eps: 1e-5, tie_word_embeddings: true };
  return { ...randomPair(hf, 15, loraRank, dtype), label: `random SmolLM-135M shape (${dtype}), 15 shared layers × 2 loops` };
}

/** deterministic per (request, token) in [0, 1) */
function hash01(r: number, i: number): number {
  let h = Math.imul(r ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(i + 0x632be5ab, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  return (h >>> 0) / 4294967296;
}

/** The benchmark's N prompts of P token ids below V, the same in every run. */
export function benchPrompts(N: number, P: number, V: number): number[][] {
  return Array.from({ length: N }, (_, r) => Array.from({ length: P }, (_, t) => Math.floor(hash01(r + 1000, t) * V)));
}

/** A forcedExit that sends a fixed pseudo-random fraction F of tokens out after loop 1 (the same tokens in every run). */
export function forcedExits(F: number): (requestId: number, tokenIndex: number) => boolean {
  return (r, i) => hash01(r, i) < F;
}

export interface Run {
  /** generated tokens over `seconds` */
  tokens_per_s: number;
  /**
   * tokens/s while requests were still waiting for a slot, i.e. a loaded server's rate without
   * the drain at the end of the run (slots emptying one by one); null when none ever waited
   */
  loaded_tokens_per_s: number | null;
  mean_loops: number;
  /** wall-clock seconds from submitting to the last result, or the engine's busy seconds (clock 'busy') */
  seconds: number;
  tokens: number;
  results: RequestResult[];
}

/**
 * Submits every prompt at once and times until all are done: tokens/s and mean loops per token.
 * `maxTokens[i]`, when given, replaces opts.maxTokens for prompt i. Clock 'wall' times from
 * submitting to the last result; 'busy' counts only the engine's own steps (for engines that
 * share the process with others).
 */
export async function timeRequests(engine: Engine, prompts: number[][], opts: RequestOptions, maxTokens?: number[], clock: 'wall' | 'busy' = 'wall'): Promise<Run> {
  const emitted = () => engine.stats().exitHistogram.reduce((a, b) => a + b, 0);
  const now = clock === 'wall' ? () => performance.now() / 1000 : () => engine.stats().busySeconds;
  const before = emitted();
  const t0 = now();
  const handles = prompts.map((p, i) => engine.submit(p, maxTokens ? { ...opts, maxTokens: maxTokens[i] } : opts));
  // the engine steps from setImmediate, so this check runs between its steps: the loaded window
  // ends after the step that admitted the last waiting request (none if the first step did)
  let loaded: number | null = null, steps = 0;
  const watch = () => {
    steps++;
    if (engine.stats().queueDepth > 0) setImmediate(watch);
    else if (steps > 1) loaded = (emitted() - before) / (now() - t0);
  };
  if (engine.stats().queueDepth > 0) setImmediate(watch);
  const results = await Promise.all(handles.map((h) => h.result));
  const seconds = now() - t0;
  const tokens = results.reduce((n, r) => n + r.ids.length, 0);
  const loops = results.reduce((n, r) => n + r.exits.meanLoops * r.ids.length, 0);
  for (const r of results) if (r.finishReason === 'error') throw new Error(r.error);
  return { tokens_per_s: tokens / seconds, loaded_tokens_per_s: loaded, mean_loops: loops / tokens, seconds, tokens, results };
}

/** The median (the mean of the middle two for an even count). */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b), m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The median of the values, or null when any is null. */
function medianOrNull(xs: (number | null)[]): number | null {
  return xs.every((x): x is number => x !== null) ? median(xs) : null;
}

function agreement(a: RequestResult[], b: RequestResult[]): number {
  let same = 0, total = 0;
  a.forEach((r, i) => {
    const n = Math.max(r.ids.length, b[i].ids.length);
    for (let t = 0; t < n; t++) same += r.ids[t] === b[i].ids[t] ? 1 : 0;
    total += n;
  });
  return same / total;
}

/** Runs the six systems on the same requests and KV budget, in one process. */
export async function benchThroughput(o: ThroughputOptions = {}): Promise<ThroughputReport> {
  const N = o.requests ?? 8, P = o.promptLen ?? 16, G = o.genLen ?? 32, C = o.concurrency ?? 8;
  const exitFraction = o.exitFraction ?? null;
  const threshold = o.threshold ?? 0.5;
  const kvFill = o.kvFill ?? 'propagate';
  const kvBudgetBytes = (o.kvMb ?? 256) * 2 ** 20;
  if (o.threads) setThreads(o.threads);
  const dtype = o.dtype ?? 'f32', rounds = o.rounds ?? 1;
  if (!WEIGHT_DTYPES.includes(dtype)) throw new InputError('bad_option', `dtype must be one of ${WEIGHT_DTYPES.join(', ')}, got ${dtype}`);
  if (!Number.isInteger(rounds) || rounds < 1) throw new InputError('bad_option', `rounds must be a positive integer, got ${rounds}`);
  for (const k of o.systems ?? [])
    if (!(SYSTEM_NAMES as readonly string[]).includes(k)) throw new InputError('bad_option', `unknown system ${k}; systems are ${SYSTEM_NAMES.join(', ')}`);
  const wanted = new Set<SystemName>([...(o.systems ?? SYSTEM_NAMES), 'vanilla_batched', 'depthwise']);
  const names = SYSTEM_NAMES.filter((k) => wanted.has(k));
  const { recursive, vanilla, label } = models(o.model, o.loraRank ?? 0, dtype);
  const V = recursive.config.vocabSize;
  const prompts = benchPrompts(N, P, V);
  const greedy: RequestOptions = { maxTokens: G, eosIds: [], temperature: 0 };
  const spread = o.genSpread ?? 0;
  if (!(spread >= 0 && spread < 1)) throw new InputError('bad_option', `genSpread must be in [0, 1), got ${spread}`);
  // mixed lengths keep rows out of lock-step, as requests arriving at different times would
  const lengths = prompts.map((_, r) => Math.max(1, Math.round(G * (1 - spread + 2 * spread * hash01(r + 5000, 0)))));
  const batch = (o: BatchEngineOptions = {}): BatchEngineOptions => ({ maxBatch: C, kvBudgetBytes, kvFill, prefaultKv: true, ...o });

  const nLoops = depthPlan(recursive).nLoops;
  const exitOpts = exitFraction !== null
    ? { forced: batch({ forcedExit: forcedExits(exitFraction) }), req: greedy }
    : { forced: batch(), req: { ...greedy, earlyExit: { measure: 'maxProb' as const, threshold } } };
  // oracle: an untimed pass records each token's earliest agreeing loop (its events), then the timed runs replay them
  const schedule = new Map<string, number>();
  if (wanted.has('depthwise_oracle')) {
    const e = new BatchEngine(recursive, batch({ oracle: true }));
    const hs = prompts.map((p, i) => e.submit(p, { ...greedy, maxTokens: lengths[i] }));
    await Promise.all(hs.map(async (h) => {
      let t = 0;
      for await (const ev of h.events()) schedule.set(`${h.id}:${t++}`, ev.loops);
    }));
  }
  const systems: Record<SystemName, () => [Engine, RequestOptions]> = {
    vanilla_serial: () => [new SerialEngine(vanilla), greedy],
    vanilla_batched: () => [new BatchEngine(vanilla, batch()), greedy],
    depthwise: () => [new BatchEngine(recursive, batch()), greedy],
    depthwise_exit: () => [new BatchEngine(recursive, exitOpts.forced), exitOpts.req],
    depthwise_oracle: () => [new BatchEngine(recursive, batch({ forcedExit: (r, i, done) => done >= (schedule.get(`${r}:${i}`) ?? nLoops) })), greedy],
    recursive_serial: () => [new SerialEngine(recursive), greedy],
  };
  // an untimed warm-up of every system (a full batch of short requests), so that compiling each
  // system's own code paths (exits, fills) does not land in its first timed round
  const few = prompts.slice(0, C);
  for (const k of names) {
    const [engine, req] = systems[k]();
    await timeRequests(engine, few, req, few.map((_, i) => Math.min(lengths[i], 8)));
  }
  const runs = Object.fromEntries(names.map((k) => [k, [] as Run[]])) as Record<SystemName, Run[]>;
  const paired = o.paired ?? false, serial = new Set<SystemName>(['vanilla_serial', 'recursive_serial']);
  const timed = (k: SystemName) => {
    const [engine, req] = systems[k]();
    return timeRequests(engine, prompts, req, lengths, paired ? 'busy' : 'wall');
  };
  let finished = 0;
  const record = (k: SystemName, run: Run) => {
    runs[k].push(run);
    o.onProgress?.(++finished, rounds * names.length, k);
  };
  for (let r = 0; r < rounds; r++) {
    if (paired) {
      const together = names.filter((k) => !serial.has(k));
      const got = await Promise.all(together.map(timed));
      together.forEach((k, i) => record(k, got[i]));
    }
    for (const k of names) if (!paired || serial.has(k)) record(k, await timed(k));
  }

  const full = runs.depthwise[0].results;
  const results = Object.fromEntries(names.map((k) => {
    const rs = runs[k];
    return [k, {
      tokens_per_s: median(rs.map((r) => r.tokens_per_s)),
      tokens_per_s_rounds: rs.map((r) => r.tokens_per_s),
      loaded_tokens_per_s: medianOrNull(rs.map((r) => r.loaded_tokens_per_s)),
      mean_loops: rs[0].mean_loops,
      ratio_to_vanilla_batched: median(rs.map((r, i) => r.tokens_per_s / runs.vanilla_batched[i].tokens_per_s)),
      agreement_with_depthwise: agreement(rs[0].results, full),
      seconds: median(rs.map((r) => r.seconds)),
      tokens: rs[0].tokens,
    }];
  })) as ThroughputReport['systems'];
  let exit_gain: ThroughputReport['exit_gain'] = null;
  if (wanted.has('depthwise_exit')) {
    const loops = runs.depthwise_exit[0].mean_loops;
    const perRound = runs.depthwise_exit.map((r, i) => r.tokens_per_s / runs.depthwise[i].tokens_per_s);
    exit_gain = {
      measured: median(perRound),
      per_round: perRound,
      measured_loaded: medianOrNull(runs.depthwise_exit.map((r, i) => {
        const base = runs.depthwise[i].loaded_tokens_per_s;
        return r.loaded_tokens_per_s !== null && base !== null ? r.loaded_tokens_per_s / base : null;
      })),
      ideal_loops_only: nLoops / loops,
      attainable_with_head: attainableExitGain(recursive.config, nLoops, loops, P / G),
    };
  }
  return { model: label, requests: N, prompt_len: P, gen_len: G, gen_spread: spread, gen_lengths: lengths, concurrency: C, exit_fraction: exitFraction, kv_fill: kvFill, dtype, rounds, paired, exit_gain, systems: results };
}

/**
 * Per-token multiply-adds with and without exits, as a ratio: a loop costs K layers, every token
 * pays the LM head once, an exited token's skipped layers still get keys and values
 * (propagate), and `promptPerToken` prompt tokens per generated token run every loop in both
 * (P / G in the benchmark). Attention and norms are left out (small at these lengths).
 */
export function attainableExitGain(cfg: ModelConfig, nLoops: number, meanLoops: number, promptPerToken = 0): number {
  const { hidden: D, intermediate: F, nHeads: H, nKvHeads: Hkv, headDim: Dh, vocabSize: V, nLayers: L } = cfg;
  const K = L / nLoops;
  const kv = 2 * D * Hkv * Dh;
  const layer = 2 * D * H * Dh + kv + (cfg.gated ? 3 : 2) * D * F;
  const head = V * D;
  const prompt = promptPerToken * nLoops * K * layer;
  return (nLoops * K * layer + prompt + head) / (meanLoops * K * layer + prompt + head + (nLoops - meanLoops) * K * kv);
}

export function formatThroughput(r: ThroughputReport, threshold = 0.5): string {
  const lines = [
    `${r.model}; ${r.requests} requests × (${r.prompt_len} prompt + ${r.gen_len}${r.gen_spread > 0 ? ` ± ${Math.round(100 * r.gen_spread)} %` : ''} generated), concurrency ${r.concurrency}, KV fill ${r.kv_fill}, ${r.exit_fraction !== null ? `exit fraction ${r.exit_fraction}` : `maxProb threshold ${threshold}`}${r.rounds > 1 ? `; medians of ${r.rounds} alternating rounds` : ''}${r.paired ? '; paired: batched systems interleaved step by step, tok/s on each engine\'s own busy time' : ''}`,
    'system'.padEnd(18) + 'tok/s'.padStart(9) + 'loaded'.padStart(9) + '× batched'.padStart(11) + 'loops/tok'.padStart(11) + 'agree(c)'.padStart(10),
  ];
  for (const [k, s] of Object.entries(r.systems))
    lines.push(k.padEnd(18) + s.tokens_per_s.toFixed(1).padStart(9) + (s.loaded_tokens_per_s === null ? '–' : s.loaded_tokens_per_s.toFixed(1)).padStart(9) + s.ratio_to_vanilla_batched.toFixed(2).padStart(11) + s.mean_loops.toFixed(2).padStart(11) + (100 * s.agreement_with_depthwise).toFixed(1).padStart(9) + '%');
  const g = r.exit_gain;
  if (g) lines.push(
    `depthwise_exit / depthwise: ${g.measured.toFixed(2)}×${r.rounds > 1 ? ` (per round ${g.per_round.map((x) => x.toFixed(2)).join(', ')})` : ''} — ${(100 * g.measured / g.ideal_loops_only).toFixed(0)} % of the loops-only ideal ${g.ideal_loops_only.toFixed(2)}×, ` +
      `${(100 * g.measured / g.attainable_with_head).toFixed(0)} % of the ${g.attainable_with_head.toFixed(2)}× attainable when every token also pays the LM head and its share of the prompt` +
      (g.measured_loaded === null ? '' : `; while requests waited (no drain): ${g.measured_loaded.toFixed(2)}×`),
  );
  if (Object.values(r.systems).some((s) => s.loaded_tokens_per_s !== null))
    lines.push("'loaded': tokens/s until the last waiting request got a slot, without the drain at the end of the run");
  return lines.join('\n');
}
