// `rrt demo`: the whole Relaxed Recursive Transformer story on one small model, end to end —
// convert (2 loops, SVD-initialised LoRA), uptrain with distillation, early-exit post-training,
// perplexity of five models on the same held-out text, a sample with per-token exit loops,
// serving throughput — and a self-contained DIR/report.html. Work files live in DIR/work/; the
// report is written under a temp name and renamed, so a run that fails leaves no report.
// Hooks may throw to abort the run (tests do, to check that nothing half-written is left).
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { InputError } from '../errors.js';
import { perplexity, type PerplexityResult } from '../eval/perplexity.js';
import { splitDocuments, tokenizeDocuments, tokenizeFile } from '../eval/text.js';
import { BatchEngine } from '../infer/engine.js';
import { benchThroughput, type ThroughputReport } from '../infer/throughput.js';
import { BUNDLED_MODEL, loadModel, type LoadedModel } from '../models/load.js';
import { LAYER_NORMS } from '../models/weights.js';
import { convertToRecursive, type ConvertSummary } from '../recursive/convert.js';
import { reduceModel } from '../recursive/reduce.js';
import { noGrad } from '../tensor/autograd.js';
import { prepareTokenFile, resolveTokenizer } from '../train/data.js';
import { readMetrics } from '../train/plot.js';
import { train, type TrainResult } from '../train/trainer.js';
import { renderReport } from './report.js';

/** The shipped TinyStories excerpt (assets/tinystories/README.md). */
export const DEMO_TRAIN_TEXT = new URL('../../assets/tinystories/train.txt', import.meta.url).pathname;
export const DEMO_VALID_TEXT = new URL('../../assets/tinystories/valid.txt', import.meta.url).pathname;

export interface DemoSettings {
  uptrainSteps: number;
  exitSteps: number;
  batchSize: number;
  seqLen: number;
  /** uptraining peak learning rate (cosine, 5 % warmup) */
  lr: number;
  /** early-exit post-training peak learning rate */
  exitLr: number;
  /** held-out tokens scored per model */
  evalTokens: number;
  /** perplexity window */
  window: number;
  sampleTokens: number;
  /** maxProb early-exit threshold for the sample and the throughput run */
  threshold: number;
  /** the serving table: paired rounds (batched systems interleaved, each on its own step clock), medians */
  bench: { requests: number; promptLen: number; genLen: number; concurrency: number; rounds: number; paired: boolean };
}

/** About 3–4 minutes on 2 cores with stories260K. */
export const FULL_SETTINGS: DemoSettings = {
  uptrainSteps: 500, exitSteps: 200, batchSize: 8, seqLen: 128, lr: 2e-3, exitLr: 1e-3, evalTokens: 40000, window: 256,
  sampleTokens: 200, threshold: 0.5, bench: { requests: 16, promptLen: 16, genLen: 64, concurrency: 8, rounds: 3, paired: true },
};

/** Under a minute: the same pipeline, fewer steps and tokens. */
export const QUICK_SETTINGS: DemoSettings = {
  uptrainSteps: 60, exitSteps: 30, batchSize: 8, seqLen: 128, lr: 2e-3, exitLr: 1e-3, evalTokens: 8000, window: 256,
  sampleTokens: 80, threshold: 0.5, bench: { requests: 8, promptLen: 16, genLen: 24, concurrency: 8, rounds: 1, paired: true },
};

/** The relaxation: 2 loops, `average` init, SVD LoRA of rank 8 on every projection (see docs in the report). */
export const DEMO_LOOPS = 2;
export const DEMO_LORA_RANK = 8;

export interface DemoOptions {
  out: string;
  /** any supported checkpoint; default the bundled stories260K */
  model?: string;
  /** training text; its last ~10 % of documents are held out. Default: the shipped TinyStories excerpt */
  data?: string;
  quick?: boolean;
  /** replace report.html and work/ in an existing output folder */
  force?: boolean;
  /** overrides of the (quick or full) settings */
  settings?: Partial<DemoSettings>;
}

export type DemoStage = 'data' | 'convert' | 'uptrain-relaxed' | 'exit-train' | 'uptrain-strict' | 'uptrain-reduced' | 'evaluate' | 'sample' | 'throughput' | 'report';
export const DEMO_STAGES: readonly DemoStage[] = ['data', 'convert', 'uptrain-relaxed', 'exit-train', 'uptrain-strict', 'uptrain-reduced', 'evaluate', 'sample', 'throughput', 'report'];

