// rrt against llama.cpp itself, on files rrt writes. For every model, llama.cpp's greedy ids for
// 64 tokens from 3 prompts must equal rrt's f32 ids, and at every step whose context the two
// share, llama.cpp's next-token probabilities over the whole vocabulary must agree with rrt's
// within 1e-3. llama.cpp runs f32 throughout for that (F32 K/V cache, no flash attention: on the
// CPU its defaults round K and V to f16); the ids under its defaults are reported, not checked.
// Both go on past end-of-generation tokens. Gemma's probabilities differ by more (up to 7.6e-4,
// within the same tolerance): llama.cpp's CPU GELU is an f16 lookup table (docs/llamacpp.md).
//   1. each architecture rrt exports (ARCHITECTURES below): a small f32 model from fixtures/hf,
//      and recursive conversions of the newer ones, written unrolled;
//   2. looped GGUF (llama.cpp's nanbeige: the shared block once, run num_loops times), whose file
//      must also be within 5 % of the unique parameters' bytes: stories260K converted to 2 loops,
//      a random SmolLM-135M-shaped model converted to 15 shared layers × 2 loops, and a looped
//      model that norms between loops (skip_loop_final_norm false);
//   3. speed: llama.cpp on the looped Q8_0 GGUF against the unrolled one, and rrt on the same model.
// node-llama-cpp is installed into a temp folder (never a dependency).
// Usage: npm run check:llamacpp [-- --tokens N --rounds N --json summary.json --no-speed]
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importLlamaCpp, llamaGreedy, llamaGreedyProbs, LLAMA_CPP_VERSION, type Llama } from '../bench/node-llama-cpp.js';
import { llama, randomModel } from '../bench/random-model.js';
import { generateIds } from '../src/models/generate.js';
import { BUNDLED_MODEL, loadModel } from '../src/models/load.js';
import { saveModel } from '../src/models/save.js';
import { convertToRecursive, type ConvertOptions } from '../src/recursive/convert.js';
import { exportGguf, type GgufExportOptions } from '../src/recursive/export-gguf.js';
import { noGrad } from '../src/tensor/autograd.js';
import { setThreads } from '../src/tensor/kernels.js';

const args = process.argv.slice(2);
const num = (flag: string, d: number) => (args.includes(flag) ? Number(args[args.indexOf(flag) + 1]) : d);
const nTokens = num('--tokens', 64), rounds = num('--rounds', 3);
const jsonPath = args.includes('--json') ? args[args.indexOf('--json') + 1] : null;
const speed = !args.includes('--no-speed');
const PROB_TOLERANCE = 1e-3;
const log = (s: string) => process.stderr.write(`${s}\n`);
const tmp = mkdtempSync(join(tmpdir(), 'rrt-check-llamacpp-'));
const root = new URL('../', import.meta.url).pathname;
const TOK = join(root, 'assets/stories260K/tok512.bin');
const fixture = (name: string) => join(root, 'fixtures/hf', name);
const STRICT: ConvertOptions = { nLoops: 2, strategy: 'cycle', init: 'stepwise' };
const RELAXED: ConvertOptions = { nLoops: 2, strategy: 'cycle', init: 'average', loraRank: 4 };

interface Row {
  check: string;
  architecture: string;
  layers: number;
  loops: number;
  /** greedy ids equal to rrt's before the first difference, per prompt */
  idsAgree: number[];
  tokens: number;
  maxProbDiff: number;
  /** the same under llama.cpp's default attention (F16 K/V cache, flash attention) */
  idsAgreeDefaults: number[];
  /** llama.cpp's model size over the unique parameters' bytes (looped checks) */
  sizeRatio?: number;
  ok: boolean;
}
const rows: Row[] = [];

/** A converted copy of `src` (the fixtures carry no tokenizer: stories260K's 512-token one fits them). */
function converted(src: string, name: string, opts: ConvertOptions): string {
  const dst = join(tmp, name);
  convertToRecursive(src, dst, { ...opts, tokenizer: TOK });
  return dst;
}

/** fixtures/hf/phi3-longrope with its original context at 256: llama.cpp allocates at least 256 positions and takes the long factors past the original context, where rrt stops. */
function longrope(): string {
  const dir = join(tmp, 'phi3-longrope-256');
  mkdirSync(dir);
  copyFileSync(join(fixture('phi3-longrope'), 'model.safetensors'), join(dir, 'model.safetensors'));
  const cfg = JSON.parse(readFileSync(join(fixture('phi3-longrope'), 'config.json'), 'utf8'));
  cfg.max_position_embeddings = 1024;
  cfg.original_max_position_embeddings = cfg.rope_parameters.original_max_position_embeddings = 256;
  writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg));
  return dir;
}

