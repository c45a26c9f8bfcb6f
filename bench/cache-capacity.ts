// How many bytes of weights single-stream decode keeps in cache on this machine: 16-layer bf16
// models (d 512, FFN 1024, vocab 256 so the head is negligible) that cycle through K distinct
// 5 MB layers, K = 1..16, decoded one token at a time; time per layer and the weight bytes it
// streams. Where the rate drops to the K = 16 (80 MB) rate, the working set no longer fits.
// Usage: npm run bench:cache [-- --threads N --tokens N]
import { generateIds } from '../src/models/generate.js';
import { setThreads } from '../src/tensor/kernels.js';
import { llama, randomModel, toBf16 } from './random-model.js';

const args = process.argv.slice(2);
const arg = (name: string, fallback: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback);
setThreads(arg('--threads', 1));
const nTokens = arg('--tokens', 64), L = 16;
const hf = llama(L, 512, 8, 8, 1024, 256, true);
const prompt = [1, 2, 3, 4];
const layerBytes = (d: ReturnType<typeof randomModel>['decoder']) => Object.values(d.weights.layers[0].proj).reduce((n, p) => n + p.w.size * 2, 0);
const models = [1, 2, 3, 4, 8, 16].map((K) => ({ K, d: toBf16(randomModel(hf, K === L ? undefined : K).decoder) }));
const best = new Map<number, number>();
for (let round = 0; round < 3; round++)
  for (const { K, d } of models) {
    [...generateIds(d, prompt, { maxTokens: 4, eosIds: [] })];
    const t0 = performance.now();
    const n = [...generateIds(d, prompt, { maxTokens: nTokens, eosIds: [] })].length;
    const perLayer = (performance.now() - t0) / n / L;
    best.set(K, Math.min(best.get(K) ?? Infinity, perLayer));
  }
const bytes = layerBytes(models[0].d);
console.log(`bf16 layers of ${(bytes / 1e6).toFixed(1)} MB, ${L} per token; best of 3 rounds`);
for (const { K } of models)
  console.log(`${String(K).padStart(2)} distinct layers (${((K * bytes) / 1e6).toFixed(0).padStart(3)} MB): ${(1000 * best.get(K)!).toFixed(0).padStart(4)} µs per layer, ${(bytes / (best.get(K)! * 1e6)).toFixed(1).padStart(5)} GB/s`);