export interface DemoHooks {
  /** a stage begins (index 0-based of DEMO_STAGES.length); throwing aborts the run */
  onStage?: (stage: DemoStage, index: number, total: number) => void;
  /** progress inside the current stage; throwing aborts the run */
  onProgress?: (done: number, total: number, label: string) => void;
  /** one line of narration (what was chosen and why) */
  onLog?: (line: string) => void;
}

export interface ModelRow {
  key: 'original' | 'converted' | 'relaxed' | 'relaxed-exit' | 'relaxed-loop1' | 'strict' | 'reduced';
  label: string;
  /** unique non-embedding parameters (shared block once, adapters, norms) */
  params: number;
  pplBefore: number | null;
  ppl: number;
  trainSeconds: number | null;
}

export interface SampleToken {
  text: string;
  loops: number;
}

export interface DemoResult {
  out: string;
  reportPath: string;
  model: string;
  settings: DemoSettings;
  nLoops: number;
  selectionNote: string | null;
  selectedLayers: number[];
  relaxedSummary: { loraRank: number; adapters: number; uniqueNonEmbedding: number; ratioToSource: number; meanRelResidual: Record<string, number> };
  evalTokens: number;
  trainTokens: number;
  rows: ModelRow[];
  curves: {
    uptrain: Record<'relaxed' | 'strict' | 'reduced', { step: number; loss: number }[]>;
    exit: { step: number; loss: number; ce: number; exitCe: number | null }[];
  };
  sample: { prompt: string; tokens: SampleToken[]; histogram: number[]; meanLoops: number };
  throughput: ThroughputReport;
  seconds: number;
}

function checkOut(out: string, force: boolean): void {
  if (!existsSync(out)) return;
  if (!statSync(out).isDirectory()) throw new InputError('exists', `${out} exists and is not a folder; choose another --out`);
  if (!force) throw new InputError('exists', `${out} already exists; pass --force to replace its report and work files, or choose another --out`);
}

/** Unique non-embedding parameters of a loaded model: shared tensors counted once. */
export function uniqueNonEmbedding(m: LoadedModel): number {
  const w = m.decoder.weights;
  const tensors = new Set(w.layers.flatMap((l) => [...LAYER_NORMS.flatMap((n) => [l[n]?.w, l[n]?.b]), ...Object.values(l.proj).flatMap((p) => [p?.w, p?.b, p?.lora?.a, p?.lora?.b])]));
  tensors.add(w.finalNorm.w);
  tensors.add(w.finalNorm.b);
  let n = 0;
  for (const t of tensors) n += t?.size ?? 0;
  return n;
}