/**
 * fixtures/hf/gemma2 with query_pre_attn_scalar 16, its head size: llama.cpp's gemma2 scales
 * attention by 1/√head size and its GGUF has no key for another scalar, so rrt refuses the 24.
 */
let gemma2Dir: string | null = null;
function gemma2(): string {
  if (gemma2Dir) return gemma2Dir;
  const dir = join(tmp, 'gemma2-qpas16');
  mkdirSync(dir);
  copyFileSync(join(fixture('gemma2'), 'model.safetensors'), join(dir, 'model.safetensors'));
  const cfg = JSON.parse(readFileSync(join(fixture('gemma2'), 'config.json'), 'utf8'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, query_pre_attn_scalar: cfg.head_dim }));
  return (gemma2Dir = dir);
}

/** What each architecture is checked on; an architecture joins with its fixture here. */
const ARCHITECTURES: { check: string; model: () => string }[] = [
  { check: 'llama (fixtures/hf/llama: 6 layers, GQA)', model: () => fixture('llama') },
  { check: 'llama 3 rope (fixtures/hf/llama3-rope: llama3 scaling, original context 32)', model: () => fixture('llama3-rope') },
  { check: 'qwen3 (fixtures/hf/qwen3: per-head q/k norm, head_dim 16 ≠ 64/8)', model: () => fixture('qwen3') },
  { check: 'olmo2 (fixtures/hf/olmo2: post-sublayer norms, whole q/k norm)', model: () => fixture('olmo2') },
  { check: 'phi3 (fixtures/hf/phi3: fused qkv and gate_up, partial rotary 0.5, GQA)', model: () => fixture('phi3') },
  { check: 'phi3 longrope (fixtures/hf/phi3-longrope, original context 256)', model: longrope },
  { check: 'llama → 2 loops (cycle, stepwise, strict), looped', model: () => converted(fixture('llama'), 'llama-c2', STRICT) },
  { check: 'llama3-rope → 2 loops, relaxed (rank-4 LoRA merged per depth), unrolled', model: () => converted(fixture('llama3-rope'), 'llama3-r4', RELAXED) },
  { check: 'qwen3 → 2 loops (cycle, stepwise, strict), unrolled', model: () => converted(fixture('qwen3'), 'qwen3-c2', STRICT) },
  { check: 'phi3 → 2 loops (cycle, stepwise, strict), unrolled', model: () => converted(fixture('phi3'), 'phi3-c2', STRICT) },
  { check: 'olmo2 → 2 loops, relaxed (rank-4 LoRA merged per depth), unrolled', model: () => converted(fixture('olmo2'), 'olmo2-r4', RELAXED) },
  { check: 'gemma2 (fixtures/hf/gemma2, query_pre_attn_scalar 16: window 6 on alternate layers, soft-caps 2 and 10)', model: gemma2 },
  { check: 'gemma3 (fixtures/hf/gemma3: window 5 on layers 0, 1, 3, 4 with θ 1e4; θ 1e6 linear ×2 on 2, 5; per-head q/k norm)', model: () => fixture('gemma3') },
  { check: 'gemma2 → 2 loops (cycle, stepwise, strict), unrolled', model: () => converted(gemma2(), 'gemma2-c2', STRICT) },
  // relaxed: the strict conversion's ids part at a near tie that llama.cpp's f16 GELU table flips (docs/llamacpp.md)
  { check: 'gemma3 → 2 loops, relaxed (rank-4 LoRA merged per depth), unrolled', model: () => converted(fixture('gemma3'), 'gemma3-r4', RELAXED) },
];

/** Unique parameter bytes of a model as the file stores them (f32: 4 bytes each). */
function uniqueBytes(path: string): number {
  const m = loadModel(path, { hugePages: false });
  const seen = new Set<object>();
  let n = 0;
  const add = (t: { size: number } | null | undefined) => {
    if (t && !seen.has(t)) {
      seen.add(t);
      n += t.size;
    }
  };
  const w = m.decoder.weights;
  add(w.embed);
  add(w.head);
  add(w.finalNorm.w);
  for (const l of w.layers) {
    add(l.attnNorm.w);
    add(l.mlpNorm.w);
    add(l.qNorm?.w);
    add(l.kNorm?.w);
    for (const p of Object.values(l.proj)) add(p.w);
  }
  return n * 4;
}

/** rrt's next-token probabilities after each prefix prompt + ids[0..s) for s = 0..steps-1 (one forward pass, softmax in f64). */
function rrtProbs(model: ReturnType<typeof loadModel>, prompt: number[], ids: number[], steps: number): Float64Array[] {
  const seq = Int32Array.from([...prompt, ...ids.slice(0, steps - 1)]);
  const V = model.config.vocabSize;
  const logits = noGrad(() => model.decoder.forward(seq, 1, seq.length).logits.f32.slice());
  return Array.from({ length: steps }, (_, s) => {
    const row = logits.subarray((prompt.length - 1 + s) * V, (prompt.length + s) * V);
    let max = -Infinity, z = 0;
    for (const v of row) max = Math.max(max, v);
    const p = Float64Array.from(row, (v) => Math.exp(v - max));
    for (const v of p) z += v;
    return p.map((v) => v / z);
  });
}

