// Cache residency (issue 5): a recursive model reads only its unique weights. A model whose
// shared block fits this machine's 32 MB L3 while its unrolled twin does not — d 512, 16
// layers, FFN 1024, vocab 8192, bf16 — decoded one stream at a time: vanilla (16 distinct
// layers, ~68 MB of weights) against recursive (4 shared layers × 4 loops, ~25 MB).
// Usage: npm run bench:residency [-- --tokens N --threads N]
import { generateIds } from '../src/models/generate.js';
import type { Decoder } from '../src/models/decoder.js';
import { setThreads } from '../src/tensor/kernels.js';
import { llama, randomModel, toBf16 } from './random-model.js';

const args = process.argv.slice(2);
const nTokens = args.includes('--tokens') ? Number(args[args.indexOf('--tokens') + 1]) : 128;
setThreads(args.includes('--threads') ? Number(args[args.indexOf('--threads') + 1]) : 1);


const hf = llama(16, 512, 8, 8, 1024, 8192, true);
const vanilla = toBf16(randomModel(hf).decoder);
const recursive = toBf16(randomModel(hf, 4).decoder);
const uniqueBytes = (d: Decoder) => [...new Set(d.weights.layers.flatMap((l) => Object.values(l.proj).map((p) => p.w)).concat([d.weights.head]))].reduce((n, t) => n + t.size * 2, 0);
const prompt = Array.from({ length: 8 }, (_, i) => (i * 997) % 8192);
const speed = (d: Decoder) => {
  [...generateIds(d, prompt, { maxTokens: 8, eosIds: [] })];
  const t0 = performance.now();
  const n = [...generateIds(d, prompt, { maxTokens: nTokens, eosIds: [] })].length;
  return n / ((performance.now() - t0) / 1000);
};
const rows: [string, Decoder][] = [['vanilla (a)', vanilla], ['recursive (f)', recursive]];
const res = rows.map(([name, d]) => ({ name, tokS: speed(d), mb: uniqueBytes(d) / 1e6 }));
for (const r of res) console.log(`${r.name.padEnd(14)} ${r.tokS.toFixed(1).padStart(7)} tok/s  unique weights ${r.mb.toFixed(1)} MB bf16`);
console.log(`recursive / vanilla: ${(res[1].tokS / res[0].tokS).toFixed(2)}× (weight bytes ratio ${(res[0].mb / res[1].mb).toFixed(2)}×)`);