/** Runs the demo and writes OUT/report.html; see the file header. */
export async function runDemo(opts: DemoOptions, hooks: DemoHooks = {}): Promise<DemoResult> {
  const t0 = performance.now();
  const settings: DemoSettings = { ...(opts.quick ? QUICK_SETTINGS : FULL_SETTINGS), ...opts.settings };
  const out = resolve(opts.out);
  const model = opts.model ?? BUNDLED_MODEL;
  const log = (s: string) => hooks.onLog?.(s);
  if (!existsSync(model)) throw new InputError('not_found', `model not found: ${model} (give an HF model folder, a .gguf file or a llama2.c .bin)`);
  if (opts.data !== undefined && !existsSync(opts.data)) throw new InputError('not_found', `training text not found: ${opts.data}`);
  checkOut(out, opts.force ?? false);
  // the source loads before anything is written: a bad checkpoint fails here
  const source = loadModel(model);
  if (!source.tokenizer) throw new InputError('not_found', `${model} has no tokenizer next to it; the demo tokenizes its training text with the model's tokenizer`);
  if (source.config.recursive) throw new InputError('bad_option', `${model} is already a recursive model; give the demo its source model`);

  const work = join(out, 'work');
  const reportPath = join(out, 'report.html');
  mkdirSync(out, { recursive: true });
  rmSync(work, { recursive: true, force: true });
  rmSync(reportPath, { force: true });
  mkdirSync(work);

  let stageIndex = 0;
  const stage = (s: DemoStage) => hooks.onStage?.(s, stageIndex++, DEMO_STAGES.length);
  const progress = (d: number, t: number, label: string) => hooks.onProgress?.(d, t, label);

  // (0) data: the training text tokenized with the model's own tokenizer, and held-out tokens
  stage('data');
  const tok = resolveTokenizer(model);
  let trainText = DEMO_TRAIN_TEXT, validTokens: Int32Array;
  if (opts.data !== undefined) {
    const docs = splitDocuments(readFileSync(opts.data, 'utf8'));
    if (docs.length < 2) throw new InputError('bad_option', `${opts.data} holds ${docs.length} document(s); the demo holds out the last tenth of the documents and needs at least 2`);
    const nValid = Math.max(1, Math.round(docs.length / 10));
    trainText = join(work, 'train.txt');
    writeFileSync(trainText, docs.slice(0, -nValid).join('\n\n') + '\n');
    validTokens = tokenizeDocuments(docs.slice(-nValid), tok.tokenizer, { maxTokens: settings.evalTokens });
    log(`training text: ${opts.data}: ${docs.length - nValid} documents for training, the last ${nValid} held out`);
  } else {
    validTokens = tokenizeFile(DEMO_VALID_TEXT, tok.tokenizer, { maxTokens: settings.evalTokens });
    log('training text: the shipped TinyStories excerpt (assets/tinystories: train.txt for training, valid.txt held out)');
  }
  const data = join(work, 'train.bin');
  const prep = prepareTokenFile([trainText], data, { tokenizer: tok.tokenizer, tokenizerSource: tok, onProgress: (p) => progress(p.bytesRead, p.totalBytes, `${p.tokens} tokens`) });
  const seqLen = Math.min(settings.seqLen, source.config.maxPositions);
  const window = Math.min(settings.window, source.config.maxPositions);

  // (1) conversion
  stage('convert');
  const relaxedDir = join(work, 'relaxed'), strictDir = join(work, 'strict'), reducedDir = join(work, 'reduced');
  const relaxed: ConvertSummary = convertToRecursive(model, relaxedDir, { nLoops: DEMO_LOOPS, init: 'average', loraRank: DEMO_LORA_RANK, onProgress: (d, t, l) => progress(d, 3 * t, `relaxed: ${l}`) });
  const plan = relaxed.plan;
  log(`sharing: ${plan.sourceLayers} layers → ${plan.nShared} shared layers × ${plan.nLoops} loops (cycle)` + (plan.selectionNote ? `; ${plan.selectionNote}` : ''));
  log(`relaxed: shared block initialised as the average of its source layers, every projection gets LoRA rank ${DEMO_LORA_RANK} from the truncated SVD of W_layer − W_shared (${relaxed.after.adapters} adapter parameters; ${(100 * relaxed.after.ratioToSource).toFixed(0)} % of the original's non-embedding parameters)`);
  convertToRecursive(model, strictDir, { nLoops: DEMO_LOOPS, init: 'stepwise', onProgress: (d, t, l) => progress(t + d, 3 * t, `strict: ${l}`) });
  log('strictly recursive: stepwise init (the best init without adapters in the paper), no LoRA');
  reduceModel(model, reducedDir, plan.nShared);
  progress(1, 1, 'reduced-size');
  log(`reduced-size: the first ${plan.nShared} layers, no looping (the same unique budget as the shared block)`);

  // (2)–(3) uptraining with distillation, then early-exit post-training
  const runTrain = (modelPath: string, name: string, steps: number, extra: { lr: number; exitLoss?: 'aggressive'; seed: number }): TrainResult =>
    train(
      { model: modelPath, data, out: join(work, name), steps, batchSize: settings.batchSize, seqLen, lr: extra.lr, warmup: Math.ceil(steps / 20), teacher: model, distillWeight: 0.5, exitLoss: extra.exitLoss, evalEvery: Math.max(1, Math.ceil(steps / 5)), evalWindows: 4, seed: extra.seed },
      { onStep: (m, total) => progress(m.step, total, `loss ${m.loss.toFixed(3)}`) },
    );
  stage('uptrain-relaxed');
  const upRelaxed = runTrain(relaxedDir, 'uptrain-relaxed', settings.uptrainSteps, { lr: settings.lr, seed: 1 });
  stage('exit-train');
  const exitRun = runTrain(upRelaxed.modelDir, 'exit-train', settings.exitSteps, { lr: settings.exitLr, exitLoss: 'aggressive', seed: 2 });
  stage('uptrain-strict');
  const upStrict = runTrain(strictDir, 'uptrain-strict', settings.uptrainSteps, { lr: settings.lr, seed: 1 });
  stage('uptrain-reduced');
  const upReduced = runTrain(reducedDir, 'uptrain-reduced', settings.uptrainSteps, { lr: settings.lr, seed: 1 });

  // (4) perplexity on the same held-out tokens
  stage('evaluate');
  const evals: [ModelRow['key'], string, string, (m: LoadedModel) => PerplexityResult][] = [];
  const full = (m: LoadedModel) => perplexity(m.decoder, validTokens, { window });
  const loop1 = (m: LoadedModel) => perplexity(m.decoder, validTokens, { window, logits: (ids, B, T) => noGrad(() => m.decoder.forward(ids, B, T, { exitAfterLoop: 1 }).logits.f32) });
  evals.push(['original', `original (${plan.sourceLayers} layers)`, model, full]);
  evals.push(['converted', 'relaxed, converted (before training)', relaxedDir, full]);
  evals.push(['relaxed', 'relaxed, uptrained', upRelaxed.modelDir, full]);
  evals.push(['relaxed-exit', 'relaxed, + early-exit training', exitRun.modelDir, full]);
  evals.push(['relaxed-loop1', 'relaxed, + exit training, loop 1 only', exitRun.modelDir, loop1]);
  evals.push(['strict', 'strictly recursive, uptrained', upStrict.modelDir, full]);
  evals.push(['strict', 'strictly recursive, converted', strictDir, full]);
  evals.push(['reduced', `reduced-size (${plan.nShared} layers), uptrained`, upReduced.modelDir, full]);
  evals.push(['reduced', 'reduced-size, before training', reducedDir, full]);
  const ppl: number[] = [], params: number[] = [];
  evals.forEach(([, label, path, score], i) => {
    progress(i, evals.length, label);
    const m = path === model ? source : loadModel(path);
    ppl.push(score(m).ppl);
    params.push(uniqueNonEmbedding(m));
  });
  progress(evals.length, evals.length, 'done');
  const rows: ModelRow[] = [
    { key: 'original', label: evals[0][1], params: params[0], pplBefore: null, ppl: ppl[0], trainSeconds: null },
    { key: 'converted', label: evals[1][1], params: params[1], pplBefore: null, ppl: ppl[1], trainSeconds: null },
    { key: 'relaxed', label: evals[2][1], params: params[2], pplBefore: ppl[1], ppl: ppl[2], trainSeconds: upRelaxed.seconds },
    { key: 'relaxed-exit', label: evals[3][1], params: params[3], pplBefore: ppl[2], ppl: ppl[3], trainSeconds: exitRun.seconds },
    { key: 'relaxed-loop1', label: evals[4][1], params: params[4], pplBefore: null, ppl: ppl[4], trainSeconds: null },
    { key: 'strict', label: evals[5][1], params: params[5], pplBefore: ppl[6], ppl: ppl[5], trainSeconds: upStrict.seconds },
    { key: 'reduced', label: evals[7][1], params: params[7], pplBefore: ppl[8], ppl: ppl[7], trainSeconds: upReduced.seconds },
  ];

  // (5) a sample with per-token exit loops
  stage('sample');
  // the source's tokenizer: every derived checkpoint shares it (and a converted HF folder may not carry a copy)
  const engine = new BatchEngine(loadModel(exitRun.modelDir).decoder, { tokenizer: source.tokenizer, maxBatch: 1, kvBudgetBytes: 64 * 2 ** 20 });
  const prompt = 'Once upon a time';
  const promptIds = source.tokenizer.encode(prompt, { addSpecialTokens: true });
  const handle = engine.submit(promptIds, { maxTokens: settings.sampleTokens, temperature: 0, earlyExit: { measure: 'maxProb', threshold: settings.threshold } });
  const tokens: SampleToken[] = [];
  for await (const ev of handle.events()) {
    tokens.push({ text: ev.text, loops: ev.loops });
    progress(tokens.length, settings.sampleTokens, `${tokens.length} tokens`);
  }
  const res = await handle.result;
  if (res.finishReason === 'error') throw new Error(`sampling failed: ${res.error}`);
  const sample = { prompt, tokens, histogram: res.exits.histogram, meanLoops: res.exits.meanLoops };

  // (6) serving throughput: depth-wise batching with early exit vs the vanilla (unrolled) model
  stage('throughput');
  progress(0, 1, 'six systems');
  const throughput = await benchThroughput({ model: exitRun.modelDir, ...settings.bench, threshold: settings.threshold, onProgress: progress });

  // (7) the report: temp name, then rename
  stage('report');
  const curve = (r: TrainResult) => readMetrics(r.runDir).steps.map((s) => ({ step: s.step, loss: s.loss }));
  const result: DemoResult = {
    out, reportPath, model, settings: { ...settings, seqLen, window }, nLoops: plan.nLoops, selectionNote: plan.selectionNote, selectedLayers: plan.selectedLayers,
    relaxedSummary: { loraRank: DEMO_LORA_RANK, adapters: relaxed.after.adapters, uniqueNonEmbedding: relaxed.after.uniqueNonEmbedding, ratioToSource: relaxed.after.ratioToSource, meanRelResidual: relaxed.meanRelResidual as Record<string, number> },
    evalTokens: validTokens.length, trainTokens: prep.meta.tokens, rows,
    curves: {
      uptrain: { relaxed: curve(upRelaxed), strict: curve(upStrict), reduced: curve(upReduced) },
      exit: readMetrics(exitRun.runDir).steps.map((s) => ({ step: s.step, loss: s.loss, ce: s.ce, exitCe: s.exitCe })),
    },
    sample, throughput, seconds: (performance.now() - t0) / 1000,
  };
  const tmp = `${reportPath}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, renderReport(result));
    writeFileSync(join(work, 'results.json'), JSON.stringify(result, null, 2) + '\n');
    progress(1, 2, 'written');
    renameSync(tmp, reportPath);
  } finally {
    rmSync(tmp, { force: true });
  }
  progress(2, 2, reportPath);
  return result;
}

/** The stdout summary: one row per model, then the throughput systems. */
export function formatSummary(r: DemoResult): string {
  const num = (v: number | null, d = 2) => (v === null ? '—' : v.toFixed(d));
  const lines = [`held-out perplexity on ${r.evalTokens} tokens (window ${r.settings.window}); uptraining ${r.settings.uptrainSteps} steps × ${r.settings.batchSize} × ${r.settings.seqLen} tokens, early-exit training ${r.settings.exitSteps} steps`, ''];
  lines.push('| model | unique non-emb. params | ppl before | ppl | train time |', '| --- | ---: | ---: | ---: | ---: |');
  for (const m of r.rows) lines.push(`| ${m.label} | ${(m.params / 1000).toFixed(1)} K | ${num(m.pplBefore)} | ${num(m.ppl)} | ${m.trainSeconds === null ? '—' : m.trainSeconds.toFixed(0) + ' s'} |`);
  const t = r.throughput;
  lines.push('', `serving: ${t.requests} requests × (${t.prompt_len} prompt + ${t.gen_len} generated), concurrency ${t.concurrency}, maxProb exit threshold ${r.settings.threshold}${t.rounds > 1 ? `; medians of ${t.rounds} rounds` : ''}${t.paired ? ', batched systems interleaved, each on its own step clock' : ''}`);
  lines.push('| system | tokens/s | × vanilla batched | loops/token | agreement with full depth |', '| --- | ---: | ---: | ---: | ---: |');
  for (const [k, s] of Object.entries(t.systems)) lines.push(`| ${k} | ${s.tokens_per_s.toFixed(0)} | ${s.ratio_to_vanilla_batched.toFixed(2)} | ${s.mean_loops.toFixed(2)} | ${(100 * s.agreement_with_depthwise).toFixed(1)} % |`);
  lines.push('', `sample: ${r.sample.tokens.length} tokens, exits after loop ${r.sample.histogram.map((n, i) => `${i + 1}: ${n}`).join(', ')} (mean ${r.sample.meanLoops.toFixed(2)} loops/token)`);
  return lines.join('\n');
}