async function check(lib: Llama, label: string, model: string, gguf: string, prompts: number[][], opts: { tokenizer?: string; size?: boolean } = {}): Promise<void> {
  const rrt = loadModel(model, { tokenizer: opts.tokenizer });
  const lm = await lib.loadModel({ modelPath: gguf });
  const V = rrt.config.vocabSize;
  const agree: number[] = [], agreeDefaults: number[] = [];
  let maxDiff = 0;
  for (const p of prompts) {
    const want = [...generateIds(rrt.decoder, p, { maxTokens: nTokens, eosIds: [] })];
    const got = await llamaGreedyProbs(lm, p, nTokens, V);
    const first = got.ids.findIndex((id, i) => id !== want[i]);
    const n = first < 0 ? got.ids.length : first;
    agree.push(n);
    // steps 0..n share their context (the prompt and the agreed ids)
    const steps = Math.min(n + 1, nTokens);
    const mine = rrtProbs(rrt, p, got.ids, steps);
    for (let s = 0; s < steps; s++) for (let id = 0; id < V; id++) maxDiff = Math.max(maxDiff, Math.abs(mine[s][id] - got.probs[s][id]));
    const def = await llamaGreedy(lm, p, nTokens);
    const d = def.findIndex((id, i) => id !== want[i]);
    agreeDefaults.push(d < 0 ? def.length : d);
  }
  let sizeRatio: number | undefined;
  if (opts.size) sizeRatio = lm.size / uniqueBytes(model);
  await lm.dispose();
  const ok = agree.every((n) => n === nTokens) && maxDiff <= PROB_TOLERANCE && (sizeRatio === undefined || Math.abs(sizeRatio - 1) <= 0.05);
  const written = exportedMeta.get(gguf)!;
  rows.push({ check: label, ...written, idsAgree: agree, tokens: nTokens, maxProbDiff: maxDiff, idsAgreeDefaults: agreeDefaults, sizeRatio, ok });
  const size = sizeRatio === undefined ? '' : `; llama.cpp model size ${((sizeRatio - 1) * 100).toFixed(1)} % from the unique parameters (file ${(statSync(gguf).size / 1e6).toFixed(2)} MB)`;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${label} [${written.architecture}, ${written.layers} blocks${written.loops > 1 ? ` × ${written.loops} loops` : ''}]: ids ${agree.map((n) => `${n}/${nTokens}`).join(', ')}; max |Δp| ${maxDiff.toExponential(1)}; with llama.cpp's default attention ${agreeDefaults.map((n) => `${n}/${nTokens}`).join(', ')}${size}`);
}

const exportedMeta = new Map<string, { architecture: string; layers: number; loops: number }>();
function exported(model: string, gguf: string, opts: GgufExportOptions): string {
  const r = exportGguf(model, gguf, opts);
  exportedMeta.set(gguf, { architecture: r.architecture, layers: r.layers, loops: r.loops });
  return gguf;
}

