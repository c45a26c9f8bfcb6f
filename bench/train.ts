// Training speed and memory (issue 4):
//  1. tokens/s of a 12-layer, d 512 Llama-style model (8 heads, FFN 1536, vocab 8192) at
//     sequence length 256, and of its strictly recursive form (6 shared layers × 2 loops),
//     as model FLOPs utilisation against the fp32 FMA peak measured in the same run;
//  2. peak memory of training a SmolLM-135M-shaped model (30 layers, d 576, 9/3 heads, FFN 1536,
//     vocab 49152) converted to 2 loops with rank-64 LoRA, with and without activation
//     recomputation (each in its own process, peak RSS).
// Usage: npm run bench:train [-- --json] [--steps N] [--skip-memory]
import { spawnSync } from 'node:child_process';
import { backward } from '../src/tensor/autograd.js';
import { native } from '../src/tensor/kernels.js';
import { Tensor } from '../src/tensor/tensor.js';
import { Decoder } from '../src/models/decoder.js';
import type { ModelConfig } from '../src/models/config.js';
import { configFromHf } from '../src/models/profiles/index.js';
import type { Layer, Weights } from '../src/models/weights.js';
import { trainingLoss } from '../src/train/losses.js';
import { AdamW, clipGradNorm } from '../src/train/optimizer.js';
import { selectParams } from '../src/train/trainer.js';

const args = process.argv.slice(2);
const opt = (n: string, d: number) => (args.includes(n) ? Number(args[args.indexOf(n) + 1]) : d);

function rand(n: number, scale: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    out[i] = ((s / 4294967296) * 2 - 1) * scale;
  }
  return out;
}

/** A random-weight decoder; nShared < nLayers ties layer l to slot l mod nShared (cycle), with optional rank-r adapters. */
export function randomModel(hf: Record<string, unknown>, nShared?: number, rank = 0): { config: ModelConfig; decoder: Decoder } {
  const config = configFromHf(hf);
  const { hidden: D, intermediate: F, nHeads: H, nKvHeads: Hkv, headDim: Dh, vocabSize: V, nLayers: L } = config;
  let seed = 1;
  const mat = (o: number, i: number) => Tensor.param(rand(o * i, 1 / Math.sqrt(i), seed++), [o, i]);
  const ones = (n: number) => Tensor.param(new Float32Array(n).fill(1), [n]);
  const K = nShared ?? L;
  const slots = Array.from({ length: K }, () => ({
    q: mat(H * Dh, D), k: mat(Hkv * Dh, D), v: mat(Hkv * Dh, D), o: mat(D, H * Dh), gate: mat(F, D), up: mat(F, D), down: mat(D, F), n1: ones(D), n2: ones(D),
  }));
  const layers: Layer[] = Array.from({ length: L }, (_, l) => {
    const s = slots[l % K];
    const lin = (w: Tensor) => ({ w, b: null, lora: rank > 0 ? { a: mat(rank, w.shape[1]), b: Tensor.param(new Float32Array(w.shape[0] * rank), [w.shape[0], rank]) } : null });
    return { attnNorm: { w: s.n1, b: null }, mlpNorm: { w: s.n2, b: null }, proj: { q: lin(s.q), k: lin(s.k), v: lin(s.v), o: lin(s.o), gate: lin(s.gate), up: lin(s.up), down: lin(s.down) } };
  });
  const embed = mat(V, D);
  const weights: Weights = { embed, pos: null, layers, finalNorm: { w: ones(D), b: null }, head: config.tiedHead ? embed : mat(V, D) };
  return { config, decoder: new Decoder(config, weights) };
}

const llama = (L: number, D: number, H: number, Hkv: number, F: number, V: number, tied: boolean) => ({
  model_type: 'llama', hidden_size: D, intermediate_size: F, num_hidden_layers: L, num_attention_heads: H, num_key_value_heads: Hkv,
  vocab_size: V, max_position_embeddings: 2048, rms_norm_eps: 1e-5, tie_word_embeddings: tied,
});

