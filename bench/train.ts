// Training speed and memory:
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
import type { ModelConfig } from '../src/models/config.js';
import { trainingLoss } from '../src/train/losses.js';
import { AdamW, clipGradNorm } from '../src/train/optimizer.js';
import { selectParams } from '../src/train/trainer.js';
import { llama, randomModel } from './random-model.js';
import type { Decoder } from '../src/models/decoder.js';

const args = process.argv.slice(2);
const opt = (n: string, d: number) => (args.includes(n) ? Number(args[args.indexOf(n) + 1]) : d);

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
  const peak = native ? native.bench_fma_peak(1.0) : NaN;
  const results = [
    measureTraining('vanilla 12 × d512', randomModel(llama(12, 512, 8, 8, 1536, 8192, false)), B, T, steps),
    measureTraining('recursive 6 × 2 loops', randomModel(llama(12, 512, 8, 8, 1536, 8192, false), 6), B, T, steps),
  ];
  const peakAfter = native ? native.bench_fma_peak(1.0) : NaN;
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
