// Uptraining (RRT §2): AdamW on all parameters (or only adapters, or only the shared block),
// distillation from the source model, early-exit losses, gradient accumulation and clipping,
// periodic evaluation on held-out windows, and checkpoints that resume to the same bits.
// Run directory: run.json (options), metrics.jsonl, checkpoint/ (+ .prev), model/ (final), loss.svg.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { InputError, RrtError } from '../errors.js';
import type { Decoder } from '../models/decoder.js';
import { loadModel, type LoadedModel } from '../models/load.js';
import { saveModel } from '../models/save.js';
import { namedTensors } from '../models/weights.js';
import { backward, noGrad } from '../tensor/autograd.js';
import * as ops from '../tensor/ops/index.js';
import { checkVocab, openTokenFile, WindowSampler } from './data.js';
import { findCheckpoint, loadOptimizerState, saveCheckpoint } from './checkpoint.js';
import { type ExitLoss, trainingLoss } from './losses.js';
import { AdamW, clipGradNorm, type NamedParam } from './optimizer.js';
import { writeRunPlot } from './plot.js';
import { learningRate, type ScheduleKind, validateSchedule } from './schedule.js';

export type Trainable = 'all' | 'adapters' | 'shared';

export interface TrainOptions {
  /** model to train: a path (HF dir, recursive dir, .gguf, llama2.c .bin) */
  model: string;
  /** packed token file from `rrt data prepare` */
  data: string;
  /** run directory */
  out: string;
  steps: number;
  /** sequences per micro-batch. @default 8 */
  batchSize?: number;
  /** tokens per sequence. @default 128 */
  seqLen?: number;
  /** micro-batches per optimizer step. @default 1 */
  gradAccum?: number;
  /** @default 3e-4 */
  lr?: number;
  /** @default 10 % of steps */
  warmup?: number;
  /** @default 'cosine' */
  schedule?: ScheduleKind;
  /** @default 0.1 */
  minLrRatio?: number;
  /** @default 0.1 */
  weightDecay?: number;
  /** max global gradient norm (0: off). @default 1 */
  clip?: number;
  /** @default 'all' */
  train?: Trainable;
  freezeEmbeddings?: boolean;
  /** teacher path; default: the source a recursive model was converted from; 'none' turns distillation off */
  teacher?: string;
  /** @default 0.5 */
  distillWeight?: number;
  /** @default 1 */
  temperature?: number;
  /** @default 'none' */
  exitLoss?: ExitLoss;
  /** @default 0.1 */
  exitWeight?: number;
  /** evaluate on held-out windows every N steps (0: only at the end). @default 0 */
  evalEvery?: number;
  /** held-out windows per evaluation. @default 16 */
  evalWindows?: number;
  /** checkpoint every N steps (0: only at the end). @default 0 */
  checkpointEvery?: number;
  /** @default 0 */
  seed?: number;
  /** recompute activations in the backward pass (less memory, ~1.3× the compute) */
  recompute?: boolean;
  /** tokenizer of a llama2.c model */
  tokenizer?: string;
  force?: boolean;
}

export interface StepMetrics {
  step: number;
  loss: number;
  ce: number;
  kd: number | null;
  exitCe: number | null;
  lr: number;
  gradNorm: number;
  tokens: number;
  tokensPerS: number;
  seconds: number;
}

export interface EvalMetrics {
  step: number;
  nll: number;
  ppl: number;
  tokens: number;
}

export interface TrainHooks {
  onStep?: (m: StepMetrics, totalSteps: number) => void;
  onEval?: (m: EvalMetrics) => void;
  onLog?: (line: string) => void;
}

export interface TrainResult {
  runDir: string;
  modelDir: string;
  steps: number;
  losses: number[];
  evals: EvalMetrics[];
  trainable: number;
  seconds: number;
}

