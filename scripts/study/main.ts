// `npm run study [-- --preset full|smoke --work DIR --docs DIR --valid TEXT --eval-dir DIR]`: a small-scale study of the
// paper's claims. Pretrains a base model on a synthetic corpus sampled from the bundled
// stories260K, uptrains every variant of plan.ts from it with the same token budget, measures
// quality and serving speed, and writes tables and SVG plots to docs/study/. Resumable: every
// finished part is recorded in WORK/results.json and skipped on the next run; an interrupted
// training run resumes from its last checkpoint.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { progressBar } from '../../src/cli/progress.js';
import { perplexity } from '../../src/eval/perplexity.js';
import { tokenizeFile } from '../../src/eval/text.js';
import { BUNDLED_MODEL, loadModel } from '../../src/models/load.js';
import { convertToRecursive } from '../../src/recursive/convert.js';
import { reduceModel } from '../../src/recursive/reduce.js';
import { resolveTokenizer, writeTokenFile } from '../../src/train/data.js';
import { initModel } from '../../src/train/init.js';
import { readMetrics } from '../../src/train/plot.js';
import { resumeTraining, train, type TrainOptions } from '../../src/train/trainer.js';
import { sampleStories } from './corpus.js';
import { measureQuality, measureSpeed, type Quality, type Speed } from './measure.js';
import { PRESETS, variants, type Preset, type Variant } from './plan.js';
import { writeStudyReport } from './report.js';

export interface VariantResult {
  variant: Variant;
  /** held-out perplexity of the initialised (converted, reduced) model before uptraining */
  pplBefore: number;
  after: Quality;
  trainSeconds: number;
  curve: { step: number; loss: number }[];
}

export interface SpeedResult {
  key: string;
  label: string;
  plain: Speed;
  exit: Speed | null;
  ppl: number;
  /** teacher-forced perplexity under the same exit threshold */
  pplExit: number | null;
  params: number;
}

export interface StudyResults {
  preset: Preset;
  /** seconds per part */
  timings: Record<string, number>;
  corpus: { pretrainTokens: number; uptrainTokens: number; documents: number; meanDocTokens: number } | null;
  validSource: string;
  validTokens: number;
  teacherPpl: number | null;
  base: { quality: Quality; curve: { step: number; loss: number }[]; heldOut: { step: number; nll: number }[] } | null;
  variants: Record<string, VariantResult>;
  speed: SpeedResult[] | null;
}

const ROOT = new URL('../../', import.meta.url).pathname;

