// evaluate(): runs named tasks on a loaded model and returns one result per task.
// Multiple-choice tasks report acc and acc_norm; lambada reports acc (lm-eval's is_greedy), ppl
// (lm-eval's: exp of minus the mean per-example log-likelihood of the target word) and
// token_ppl (exp of the mean NLL per target token); ppl:FILE / ids:FILE.json report nll (nats per
// token) and ppl. With `exits`, a recursive model is also scored with every token leaving after
// loop b, for b = 1..nLoops (choice tasks: every exit from one forward with allExits; perplexity:
// one pass per exit with exitAfterLoop); the exit after the last loop is the full model.
import { existsSync, readFileSync } from 'node:fs';
import { InputError } from '../errors.js';
import type { LoadedModel } from '../models/load.js';
import { noGrad } from '../tensor/autograd.js';
import { checkVocab, openTokenFile, sidecarPath } from '../train/data.js';
import { choiceResult, exampleRequests, scoreRequestsMulti, type TokenRequest, type TokenScore } from './multiple-choice.js';
import { perplexity } from './perplexity.js';
import { BUNDLED_EVAL_DATA, parseTask, withShots, type Example, type TaskSpec } from './tasks.js';
import { splitDocuments, tokenizeDocuments } from './text.js';

export interface EvalOptions {
  /** the folder holding the eval sets of the named tasks. @default BUNDLED_EVAL_DATA (the package's data/eval/) */
  dataDir?: string;
  /** first N examples (documents for ppl: text files, tokens for token files and ids:) */
  limit?: number;
  /** few-shot demonstrations per example. @default 0 */
  shots?: number;
  /** seed of the few-shot draw. @default 1234 */
  seed?: number;
  /** perplexity window and stride (tokens). @default the model's context, stride = window */
  window?: number;
  stride?: number;
  /** also score every loop exit of a recursive model */
  exits?: boolean;
  /** padded tokens per forward pass of the choice scorer */
  batchTokens?: number;
  onProgress?: (task: string, done: number, total: number) => void;
}

export type Metrics = Record<string, number>;

export interface TaskResult {
  task: string;
  /** examples scored (tokens scored for perplexity tasks) */
  n: number;
  metrics: Metrics;
  /** with `exits`: metrics when every token exits after loop b, keyed by b */
  exits?: Record<string, Metrics>;
  seconds: number;
}

/** Loops of a recursive model whose exits can be scored (the decoder refuses strategies without them). */
function exitLoops(model: LoadedModel): number {
  if (!model.config.recursive) throw new InputError('bad_option', `--exits needs a recursive model; ${model.path} has no "recursive" block in its config`);
  return model.decoder.loopEnds().length;
}

/** Full-model logits followed by those of the exits after loops 1..nLoops−1, from one pass. */
function allExitLogits(model: LoadedModel): (ids: Int32Array, B: number, T: number) => Float32Array[] {
  return (ids, B, T) =>
    noGrad(() => {
      const r = model.decoder.forward(ids, B, T, { allExits: true });
      return [r.logits.f32, ...r.exits.map((e) => e.f32)];
    });
}

function checkLimit(limit: number | undefined): void {
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) throw new InputError('bad_option', `limit must be a positive integer, got ${limit}`);
}

function readIds(path: string): number[] {
  if (!existsSync(path)) throw new InputError('not_found', `ids file not found: ${path}`);
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new InputError('bad_option', `${path}: not valid JSON (${(e as Error).message})`);
  }
  if (!Array.isArray(v) || !v.every((x) => Number.isInteger(x) && x >= 0)) throw new InputError('bad_option', `${path}: expected a JSON array of token ids`);
  return v as number[];
}

/** The token stream of a ppl:/ids: task. */
function streamTokens(model: LoadedModel, kind: 'ppl' | 'ids', path: string, limit?: number): ArrayLike<number> {
  if (kind === 'ids') {
    const ids = readIds(path);
    return limit === undefined ? ids : ids.slice(0, limit);
  }
  if (path.endsWith('.bin') && existsSync(sidecarPath(path))) {
    const file = openTokenFile(path, { mmap: false });
    checkVocab(file, model.config.vocabSize);
    return limit === undefined ? file.tokens : file.tokens.subarray(0, limit);
  }
  if (!model.tokenizer) throw new InputError('not_found', `${model.path} has no tokenizer to encode ${path} with; pass --tokenizer`);
  if (!existsSync(path)) throw new InputError('not_found', `text file not found: ${path}`);
  const docs = splitDocuments(readFileSync(path, 'utf8'));
  if (docs.length === 0) throw new InputError('bad_option', `${path} holds no text`);
  return tokenizeDocuments(limit === undefined ? docs : docs.slice(0, limit), model.tokenizer);
}

