// Cache residency: a recursive model reads only its unique weights. A model whose
// shared block fits this machine's 32 MB L3 while its unrolled twin does not — d 512, 16
// layers, FFN 1024, vocab 8192, bf16 — decoded one stream at a time: vanilla (16 distinct
// layers, ~92 MB of weights) against recursive (4 shared layers × 4 loops, ~29 MB with the
// 8 MB head), and 2 shared layers × 8 loops (~19 MB), which still fits when other jobs hold part
// of the L3.
// The two alternate for several rounds so a noisy, shared machine slows both alike; the ratio
// is taken per round and its median reported. With --dtype q8_0|q4_0 every model's matrices are
// quantized (head q8_0); --hidden and --ffn scale the shape (at q4_0 the default shape's unrolled
// model, 27 MB, itself fits the L3: --hidden 1024 --ffn 2816 gives a 113 MB unrolled model whose
// 4 shared layers take 28 MB).
// Usage: npm run bench:residency [-- --tokens N --threads N --rounds N --dtype bf16|q8_0|q4_0 --hidden D --ffn F]
import { generateIds } from '../src/models/generate.js';
import { Decoder } from '../src/models/decoder.js';
import { native, setThreads } from '../src/tensor/kernels.js';
import type { QuantDType } from '../src/tensor/tensor.js';
import { llama, randomModel, toDtype } from './random-model.js';

const args = process.argv.slice(2);
const arg = (name: string, fallback: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback);
const nTokens = arg('--tokens', 128), rounds = arg('--rounds', 5);
setThreads(arg('--threads', 1));

const dtype = (args.includes('--dtype') ? args[args.indexOf('--dtype') + 1] : 'bf16') as 'bf16' | QuantDType;
if (!['bf16', 'q8_0', 'q4_0'].includes(dtype)) throw new RangeError(`--dtype takes bf16, q8_0 or q4_0, got ${dtype}`);
const D = arg('--hidden', 512);
const hf = llama(16, D, D / 64, D / 64, arg('--ffn', 1024), 8192, true);

const cast = (d: Decoder) => toDtype(d, dtype);
const vanilla = cast(randomModel(hf).decoder);
const recursive = cast(randomModel(hf, 4).decoder);
const recursive8 = cast(randomModel(hf, 2).decoder);
const uniqueBytes = (d: Decoder) => [...new Set(d.weights.layers.flatMap((l) => Object.values(l.proj).map((p) => p.w)).concat([d.weights.head]))].reduce((n, t) => n + t.data.byteLength, 0);
const prompt = Array.from({ length: 8 }, (_, i) => (i * 997) % 8192);
const speed = (d: Decoder) => {
  const t0 = performance.now();
  const n = [...generateIds(d, prompt, { maxTokens: nTokens, eosIds: [] })].length;
  return n / ((performance.now() - t0) / 1000);
};
const rows: [string, Decoder][] = [['vanilla (a)', vanilla], ['recursive (f)', recursive], ['recursive B=8', recursive8]];
for (const [, d] of rows) [...generateIds(d, prompt, { maxTokens: 8, eosIds: [] })]; // warm-up
const tokS = rows.map(() => [] as number[]);
for (let r = 0; r < rounds; r++) rows.forEach(([, d], i) => tokS[i].push(speed(d)));
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const mb = rows.map(([, d]) => uniqueBytes(d) / 1e6);
rows.forEach(([name], i) =>
  console.log(`${name.padEnd(15)} ${median(tokS[i]).toFixed(1).padStart(7)} tok/s (${Math.min(...tokS[i]).toFixed(1)}–${Math.max(...tokS[i]).toFixed(1)})  unique weights ${mb[i].toFixed(1)} MB ${dtype}`),
);
for (const i of [1, 2]) {
  const ratios = tokS[i].map((t, r) => t / tokS[0][r]);
  console.log(`${rows[i][0]} / vanilla: ${median(ratios).toFixed(2)}× median of ${rounds} rounds (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}; weight bytes ratio ${(mb[0] / mb[i]).toFixed(2)}×)`);
}

// What the cache allows: the read bandwidth of repeated sweeps over one buffer the size of each
// model's unique weights (the same bytes every token, as a decode step reads them), on the same
// threads. Its ratio is the most residency can give, before any kernel or per-token overhead.
if (native) {
  const probe = native;
  const sweep = mb.map((m) => probe.bench_read_bw(Float32Array.from({ length: Math.round((m * 1e6) / 4 / 64) * 64 }, (_, i) => i % 251), 0.5));
  console.log(`repeated sweeps over that many bytes: ${rows.map(([name], i) => `${name} ${mb[i].toFixed(0)} MB ${sweep[i].toFixed(1)} GB/s`).join(', ')}`);
  for (const i of [1, 2]) console.log(`${rows[i][0]} / vanilla ceiling from the cache alone: ${(sweep[i] / sweep[0]).toFixed(2)}×`);
}