const defaults = (o: TrainOptions) => ({
  batchSize: 8, seqLen: 128, gradAccum: 1, lr: 3e-4, warmup: Math.floor(o.steps * 0.1), schedule: 'cosine' as ScheduleKind,
  minLrRatio: 0.1, weightDecay: 0.1, clip: 1, train: 'all' as Trainable, freezeEmbeddings: false, distillWeight: 0.5, temperature: 1,
  exitLoss: 'none' as ExitLoss, exitWeight: 0.1, evalEvery: 0, evalWindows: 16, checkpointEvery: 0, seed: 0, recompute: false,
  ...(Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as TrainOptions),
});
type Resolved = ReturnType<typeof defaults>;

function positiveInt(name: string, v: number, min = 1): void {
  if (!Number.isInteger(v) || v < min) throw new InputError('bad_option', `${name} must be an integer ≥ ${min}, got ${v}`);
}

function validate(o: Resolved, model: LoadedModel): void {
  positiveInt('steps', o.steps);
  positiveInt('batch size', o.batchSize);
  positiveInt('sequence length', o.seqLen, 2);
  positiveInt('gradient accumulation', o.gradAccum);
  positiveInt('eval windows', o.evalWindows);
  positiveInt('eval every', o.evalEvery, 0);
  positiveInt('checkpoint every', o.checkpointEvery, 0);
  validateSchedule({ lr: o.lr, steps: o.steps, warmup: o.warmup, kind: o.schedule });
  if (o.seqLen > model.config.maxPositions)
    throw new InputError('context_overflow', `sequence length ${o.seqLen} exceeds the model's context of ${model.config.maxPositions}`);
  if (!['all', 'adapters', 'shared'].includes(o.train)) throw new InputError('bad_option', `--train must be all, adapters or shared, got ${o.train}`);
  if (o.exitLoss !== 'none') model.decoder.loopEnds();
  if (o.exitLoss !== 'none' && !model.config.recursive) throw new InputError('bad_option', 'early-exit losses need a recursive model (convert it first)');
}

/** Parameters to train, named stably (shared tensors once), with weight decay on matrices but not on embeddings. */
export function selectParams(model: LoadedModel, mode: Trainable, freezeEmbeddings: boolean): NamedParam[] {
  const out: NamedParam[] = [];
  for (const [tensor, name] of namedTensors(model.decoder.weights)) {
    const isEmbedding = name === 'embed' || name === 'pos' || name === 'head';
    const isLora = name.includes('.lora.');
    let train = mode === 'all' ? true : mode === 'adapters' ? isLora : name.startsWith('layers.') && !isLora;
    if (isEmbedding && freezeEmbeddings) train = false;
    tensor.requiresGrad = train;
    if (!train) continue;
    if (tensor.dtype !== 'f32') throw new InputError('bad_option', `${name} is ${tensor.dtype}; training needs f32 weights (load without --dtype bf16)`);
    out.push({ name, tensor, decay: tensor.shape.length === 2 && !isEmbedding });
  }
  if (out.length === 0) throw new InputError('bad_option', `nothing to train: --train ${mode} selects no parameters of this model${mode === 'adapters' ? ' (it has no LoRA adapters)' : ''}`);
  return out;
}

function heldOutLoss(decoder: Decoder, sampler: WindowSampler, windows: number, seqLen: number, step: number): EvalMetrics {
  let total = 0, n = 0;
  for (const w of sampler.heldOutWindows(seqLen, seqLen)) {
    if (n >= windows) break;
    const logits = noGrad(() => decoder.forward(w.inputs, 1, seqLen).logits);
    const ce = noGrad(() => ops.crossEntropy(ops.reshape(logits, [seqLen, decoder.config.vocabSize]), w.targets));
    total += ce.f32[0];
    n++;
  }
  const nll = total / n;
  return { step, nll, ppl: Math.exp(nll), tokens: n * seqLen };
}

/** --teacher, else the model a recursive checkpoint was converted from; a missing one stops the run rather than dropping distillation. */
function defaultTeacher(model: LoadedModel, o: Resolved): string | null {
  if (o.teacher === 'none') return null;
  if (o.teacher) return o.teacher;
  const src = model.config.recursive?.source.model;
  if (!src) return null;
  if (!existsSync(src))
    throw new InputError('not_found', `the default teacher ${src} (the model ${model.path} was converted from) is not found: pass --teacher MODEL|none (none trains without distillation)`);
  return src;
}

