// Single-stream decode speed with bf16 and f32 weights on a model shaped like SmolLM-135M
// (30 layers, d 576, 9/3 heads, FFN 1536, vocab 49152, tied; random weights: speed does not
// depend on them), at 1 and 2 threads, next to the weight bytes each token reads.
// llama.cpp on the same shape: npm run bench:llamacpp measures it on this machine.
// Usage: npm run bench:decode [-- --tokens N] [--json]
import { generateIds } from '../src/models/generate.js';
import { setThreads } from '../src/tensor/kernels.js';
import { llama, randomModel, toBf16 } from './random-model.js';

const args = process.argv.slice(2);
const nTokens = args.includes('--tokens') ? Number(args[args.indexOf('--tokens') + 1]) : 64;
const hf = llama(30, 576, 9, 3, 1536, 49152, true);

const f32 = randomModel(hf).decoder;
const bf16 = toBf16(f32);
const prompt = Array.from({ length: 16 }, (_, i) => (i * 7919) % 49152);
const results: Record<string, number> = {};
for (const threads of [1, 2]) {
  setThreads(threads);
  for (const [name, dec] of [['bf16', bf16], ['f32', f32]] as const) {
    [...generateIds(dec, prompt, { maxTokens: 4, eosIds: [] })]; // warm-up
    const t0 = performance.now();
    const n = [...generateIds(dec, prompt, { maxTokens: nTokens, eosIds: [] })].length;
    results[`${name}_${threads}t`] = n / ((performance.now() - t0) / 1000);
  }
}
const bytes = { bf16: 134.5e6 * 2, f32: 134.5e6 * 4 };
if (args.includes('--json')) console.log(JSON.stringify(results));
else {
  console.log(`SmolLM-135M shape, greedy decode of ${nTokens} tokens after a 16-token prompt`);
  for (const [k, v] of Object.entries(results)) console.log(`${k.padEnd(8)} ${v.toFixed(1).padStart(7)} tok/s  (${((v * bytes[k.split('_')[0] as 'bf16' | 'f32']) / 1e9).toFixed(1)} GB/s of weights)`);
}