let speedSummary: Record<string, number> | null = null;
const t0 = performance.now();
try {
  const { getLlama } = await importLlamaCpp();
  const lib = await getLlama({ gpu: false, build: 'never', logLevel: 'error' });
  const tok = loadModel(BUNDLED_MODEL).tokenizer!;
  const prompts = ['Once upon a time', 'The little dog', 'One day, Lily found'].map((t) => tok.encode(t));
  console.log(`llama.cpp: node-llama-cpp ${LLAMA_CPP_VERSION}, prebuilt CPU binaries; ${nTokens} greedy tokens from each of ${prompts.length} prompts; probabilities with an F32 K/V cache and no flash attention (tolerance ${PROB_TOLERANCE})`);

  // 1. every architecture
  for (const [i, a] of ARCHITECTURES.entries()) {
    const model = a.model();
    await check(lib, a.check, model, exported(model, join(tmp, `arch-${i}.gguf`), { tokenizer: TOK }), prompts, { tokenizer: TOK });
  }

  // 2. looped: stories260K 2 loops strict; SmolLM-135M shape 15 × 2; a norm between loops
  const c2 = join(tmp, 'stories-c2');
  convertToRecursive(BUNDLED_MODEL, c2, STRICT);
  await check(lib, 'stories260K, 2 loops (cycle, stepwise, strict), looped', c2, exported(c2, join(tmp, 'stories-c2.gguf'), { layout: 'looped' }), prompts, { size: true });
  log('writing a random SmolLM-135M-shaped model and its 15 × 2 conversion');
  const smol = randomModel(llama(30, 576, 9, 3, 1536, 49152, true));
  const smolDir = join(tmp, 'smollm');
  saveModel(smol.config, smol.decoder.weights, smolDir, { tokenizerFrom: TOK });
  const s15 = join(tmp, 'smollm-15x2');
  convertToRecursive(smolDir, s15, STRICT);
  await check(lib, 'random SmolLM-135M shape, 15 shared layers × 2 loops, looped', s15, exported(s15, join(tmp, 'smollm-15x2.gguf'), { layout: 'looped' }), prompts, { size: true });
  const normed = join(tmp, 'stories-c2-loopnorm');
  convertToRecursive(BUNDLED_MODEL, normed, STRICT);
  const cfgPath = join(normed, 'config.json');
  const cfg = JSON.parse(readFileSync(cfgPath, 'utf8'));
  cfg.recursive.loopNorm = true;
  writeFileSync(cfgPath, JSON.stringify(cfg, null, 2));
  await check(lib, 'stories260K, 2 loops with a norm between loops (skip_loop_final_norm false)', normed, exported(normed, join(tmp, 'stories-c2-loopnorm.gguf'), { layout: 'looped' }), prompts, { size: true });

  // 3. speed: the same 15 × 2 model looped and unrolled in llama.cpp, and in rrt (Q8_0 / q8_0, one thread)
  if (speed) {
    exportGguf(s15, join(tmp, 'looped-q8.gguf'), { layout: 'looped', dtype: 'q8_0' });
    exportGguf(s15, join(tmp, 'unrolled-q8.gguf'), { layout: 'unrolled', dtype: 'q8_0' });
    const looped = await lib.loadModel({ modelPath: join(tmp, 'looped-q8.gguf') });
    const unrolled = await lib.loadModel({ modelPath: join(tmp, 'unrolled-q8.gguf') });
    const rrt = loadModel(s15, { dtype: 'q8_0' }).decoder;
    const prompt = prompts[0];
    const rate = async (gen: () => Promise<unknown> | unknown) => {
      const t = performance.now();
      await gen();
      return nTokens / ((performance.now() - t) / 1000);
    };
    setThreads(1);
    const speeds = { looped: [] as number[], unrolled: [] as number[], rrt: [] as number[] };
    for (let r = 0; r < rounds + 1; r++) {
      const a = await rate(() => llamaGreedy(looped, prompt, nTokens));
      const b = await rate(() => llamaGreedy(unrolled, prompt, nTokens));
      const c = await rate(() => [...generateIds(rrt, prompt, { maxTokens: nTokens, eosIds: [] })]);
      if (r === 0) continue; // warm-up
      speeds.looped.push(a);
      speeds.unrolled.push(b);
      speeds.rrt.push(c);
    }
    const med = (x: number[]) => [...x].sort((p, q) => p - q)[Math.floor(x.length / 2)];
    speedSummary = { llamaCppLooped: med(speeds.looped), llamaCppUnrolled: med(speeds.unrolled), rrt: med(speeds.rrt) };
    console.log(`speed, 15 × 2 SmolLM shape, Q8_0, one thread, ${nTokens} tokens after a ${prompt.length}-token prompt (prefill included), median of ${rounds}:`);
    console.log(`  llama.cpp looped GGUF ${med(speeds.looped).toFixed(1)} tok/s (${(statSync(join(tmp, 'looped-q8.gguf')).size / 1e6).toFixed(1)} MB), unrolled GGUF ${med(speeds.unrolled).toFixed(1)} tok/s (${(statSync(join(tmp, 'unrolled-q8.gguf')).size / 1e6).toFixed(1)} MB): looped/unrolled ${(med(speeds.looped) / med(speeds.unrolled)).toFixed(2)}×`);
    console.log(`  rrt q8_0 on the same model ${med(speeds.rrt).toFixed(1)} tok/s: ${(med(speeds.rrt) / med(speeds.looped)).toFixed(2)}× llama.cpp looped`);
    await looped.dispose();
    await unrolled.dispose();
  }
  await lib.dispose();
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
const failures = rows.filter((r) => !r.ok).length;
const seconds = (performance.now() - t0) / 1000;
console.log(`${rows.length - failures}/${rows.length} checks passed in ${seconds.toFixed(0)} s`);
if (jsonPath) {
  const summary = { llamaCpp: `node-llama-cpp ${LLAMA_CPP_VERSION}`, tokens: nTokens, prompts: 3, probTolerance: PROB_TOLERANCE, attention: 'F32 K/V cache, no flash attention', seconds, checks: rows, speed: speedSummary };
  writeFileSync(jsonPath, `${JSON.stringify(summary, null, 2)}\n`);
}
if (failures > 0) process.exit(1);
