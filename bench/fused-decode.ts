// Single-stream decode with the fused native layer (decode_layer_f32) against the composed ops it
// replaces (forward with fused: false; the same bits), in alternating rounds in one process: a
// random SmolLM-135M shape (llama) and a Qwen3-0.6B-like shape (per-head q/k norms; 12 of its 28
// layers and a 32768-token vocabulary, tied, to keep the runs short), at bf16 and q8_0, on one
// thread and two; --models olmo2,gemma3,phi3 adds OLMo-2-, Gemma-3- and Phi-3-like shapes (12
// layers each; Phi-3's fused qkv and gate_up go to the fused layer as row ranges).
// Greedy decode of --tokens tokens after a 16-token prompt; an untimed warm-up round first. Reports
// median tok/s of each path and the median of the per-round ratios.
// Usage: npm run bench:fused-decode [-- --tokens N --rounds R --models smollm,qwen3,olmo2,gemma3,phi3 --dtypes bf16,q8_0 --threads 1,2]
import type { Decoder } from '../src/models/decoder.js';
import { KvCache } from '../src/models/kv-cache.js';
import type { WeightDType } from '../src/models/weights.js';
import { noGrad } from '../src/tensor/autograd.js';
import { native, setThreads } from '../src/tensor/kernels.js';
import { median } from '../src/infer/throughput.js';
import { gemma3, llama, olmo2, phi3, qwen3, randomModel, toDtype } from './random-model.js';

const args = process.argv.slice(2);
const opt = (name: string, fallback: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const nTokens = Number(opt('--tokens', '48')), rounds = Number(opt('--rounds', '3'));
const shapes: Record<string, () => Record<string, unknown>> = {
  smollm: () => llama(30, 576, 9, 3, 1536, 49152, true),
  qwen3: () => qwen3(12, 1024, 16, 8, 128, 3072, 32768, true),
  // OLMo-2-1B's 128-wide heads without GQA at half its width and FFN; Gemma-3-1B's layer (1 kv head of 256, window 512)
  olmo2: () => olmo2(12, 1024, 8, 8, 4096, 32768, true),
  gemma3: () => gemma3(12, 1152, 4, 1, 256, 6912, 32768, 512),
  // Phi-3-mini's layer at a third of its width (16 heads of 64, no GQA, FFN 2816), rotating 3/4 of each head as Phi-4-mini does
  phi3: () => phi3(12, 1024, 16, 16, 2816, 32768, 0.75),
};

/** Decode tok/s of one greedy run (the prompt's prefill untimed). */
function decode(d: Decoder, fused: boolean): number {
  const prompt = Int32Array.from({ length: 16 }, (_, i) => (i * 7919) % d.config.vocabSize);
  const cache = new KvCache(d.config, prompt.length + nTokens, d.nLayers);
  let logits = noGrad(() => d.forward(prompt, 1, prompt.length, { caches: [cache], lastOnly: true, fused }).logits.f32);
  const t0 = performance.now();
  for (let n = 0; n < nTokens; n++) {
    const id = logits.reduce((best, v, i) => (v > logits[best] ? i : best), 0);
    logits = noGrad(() => d.forward(Int32Array.of(id), 1, 1, { caches: [cache], fused }).logits.f32);
  }
  return nTokens / ((performance.now() - t0) / 1000);
}

const isa = native?.isa_info();
console.log(`decode of ${nTokens} tokens after a 16-token prompt; medians of ${rounds} alternating rounds; ISA ${isa?.active ?? 'none'} (quant ${isa?.quant ?? '-'})`);
for (const shape of opt('--models', 'smollm,qwen3').split(',')) {
  const f32 = randomModel(shapes[shape]()).decoder;
  for (const dtype of opt('--dtypes', 'bf16,q8_0').split(',') as WeightDType[]) {
    const d = toDtype(f32, dtype);
    if (!d.fusedSpec) console.log(`${shape}: the fused layer does not apply (composed both ways)`);
    for (const threads of opt('--threads', '1,2').split(',').map(Number)) {
      setThreads(threads);
      const on: number[] = [], off: number[] = [];
      for (let r = -1; r < rounds; r++) {
        // alternate which path runs first, so a drift in the machine's load favours neither
        const order = r % 2 === 0 ? [true, false] : [false, true];
        for (const fused of order) {
          const tps = decode(d, fused);
          if (r >= 0) (fused ? on : off).push(tps);
        }
      }
      const ratios = on.map((x, i) => x / off[i]);
      console.log(
        `${shape.padEnd(7)} ${dtype.padEnd(5)} ${threads}t  composed ${median(off).toFixed(1).padStart(6)}  fused ${median(on).toFixed(1).padStart(6)} tok/s  ` +
          `fused/composed ${median(ratios).toFixed(2)}× (rounds ${ratios.map((x) => x.toFixed(2)).join(', ')})`,
      );
    }
  }
}