/**
 * Trains a model and writes the run directory.
 * @example
 * train({ model: 'out/stories-rrt', data: 'data/tinystories.bin', out: 'runs/a', steps: 200 });
 */
export function train(options: TrainOptions, hooks: TrainHooks = {}, resume = false): TrainResult {
  const t0 = performance.now();
  const o = defaults(options);
  const runDir = resolve(o.out);
  const found = resume ? findCheckpoint(runDir) : null;
  if (resume && !found) throw new InputError('not_found', `nothing to resume in ${runDir}: no checkpoint`);
  for (const s of found?.skipped ?? []) hooks.onLog?.(`warning: ${s}; using the previous checkpoint`);
  if (!resume) {
    if (existsSync(runDir) && !o.force) throw new InputError('exists', `${runDir} already exists; pass --force to replace it or --resume to continue it`);
    rmSync(runDir, { recursive: true, force: true });
    mkdirSync(runDir, { recursive: true });
    writeFileSync(join(runDir, 'run.json'), JSON.stringify(options, null, 2) + '\n');
  }

  // the model: from the checkpoint when resuming
  const model = loadModel(found ? found.dir : o.model, { tokenizer: o.tokenizer });
  validate(o, model);
  const data = openTokenFile(o.data);
  try {
    if (data.meta.tokens < o.seqLen + 2) throw new InputError('bad_option', `${o.data} holds ${data.meta.tokens} tokens, too few for sequences of ${o.seqLen}`);
    checkVocab(data, model.config.vocabSize);
    const modelVocab = model.tokenizer?.vocabSize;
    if (modelVocab !== undefined && data.meta.vocabSize !== modelVocab)
      throw new InputError('bad_option', `${o.data} was tokenized with a ${data.meta.vocabSize}-token vocabulary; the model's tokenizer has ${modelVocab}: prepare the data with this model's tokenizer`);
    const sampler = new WindowSampler(data.tokens, { seqLen: o.seqLen, seed: o.seed });
    const teacherPath = defaultTeacher(model, o);
    const teacher = teacherPath ? loadModel(teacherPath, { tokenizer: o.tokenizer }) : null;
    if (teacher && teacher.config.vocabSize !== model.config.vocabSize)
      throw new InputError('bad_option', `the teacher ${teacherPath} has a ${teacher.config.vocabSize}-token vocabulary, the student ${model.config.vocabSize}: distillation needs the same vocabulary`);
    if (teacher && teacher.config.maxPositions < o.seqLen) throw new InputError('context_overflow', `sequence length ${o.seqLen} exceeds the teacher's context of ${teacher.config.maxPositions}`);
    const params = selectParams(model, o.train, o.freezeEmbeddings);
    const opt = new AdamW(params, { weightDecay: o.weightDecay });
    let step = 0, tokens = 0, seconds = 0;
    if (found) {
      sampler.restore(found.state.sampler);
      loadOptimizerState(found.dir, opt, found.state.optimizerStep);
      ({ step, tokens, seconds } = found.state);
      truncateMetrics(runDir, step);
      hooks.onLog?.(`resuming from ${found.dir} at step ${step}`);
    }
    if (teacherPath && !found) hooks.onLog?.(`distilling from ${teacherPath}`);

    const sched = { lr: o.lr, steps: o.steps, warmup: o.warmup, kind: o.schedule, minLrRatio: o.minLrRatio };
    const metricsPath = join(runDir, 'metrics.jsonl');
    const losses: number[] = [];
    const evals: EvalMetrics[] = [];
    const tokenizerFrom = model.tokenizerPath ?? undefined;
    let lastSaved = found ? step : -1;
    const B = o.batchSize, T = o.seqLen;
    const runStart = performance.now() - seconds * 1000;
    while (step < o.steps) {
      const stepStart = performance.now();
      const lr = learningRate(step, sched);
      let loss = 0, ce = 0, kd = 0, exitCe = 0;
      for (let micro = 0; micro < o.gradAccum; micro++) {
        const batch = sampler.next(B);
        const out = model.decoder.forward(batch.inputs, B, T, { allExits: o.exitLoss !== 'none', recompute: o.recompute });
        const teacherLogits = teacher ? noGrad(() => teacher.decoder.forward(batch.inputs, B, T).logits.f32) : null;
        const parts = trainingLoss(out, batch.targets, { teacherLogits, distillWeight: o.distillWeight, temperature: o.temperature, exitLoss: o.exitLoss, exitWeight: o.exitWeight });
        const value = parts.loss.f32[0];
        if (!Number.isFinite(value)) throw nonFinite(value, step + 1, lastSaved, runDir);
        backward(o.gradAccum > 1 ? ops.scale(parts.loss, 1 / o.gradAccum) : parts.loss);
        loss += value / o.gradAccum;
        ce += parts.ce / o.gradAccum;
        kd += (parts.kd ?? 0) / o.gradAccum;
        exitCe += (parts.exitCe ?? 0) / o.gradAccum;
      }
      const norm = clipGradNorm(params, o.clip);
      if (!Number.isFinite(norm)) throw nonFinite(norm, step + 1, lastSaved, runDir, 'gradient norm');
      opt.update(lr);
      opt.zeroGrad();
      step++;
      tokens += B * T * o.gradAccum;
      const now = performance.now();
      const m: StepMetrics = {
        step, loss, ce, kd: teacher ? kd : null, exitCe: o.exitLoss !== 'none' ? exitCe : null, lr, gradNorm: norm, tokens,
        tokensPerS: (B * T * o.gradAccum) / ((now - stepStart) / 1000), seconds: (now - runStart) / 1000,
      };
      losses.push(loss);
      appendFileSync(metricsPath, JSON.stringify(m) + '\n');
      hooks.onStep?.(m, o.steps);
      if ((o.evalEvery > 0 && step % o.evalEvery === 0) || step === o.steps) {
        const e = heldOutLoss(model.decoder, sampler, o.evalWindows, T, step);
        evals.push(e);
        appendFileSync(metricsPath, JSON.stringify({ step, eval: e }) + '\n');
        hooks.onEval?.(e);
      }
      if ((o.checkpointEvery > 0 && step % o.checkpointEvery === 0) || step === o.steps) {
        saveCheckpoint(runDir, model.config, model.decoder.weights, opt, { step, tokens, sampler: sampler.state(), seconds: m.seconds }, tokenizerFrom);
        lastSaved = step;
      }
    }
    const modelDir = join(runDir, 'model');
    saveModel(model.config, model.decoder.weights, modelDir, { force: true, tokenizerFrom: tokenizerFrom });
    writeRunPlot(runDir);
    const trainable = params.reduce((n, p) => n + p.tensor.size, 0);
    return { runDir, modelDir, steps: step, losses, evals, trainable, seconds: (performance.now() - t0) / 1000 };
  } finally {
    data.close();
  }
}

/** Continues the run in `runDir` from its newest usable checkpoint, with the options it was started with. */
export function resumeTraining(runDir: string, hooks: TrainHooks = {}): TrainResult {
  const file = join(runDir, 'run.json');
  if (!existsSync(file)) throw new InputError('not_found', `${runDir} is not a training run (no run.json)`);
  const options = JSON.parse(readFileSync(file, 'utf8')) as TrainOptions;
  return train({ ...options, out: runDir }, hooks, true);
}

function truncateMetrics(runDir: string, step: number): void {
  const path = join(runDir, 'metrics.jsonl');
  if (!existsSync(path)) return;
  const kept = readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() && JSON.parse(l).step <= step);
  writeFileSync(path, kept.map((l) => l + '\n').join(''));
}

function nonFinite(value: number, step: number, lastSaved: number, runDir: string, what = 'loss'): RrtError {
  const kept = lastSaved >= 0 ? `the last good checkpoint (step ${lastSaved}) is kept in ${join(runDir, 'checkpoint')}` : 'no checkpoint had been written yet';
  return new RrtError('nonfinite_loss', `${what} became ${value} at step ${step}: training stopped; ${kept}. Try a lower learning rate or more warm-up.`);
}