function parseArgs(argv: string[]) {
  const get = (name: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
  const preset = (get('--preset') ?? 'full') as Preset['name'];
  if (!(preset in PRESETS)) throw new Error(`--preset must be one of ${Object.keys(PRESETS).join(', ')}`);
  return {
    preset, work: resolve(get('--work') ?? join(ROOT, 'study-work', preset)), docs: resolve(get('--docs') ?? join(ROOT, 'docs/study')), quiet: argv.includes('--quiet'),
    valid: resolve(get('--valid') ?? join(ROOT, 'assets/tinystories/valid.txt')), evalDir: resolve(get('--eval-dir') ?? join(ROOT, 'data/eval')),
  };
}

/** Runs (or resumes) the study; returns its results after writing the report. */
export async function runStudy(o: { preset: Preset['name']; work: string; docs: string; quiet?: boolean; valid?: string; evalDir?: string }): Promise<StudyResults> {
  const p = PRESETS[o.preset];
  mkdirSync(o.work, { recursive: true });
  const resultsPath = join(o.work, 'results.json');
  const validFile = o.valid ?? join(ROOT, 'assets/tinystories/valid.txt');
  const dataDir = o.evalDir ?? join(ROOT, 'data/eval');
  const r: StudyResults = existsSync(resultsPath)
    ? JSON.parse(readFileSync(resultsPath, 'utf8'))
    : { preset: p, timings: {}, corpus: null, validSource: '', validTokens: 0, teacherPpl: null, base: null, variants: {}, speed: null };
  // notes document how settings were chosen; everything else must match what made the results
  const settings = (x: Preset) => JSON.stringify({ ...x, notes: undefined });
  if (settings(r.preset) !== settings(p)) throw new Error(`${resultsPath} was made with other settings; remove ${o.work} to start over`);
  r.preset = p;
  const save = () => {
    writeFileSync(`${resultsPath}.tmp`, JSON.stringify(r, null, 1) + '\n');
    renameSync(`${resultsPath}.tmp`, resultsPath);
  };
  const log = (s: string) => o.quiet || console.log(`[${new Date().toISOString().slice(11, 19)}] ${s}`);
  const timed = async <T>(part: string, f: () => T | Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const out = await f();
    r.timings[part] = (r.timings[part] ?? 0) + (performance.now() - t0) / 1000;
    return out;
  };
  const bar = (title: string) => progressBar(title.padEnd(24), { force: !o.quiet && process.stderr.isTTY });
  const tok = resolveTokenizer(BUNDLED_MODEL);

  // 1. the synthetic corpus
  const corpusDir = join(o.work, 'corpus');
  const pretrainData = join(corpusDir, 'pretrain.bin'), uptrainData = join(corpusDir, 'uptrain.bin');
  if (!r.corpus || !existsSync(uptrainData)) {
    log(`sampling ${p.corpus.pretrainTokens + p.corpus.uptrainTokens} tokens of stories from stories260K (temperature ${p.corpus.temperature}, ${p.corpus.rows} rows at a time)`);
    mkdirSync(corpusDir, { recursive: true });
    const b = bar('corpus');
    const docs = await timed('corpus', () => sampleStories({ model: BUNDLED_MODEL, tokens: p.corpus.pretrainTokens + p.corpus.uptrainTokens, ...p.corpus, onProgress: (d, t) => b.update(d, t, 'tokens') }));
    b.stop();
    let n = 0, split = 0;
    while (split < docs.length && n < p.corpus.pretrainTokens) n += docs[split++].length;
    const info = { vocabSize: 512, tokenizerSource: tok, bos: 1, eos: null, sources: [`sampled from ${BUNDLED_MODEL}`], createdBy: 'rrt study (synthetic corpus)' };
    const pre = writeTokenFile(pretrainData, docs.slice(0, split), info);
    const up = writeTokenFile(uptrainData, docs.slice(split), info);
    mkdirSync(o.docs, { recursive: true });
    writeFileSync(join(o.docs, 'corpus-sample.txt'), docs.slice(0, 12).map((d) => tok.tokenizer.decode(d.slice(1))).join('\n\n') + '\n');
    r.corpus = { pretrainTokens: pre.tokens, uptrainTokens: up.tokens, documents: docs.length, meanDocTokens: (pre.tokens + up.tokens) / docs.length };
    save();
  }

  // 2. held-out real text, and the teacher that made the corpus
  const valid = tokenizeFile(validFile, tok.tokenizer, { maxTokens: p.evalTokens });
  r.validSource = relative(ROOT, validFile);
  r.validTokens = valid.length;
  r.teacherPpl ??= perplexity(loadModel(BUNDLED_MODEL).decoder, valid, { window: p.window }).ppl;

  // 3. pretraining the base model
  const trainRun = async (part: string, opts: TrainOptions, title: string) => {
    const b = bar(title);
    const hooks = { onStep: (m: { step: number; loss: number }, total: number) => b.update(m.step, total, `loss ${m.loss.toFixed(3)}`) };
    const res = await timed(part, () => (existsSync(join(opts.out, 'run.json')) && existsSync(join(opts.out, 'checkpoint')) ? resumeTraining(opts.out, hooks) : train({ ...opts, force: true }, hooks)));
    b.stop();
    return res;
  };
  const baseDir = join(o.work, 'pretrain/model');
  if (!r.base || !existsSync(baseDir)) {
    const init = join(o.work, 'base-init');
    if (!existsSync(join(init, 'config.json'))) initModel(p.base, init, { seed: 1, tokenizerFrom: join(ROOT, 'assets/stories260K/tok512.bin'), force: true });
    log(`pretraining the base model: ${p.pretrain.steps} steps × ${p.pretrain.batchSize} × ${p.pretrain.seqLen} tokens`);
    const s = p.pretrain;
    const res = await trainRun('pretrain', { model: init, data: pretrainData, out: join(o.work, 'pretrain'), steps: s.steps, batchSize: s.batchSize, seqLen: s.seqLen, lr: s.lr, warmup: Math.ceil(s.steps / 20), teacher: 'none', evalEvery: Math.max(1, Math.floor(s.steps / 10)), evalWindows: 16, checkpointEvery: Math.max(1, Math.floor(s.steps / 6)), seed: 1 }, 'pretrain');
    const metrics = readMetrics(res.runDir);
    const quality = await timed('evaluate base', () => measureQuality(loadModel(baseDir), valid, p, dataDir, true));
    r.base = { quality, curve: metrics.steps.map((m) => ({ step: m.step, loss: m.loss })), heldOut: metrics.evals.map((e) => ({ step: e.step, nll: e.nll })) };
    save();
    log(`base model: held-out ppl ${quality.ppl.toFixed(3)} (stories260K itself: ${r.teacherPpl.toFixed(3)})`);
  }

  // 4. the variants, each uptrained with the same token budget
  const nLayers = Number(p.base.num_hidden_layers);
  const list = variants(p);
  for (const [i, v] of list.entries()) {
    if (r.variants[v.key]) continue;
    log(`(${i + 1}/${list.length}) ${v.label}`);
    const initDir = join(o.work, 'init', v.key.replace(/-kd$/, ''));
    let start = baseDir;
    if (v.group === 'reduced') {
      start = initDir;
      if (!existsSync(join(initDir, 'config.json'))) reduceModel(baseDir, initDir, nLayers / 2, { force: true });
    } else if (v.group === 'strict' || v.group === 'relaxed') {
      start = initDir;
      if (!existsSync(join(initDir, 'config.json'))) await timed(`convert ${v.key}`, () => convertToRecursive(baseDir, initDir, { nLoops: 2, init: v.init, loraRank: v.rank ?? 0, loraInit: v.loraInit, force: true }));
    } else if (v.group === 'exit') start = join(o.work, 'runs', v.from!, 'model');
    const pplBefore = perplexity(loadModel(start).decoder, valid, { window: p.window }).ppl;
    const isExit = v.group === 'exit';
    const u = p.uptrain;
    const res = await trainRun(`train ${v.key}`, {
      model: start, data: uptrainData, out: join(o.work, 'runs', v.key), steps: isExit ? p.exitTrain.steps : u.steps, batchSize: u.batchSize, seqLen: u.seqLen,
      lr: isExit ? p.exitTrain.lr : u.lr, warmup: Math.ceil((isExit ? p.exitTrain.steps : u.steps) / 20), teacher: v.distill ? baseDir : 'none', distillWeight: 0.5,
      exitLoss: v.exitLoss, evalEvery: 0, checkpointEvery: Math.max(1, Math.floor(u.steps / 2)), seed: 2,
    }, v.key);
    const after = await timed(`evaluate ${v.key}`, () => measureQuality(loadModel(res.modelDir), valid, p, dataDir, true));
    r.variants[v.key] = { variant: v, pplBefore, after, trainSeconds: r.timings[`train ${v.key}`], curve: readMetrics(res.runDir).steps.map((m) => ({ step: m.step, loss: m.loss })) };
    save();
    log(`  ppl ${pplBefore.toFixed(3)} → ${after.ppl.toFixed(3)}${after.pplLoop1 !== null ? ` (loop 1: ${after.pplLoop1.toFixed(3)})` : ''}, mean acc ${after.meanAcc?.toFixed(3) ?? '—'}, ${after.params} unique non-embedding params`);
  }

  // 5. the throughput frontier: tokens/s against perplexity, with and without early exit
  if (!r.speed) {
    const keys = ['full', 'strict-stepwise-kd', ...p.ranks.map((k) => `relaxed-average-r${k}-kd`), 'exit-aggressive'];
    const b = bar('throughput');
    r.speed = [];
    for (const [i, key] of keys.entries()) {
      b.update(i, keys.length, key);
      const vr = r.variants[key];
      const m = loadModel(join(o.work, 'runs', key, 'model'));
      const recursive = !!m.config.recursive;
      const plain = await timed('throughput', () => measureSpeed(m, p, null));
      const exit = recursive ? await timed('throughput', () => measureSpeed(m, p, p.threshold)) : null;
      const pplExit = recursive ? vr.after.exits.find((e) => e.threshold === p.threshold)?.ppl ?? null : null;
      r.speed.push({ key, label: vr.variant.label, plain, exit, ppl: vr.after.ppl, pplExit, params: vr.after.params });
    }
    b.stop();
    save();
  }

  writeStudyReport(r, o.docs, { command: o.preset === 'full' ? 'npm run study' : `npm run study -- --preset ${o.preset}` });
  log(`report written to ${join(o.docs, 'README.md')}; total ${Object.values(r.timings).reduce((a, b) => a + b, 0).toFixed(0)} s of measured work`);
  return r;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const a = parseArgs(process.argv.slice(2));
  runStudy(a).catch((e) => {
    console.error(`study failed: ${e instanceof Error ? e.message : e}`);
    process.exit(1);
  });
}