function choiceMetrics(spec: TaskSpec, examples: readonly Example[], perExample: readonly TokenRequest[][], scores: readonly TokenScore[]): Metrics {
  let k = 0, acc = 0, accNorm = 0, ll = 0, nll = 0, tokens = 0;
  for (const [e, ex] of examples.entries()) {
    const s = scores.slice(k, k + perExample[e].length);
    k += perExample[e].length;
    if (spec.kind === 'lambada') {
      acc += s[0].greedy ? 1 : 0;
      ll += s[0].logprob;
      nll -= s[0].logprob;
      tokens += s[0].tokens;
    } else {
      const r = choiceResult(ex, s);
      acc += r.pred === ex.gold ? 1 : 0;
      accNorm += r.predNorm === ex.gold ? 1 : 0;
    }
  }
  const n = examples.length;
  if (spec.kind === 'lambada') return { acc: acc / n, ppl: Math.exp(-ll / n), token_ppl: Math.exp(nll / tokens) };
  return { acc: acc / n, acc_norm: accNorm / n };
}

/**
 * Runs each task in turn.
 * @example
 * const [piqa] = evaluate(loadModel(BUNDLED_MODEL), ['piqa'], { limit: 200 });
 * piqa.metrics.acc_norm;
 */
export function evaluate(model: LoadedModel, tasks: readonly string[], opts: EvalOptions = {}): TaskResult[] {
  checkLimit(opts.limit);
  const shots = opts.shots ?? 0;
  if (!Number.isInteger(shots) || shots < 0) throw new InputError('bad_option', `shots must be a non-negative integer, got ${shots}`);
  const parsed = tasks.map(parseTask);
  if (parsed.length === 0) throw new InputError('bad_option', 'no task given');
  // metrics per model variant: [full model, exit after loop 1, ..., exit after loop nLoops − 1]
  const nLoops = opts.exits ? exitLoops(model) : 1;
  const results: TaskResult[] = [];
  for (const task of parsed) {
    const t0 = performance.now();
    const progress = (done: number, total: number) => opts.onProgress?.(task.name, done, total);
    const byVariant: Metrics[] = [];
    let n = 0;
    if (task.kind === 'registry') {
      const tokenizer = model.tokenizer;
      if (!tokenizer) throw new InputError('not_found', `${model.path} has no tokenizer; pass --tokenizer`);
      const pool = task.spec.load(opts.dataDir ?? BUNDLED_EVAL_DATA);
      if (pool.length === 0) throw new InputError('bad_option', `${task.name}: the data file holds no examples`);
      n = Math.min(pool.length, opts.limit ?? pool.length);
      const examples = Array.from({ length: n }, (_, i) => withShots(task.spec, pool, i, shots, opts.seed ?? 1234));
      const cache = new Map<string, number[]>();
      const perExample = examples.map((ex) => exampleRequests(tokenizer, ex, cache));
      const logits = nLoops > 1 ? allExitLogits(model) : (ids: Int32Array, B: number, T: number) => [noGrad(() => model.decoder.forward(ids, B, T).logits.f32)];
      const scores = scoreRequestsMulti(model.decoder, perExample.flat(), nLoops, logits, { batchTokens: opts.batchTokens, onProgress: progress });
      for (const s of scores) byVariant.push(choiceMetrics(task.spec, examples, perExample, s));
    } else {
      const tokens = streamTokens(model, task.kind, task.path, opts.limit);
      for (let v = 0; v < nLoops; v++) {
        // v = 0: the full model; v = b: every token exits after loop b
        const logits = v === 0 ? undefined : (ids: Int32Array, B: number, T: number) => noGrad(() => model.decoder.forward(ids, B, T, { exitAfterLoop: v }).logits.f32);
        const r = perplexity(model.decoder, tokens, { window: opts.window, stride: opts.stride, logits, onProgress: progress });
        byVariant.push({ nll: r.nll, ppl: r.ppl });
        n = r.tokens;
      }
    }
    const result: TaskResult = { task: task.name, n, metrics: byVariant[0], seconds: (performance.now() - t0) / 1000 };
    // exiting after the last loop is the full model
    if (opts.exits) result.exits = Object.fromEntries(Array.from({ length: nLoops }, (_, b) => [String(b + 1), byVariant[b + 1 === nLoops ? 0 : b + 1]]));
    results.push(result);
  }
  return results;
}
