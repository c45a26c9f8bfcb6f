// The serving engine's fused layer (batch_layer_f32) against the composed kernels it replaces,
// same process, alternating rounds: vanilla continuous batching (b), depth-wise batching (c) and
// forced exits for half the tokens (d), each with `fusedLayers` on and off. Both give the same
// bits (test/infer/batch-layer.test.ts), so only the speed differs. The random SmolLM-135M
// shape and the prompts of bench:throughput, 16-token prompts, greedy, an untimed warm-up round.
// --shape qwen3: vanilla batching (b) only, on bench:fused-decode's random Qwen3-0.6B-like shape.
// Usage: npm run bench:fused-layer [-- --requests N --gen-len G --concurrency C --rounds R --dtype f32|bf16|q8_0|q4_0 --lora-rank R --threads N --shape smollm|qwen3]
import { BatchEngine } from '../src/infer/engine.js';
import { benchPrompts, forcedExits, median, models, timeRequests } from '../src/infer/throughput.js';
import type { WeightDType } from '../src/models/weights.js';
import { setThreads } from '../src/tensor/kernels.js';
import { qwen3, randomModel, toDtype } from './random-model.js';

const args = process.argv.slice(2);
const arg = (name: string, fallback: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback);
const N = arg('--requests', 64), G = arg('--gen-len', 128), C = arg('--concurrency', 32), rounds = arg('--rounds', 3), rank = arg('--lora-rank', 0);
const dtype = args.includes('--dtype') ? (args[args.indexOf('--dtype') + 1] as WeightDType) : 'bf16';
const shape = args.includes('--shape') ? args[args.indexOf('--shape') + 1] : 'smollm';
setThreads(arg('--threads', 2));

const { recursive, vanilla, label } =
  shape === 'qwen3'
    ? { recursive: null, vanilla: toDtype(randomModel(qwen3(12, 1024, 16, 8, 128, 3072, 32768, true)).decoder, dtype), label: `random Qwen3-0.6B-like shape, 12 layers, vocab 32768 (${dtype})` }
    : models(undefined, rank, dtype);
const prompts = benchPrompts(N, 16, vanilla.config.vocabSize);
const greedy = { maxTokens: G, eosIds: [], temperature: 0 };
const systems = recursive ? (['vanilla_batched', 'depthwise', 'depthwise_exit'] as const) : (['vanilla_batched'] as const);
const runs: Record<string, number[]> = {};
for (let round = -1; round < rounds; round++)
  for (const system of systems)
    for (const fused of [false, true]) {
      const engine = new BatchEngine(system === 'vanilla_batched' ? vanilla : recursive!, {
        maxBatch: C,
        fusedLayers: fused,
        forcedExit: system === 'depthwise_exit' ? forcedExits(0.5) : undefined,
      });
      const warm = round < 0;
      const r = await timeRequests(engine, warm ? prompts.slice(0, C) : prompts, greedy, warm ? prompts.slice(0, C).map(() => 8) : undefined);
      if (!warm) (runs[`${system} ${fused ? 'fused' : 'composed'}`] ??= []).push(r.tokens_per_s);
    }
console.log(`${label}${rank > 0 ? `, rank-${rank} LoRA per loop` : ''}; ${N} requests × (16 prompt + ${G} generated), concurrency ${C}, ${arg('--threads', 2)} threads; medians of ${rounds} alternating rounds (tok/s)`);
for (const system of systems) {
  const off = runs[`${system} composed`], on = runs[`${system} fused`];
  const ratios = on.map((x, i) => x / off[i]);
  console.log(`${system.padEnd(16)} composed ${median(off).toFixed(1).padStart(7)}  fused ${median(on).toFixed(1).padStart(7)}  fused/composed ${median(ratios).toFixed(2)}× (rounds ${ratios.map((x) => x.toFixed(2)).join(', ')})`);
}
