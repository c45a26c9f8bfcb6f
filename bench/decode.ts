// Single-stream decode speed with bf16 and f32 weights on a model shaped like SmolLM-135M
// (30 layers, d 576, 9/3 heads, FFN 1536, vocab 49152, tied; random weights: speed does not
// depend on them), at 1 and 2 threads, next to the weight bytes each token reads.
// Compare with llama.cpp's figures for the same shape on this machine (shared/MEASUREMENTS.md §5).
// Usage: npm run bench:decode [-- --tokens N] [--json]
import { generateIds } from '../src/models/generate.js';
import { kernels, setThreads } from '../src/tensor/kernels.js';
import { Tensor } from '../src/tensor/tensor.js';
import { Decoder } from '../src/models/decoder.js';
import { llama, randomModel } from './random-model.js';

const args = process.argv.slice(2);
const nTokens = args.includes('--tokens') ? Number(args[args.indexOf('--tokens') + 1]) : 64;
const hf = llama(30, 576, 9, 3, 1536, 49152, true);

function toBf16(d: Decoder): Decoder {
  const conv = new Map<Tensor, Tensor>();
  const bf = (t: Tensor) => {
    if (t.shape.length !== 2) return t;
    if (!conv.has(t)) {
      const u = new Uint16Array(t.size);
      kernels.f32_to_bf16(u, t.f32, t.size);
      conv.set(t, new Tensor(u, t.shape, 'bf16'));
    }
    return conv.get(t)!;
  };
  const w = d.weights;
  const layers = w.layers.map((l) => ({ ...l, proj: Object.fromEntries(Object.entries(l.proj).map(([k, p]) => [k, { ...p, w: bf(p.w) }])) }));
  return new Decoder(d.config, { ...w, embed: bf(w.embed), head: bf(w.head), layers });
}

const f32 = randomModel(hf).decoder;
for (const t of [f32.weights.embed]) t.requiresGrad = false;
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
  console.log("llama.cpp on this machine (shared/MEASUREMENTS.md §5, node-llama-cpp 3.21.1, same shape): f16 57.4 tok/s (1 thread), 40.8–44.4 (2 threads); f32 26.0 / 27.4–28.1");
}