/** Model FLOPs per token for training: 6·(matrix parameters executed) + 12·L·T·d for attention (PaLM's count). */
function flopsPerToken(c: ModelConfig, T: number): number {
  const { hidden: D, intermediate: F, nHeads: H, nKvHeads: Hkv, headDim: Dh, vocabSize: V, nLayers: L } = c;
  const perLayer = D * H * Dh * 2 + D * Hkv * Dh * 2 + 3 * D * F;
  return 6 * (L * perLayer + V * D) + 12 * L * T * D;
}

function measureTraining(label: string, m: { config: ModelConfig; decoder: Decoder }, B: number, T: number, steps: number, recompute = false) {
  const loaded = { decoder: m.decoder, config: m.config } as Parameters<typeof selectParams>[0];
  const params = selectParams(loaded, 'all', false);
  const opt = new AdamW(params);
  let seed = 7;
  const batch = () => {
    const ids = new Int32Array(B * T), targets = new Int32Array(B * T);
    for (let i = 0; i < ids.length; i++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      ids[i] = seed % m.config.vocabSize;
      targets[i] = (seed >>> 8) % m.config.vocabSize;
    }
    return { ids, targets };
  };
  const step = () => {
    const { ids, targets } = batch();
    const { loss } = trainingLoss(m.decoder.forward(ids, B, T, { recompute }), targets);
    backward(loss);
    clipGradNorm(params, 1);
    opt.update(1e-4);
    opt.zeroGrad();
  };
  step(); // warm-up
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) step();
  const s = (performance.now() - t0) / 1000;
  const tokensPerS = (steps * B * T) / s;
  const gflops = (tokensPerS * flopsPerToken(m.config, T)) / 1e9;
  return { label, tokensPerS, gflops, uniqueParams: params.reduce((n, p) => n + p.tensor.size, 0) };
}

function memoryChild(recompute: boolean): number {
  const r = spawnSync(process.execPath, ['--import', 'tsx', new URL(import.meta.url).pathname, '--memory-child', recompute ? '1' : '0'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!).maxRssMB;
}

if (args.includes('--memory-child')) {
  const recompute = args[args.indexOf('--memory-child') + 1] === '1';
  const m = randomModel(llama(30, 576, 9, 3, 1536, 49152, true), 15, 64);
  measureTraining('smollm', m, 4, 256, 2, recompute);
  console.log(JSON.stringify({ maxRssMB: process.resourceUsage().maxRSS / 1024 }));
} else {
  const steps = opt('--steps', 5);
  const B = 8, T = 256;
  const peak = native ? (native as unknown as { bench_fma_peak(s: number): number }).bench_fma_peak(1.0) : NaN;
  const results = [
    measureTraining('vanilla 12 × d512', randomModel(llama(12, 512, 8, 8, 1536, 8192, false)), B, T, steps),
    measureTraining('recursive 6 × 2 loops', randomModel(llama(12, 512, 8, 8, 1536, 8192, false), 6), B, T, steps),
  ];
  const peakAfter = native ? (native as unknown as { bench_fma_peak(s: number): number }).bench_fma_peak(1.0) : NaN;
  const fmaPeak = Math.max(peak, peakAfter);
  const memory = args.includes('--skip-memory') ? null : { withoutRecompute: memoryChild(false), withRecompute: memoryChild(true) };
  if (args.includes('--json')) {
    console.log(JSON.stringify({ peak_f32_gflops: fmaPeak, runs: results.map((r) => ({ ...r, mfu: r.gflops / fmaPeak })), smollm_memory_mb: memory }));
  } else {
    console.log(`fp32 FMA peak (probe, same run): ${fmaPeak.toFixed(1)} GFLOP/s; batch ${B} × ${T} tokens, ${steps} timed steps`);
    for (const r of results) console.log(`${r.label.padEnd(24)} ${r.tokensPerS.toFixed(0).padStart(6)} tok/s  ${r.gflops.toFixed(1)} GFLOP/s  MFU ${(100 * r.gflops / fmaPeak).toFixed(1)} %  (${(r.uniqueParams / 1e6).toFixed(1)} M trainable)`);
    if (memory) console.log(`SmolLM-135M shape, 2 loops, rank 64, batch 4 × 256: peak RSS ${(memory.withoutRecompute / 1024).toFixed(2)} GB without recomputation, ${(memory.withRecompute / 1024).toFixed(2)} GB with`);
  }
}
