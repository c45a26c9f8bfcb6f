// Held-out perplexity by weight dtype (f32, bf16, q8_0, q4_0) of stories260K and of its relaxed
// recursive conversion after uptraining with distillation, and, when the study has been run
// (`npm run study`), of the study's pretrained base model and its relaxed variants. Text:
// assets/tinystories (train.txt to uptrain, valid.txt held out); the study's models are scored
// on the study's own held-out text. Quantized dtypes quantize at load (embedding and head q8_0).
// Usage: node --import tsx scripts/quant-quality.ts [--steps N] [--study DIR] [--max-tokens N]
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { perplexity } from '../src/eval/perplexity.js';
import { tokenizeFile } from '../src/eval/text.js';
import { BUNDLED_MODEL, loadModel } from '../src/models/load.js';
import type { WeightDType } from '../src/models/weights.js';
import { convertToRecursive } from '../src/recursive/convert.js';
import { prepareTokenFile, resolveTokenizer } from '../src/train/data.js';
import { train } from '../src/train/trainer.js';

const ROOT = new URL('../', import.meta.url).pathname;
const args = process.argv.slice(2);
const opt = (n: string) => (args.includes(n) ? args[args.indexOf(n) + 1] : undefined);
const steps = Number(opt('--steps') ?? 300);
const maxTokens = Number(opt('--max-tokens') ?? 100000);
const studyDir = opt('--study') ?? join(ROOT, 'study-work/full');
const DTYPES: WeightDType[] = ['f32', 'bf16', 'q8_0', 'q4_0'];
/** the columns: each dtype with the default head (q8_0 when quantized), and q4_0 with a q4_0 head */
const COLUMNS: { label: string; dtype: WeightDType; head?: WeightDType }[] = [...DTYPES.map((d) => ({ label: d, dtype: d })), { label: 'q4_0, head q4_0', dtype: 'q4_0', head: 'q4_0' }];
const log = (s: string) => process.stderr.write(`${s}\n`);

const dir = mkdtempSync(join(tmpdir(), 'rrt-quant-quality-'));
const tokenizer = loadModel(BUNDLED_MODEL).tokenizer!;
const valid = tokenizeFile(join(ROOT, 'assets/tinystories/valid.txt'), tokenizer, { maxTokens });

const rows: { label: string; path: string; tokens: Int32Array }[] = [{ label: 'stories260K (vanilla, 5 layers)', path: BUNDLED_MODEL, tokens: valid }];
log(`uptraining a relaxed conversion of stories260K: ${steps} steps`);
const data = join(dir, 'train.bin');
prepareTokenFile([join(ROOT, 'assets/tinystories/train.txt')], data, { tokenizer: resolveTokenizer(BUNDLED_MODEL).tokenizer });
const relaxed = join(dir, 'relaxed');
convertToRecursive(BUNDLED_MODEL, relaxed, { nLoops: 2, init: 'average', loraRank: 8 });
const run = train({ model: relaxed, data, out: join(dir, 'run'), steps, batchSize: 8, seqLen: 128, lr: 2e-3, warmup: Math.ceil(steps / 20), teacher: BUNDLED_MODEL, distillWeight: 0.5, seed: 1 });
rows.push({ label: `stories260K relaxed recursive (cycle ×2, SVD rank 8), uptrained ${steps} steps`, path: run.modelDir, tokens: valid });

// the study's models, scored on its held-out text (the file its report names)
if (existsSync(join(studyDir, 'pretrain/model/config.json'))) {
  // the study names its held-out file relative to the repository (or the folder beside it)
  const results = JSON.parse(readFileSync(join(studyDir, 'results.json'), 'utf8')) as { validSource?: string };
  const named = results.validSource ? [join(ROOT, results.validSource), join(ROOT, '..', results.validSource)].find((f) => existsSync(f)) : undefined;
  const studyValid = tokenizeFile(named ?? join(ROOT, 'assets/tinystories/valid.txt'), tokenizer, { maxTokens });
  const base = join(studyDir, 'pretrain/model');
  rows.push({ label: 'study base model (8 layers, d 128, pretrained by rrt)', path: base, tokens: studyValid });
  const runs = existsSync(join(studyDir, 'runs')) ? readdirSync(join(studyDir, 'runs')) : [];
  const relaxedRuns = runs.filter((n) => /^relaxed-average-r\d+-kd$/.test(n) && existsSync(join(studyDir, 'runs', n, 'model', 'config.json'))).sort();
  for (const v of relaxedRuns) rows.push({ label: `study ${v} (2 loops), uptrained`, path: join(studyDir, 'runs', v, 'model'), tokens: studyValid });
  if (relaxedRuns.length === 0) {
    // the study's relaxed rank-32 variant, uptrained as the study does (96 steps × 16 × 256 of its corpus, distilled)
    log('uptraining the study base model\'s relaxed conversion (cycle ×2, average, SVD rank 32): 96 steps');
    const conv = join(dir, 'study-relaxed');
    convertToRecursive(base, conv, { nLoops: 2, init: 'average', loraRank: 32 });
    const r = train({ model: conv, data: join(studyDir, 'corpus/uptrain.bin'), out: join(dir, 'study-run'), steps: 96, batchSize: 16, seqLen: 256, lr: 5e-4, warmup: 5, teacher: base, distillWeight: 0.5, seed: 2 });
    rows.push({ label: 'study base, relaxed recursive (cycle ×2, average, SVD rank 32), uptrained 96 steps', path: r.modelDir, tokens: studyValid });
  }
} else log(`no study models under ${studyDir} (run \`npm run study\` first to include them)`);

console.log(`held-out perplexity by weight dtype (window 256; quantized: embedding and head q8_0 unless said, adapters and norms f32)\n`);
console.log(`| model | ${COLUMNS.map((c) => c.label).join(' | ')} | q8_0 / bf16 | q4_0 / bf16 |`);
console.log(`| --- | ${COLUMNS.map(() => '---:').join(' | ')} | ---: | ---: |`);
for (const r of rows) {
  const ppl = COLUMNS.map((c) => perplexity(loadModel(r.path, { dtype: c.dtype, headDtype: c.head }).decoder, r.tokens, { window: 256 }).ppl);
  const rel = (i: number) => `${ppl[i] / ppl[1] >= 1 ? '+' : ''}${((ppl[i] / ppl[1] - 1) * 100).toFixed(2)} %`;
  console.log(`| ${r.label} | ${ppl.map((p) => p.toFixed(3)).join(' | ')} | ${rel(2)} | ${rel(3)} |`);
}
