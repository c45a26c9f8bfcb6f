// The uptraining experiment on the bundled stories260K: convert (cycle, 2 loops after layer
// selection) with and without LoRA, build the reduced-size baseline (the first K = 2 layers,
// no looping), uptrain each with distillation from the original on the bundled TinyStories
// excerpt (assets/tinystories/train.txt), and report held-out perplexity on valid.txt before and after.
// Usage: node --import tsx scripts/uptrain-table.ts [--steps N] [--max-tokens N]
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { perplexity } from '../src/eval/perplexity.js';
import { tokenizeFile } from '../src/eval/text.js';
import { BUNDLED_MODEL, loadModel } from '../src/models/load.js';
import { convertToRecursive } from '../src/recursive/convert.js';
import { reduceModel } from '../src/recursive/reduce.js';
import { prepareTokenFile, resolveTokenizer } from '../src/train/data.js';
import { train } from '../src/train/trainer.js';

const args = process.argv.slice(2);
const opt = (n: string, d: number) => (args.includes(n) ? Number(args[args.indexOf(n) + 1]) : d);
const steps = opt('--steps', 300);
const maxTokens = opt('--max-tokens', 100000);
const text = new URL('../assets/tinystories/', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'rrt-uptrain-'));
const data = join(dir, 'train.bin');
prepareTokenFile([join(text, 'train.txt')], data, { tokenizer: resolveTokenizer(BUNDLED_MODEL).tokenizer });
const valid = tokenizeFile(join(text, 'valid.txt'), loadModel(BUNDLED_MODEL).tokenizer!, { maxTokens });
const ppl = (path: string) => perplexity(loadModel(path).decoder, valid, { window: 256 });

const models: [string, string][] = [];
const strict = join(dir, 'recursive');
convertToRecursive(BUNDLED_MODEL, strict, { nLoops: 2, init: 'stepwise' });
models.push(['recursive (cycle ×2, stepwise)', strict]);
const relaxed = join(dir, 'relaxed');
convertToRecursive(BUNDLED_MODEL, relaxed, { nLoops: 2, init: 'average', loraRank: 8 });
models.push(['relaxed (cycle ×2, average, SVD rank 8)', relaxed]);
const reduced = join(dir, 'reduced');
reduceModel(BUNDLED_MODEL, reduced, 2);
models.push(['reduced-size (first 2 layers)', reduced]);
models.push(['full-size (5 layers)', BUNDLED_MODEL]);

console.log(`uptraining: ${steps} steps × 8 × 128 tokens of train.txt, distillation from the original (weight 0.5), lr 2e-3 cosine; eval: ${valid.length} tokens of valid.txt, window 256\n`);
console.log('| model | unique non-emb. params | ppl before | ppl after uptraining | train time |');
console.log('| --- | --- | --- | --- | --- |');
for (const [label, path] of models) {
  const before = ppl(path);
  const out = join(dir, `run-${label.replace(/\W+/g, '-')}`);
  const r = train({ model: path, data, out, steps, batchSize: 8, seqLen: 128, lr: 2e-3, warmup: Math.ceil(steps / 20), teacher: BUNDLED_MODEL, distillWeight: 0.5, seed: 1 });
  const after = ppl(r.modelDir);
  const m = loadModel(path);
  const nonEmb = [...new Set(m.decoder.weights.layers.flatMap((l) => [l.attnNorm.w, l.mlpNorm.w, ...Object.values(l.proj).flatMap((p) => [p.w, p.lora?.a, p.lora?.b])]))]
    .reduce((n, t) => n + (t?.size ?? 0), 0) + m.decoder.weights.finalNorm.w.size;
  console.log(`| ${label} | ${(nonEmb / 1000).toFixed(1)} K | ${before.ppl.toFixed(2)} | ${after.ppl.toFixed(2)} | ${r.seconds.toFixed(0)} s |`);
}
