// Measurements of one study model: held-out perplexity (full depth, and after loop 1 for a
// recursive model), perplexity under early exit, zero-shot accuracy, unique parameters, and
// serving throughput with the batch engine (depth-wise batching for recursive models).
import { existsSync } from 'node:fs';
import { uniqueNonEmbedding } from '../../src/demo/demo.js';
import { evaluate } from '../../src/eval/evaluate.js';
import { exitPerplexity } from '../../src/eval/exit-perplexity.js';
import { perplexity } from '../../src/eval/perplexity.js';
import { BatchEngine } from '../../src/infer/engine.js';
import { timeRequests } from '../../src/infer/throughput.js';
import type { LoadedModel } from '../../src/models/load.js';
import { noGrad } from '../../src/tensor/autograd.js';
import type { Preset } from './plan.js';

export interface Quality {
  params: number;
  ppl: number;
  /** recursive models: every token exits after loop 1 */
  pplLoop1: number | null;
  /** recursive models: perplexity and mean loops under maxProb early exit, per threshold */
  exits: { threshold: number; ppl: number; meanLoops: number }[];
  /** zero-shot acc_norm per task, and their mean */
  tasks: Record<string, number>;
  meanAcc: number | null;
  /** examples per task */
  taskN: number;
}

export const EXIT_THRESHOLDS = [0.3, 0.5, 0.7, 0.9];

export function measureQuality(m: LoadedModel, valid: Int32Array, p: Preset, dataDir: string | null, withTasks: boolean): Quality {
  const ppl = perplexity(m.decoder, valid, { window: p.window }).ppl;
  const recursive = m.config.recursive !== undefined && m.config.recursive !== null;
  const pplLoop1 = recursive
    ? perplexity(m.decoder, valid, { window: p.window, logits: (ids, B, T) => noGrad(() => m.decoder.forward(ids, B, T, { exitAfterLoop: 1 }).logits.f32) }).ppl
    : null;
  const exits = recursive ? exitPerplexity(m.decoder, valid, EXIT_THRESHOLDS, { window: p.window }).map((s) => ({ threshold: s.threshold, ppl: s.ppl, meanLoops: s.meanLoops })) : [];
  const tasks: Record<string, number> = {};
  let taskN = 0;
  if (withTasks && dataDir && existsSync(dataDir)) {
    for (const r of evaluate(m, p.tasks, { dataDir, limit: p.taskLimit })) {
      tasks[r.task] = r.metrics.acc_norm ?? r.metrics.acc;
      taskN = r.n;
    }
  }
  const accs = Object.values(tasks);
  return { params: uniqueNonEmbedding(m), ppl, pplLoop1, exits, tasks, meanAcc: accs.length ? accs.reduce((a, b) => a + b, 0) / accs.length : null, taskN };
}

export interface Speed {
  tokensPerS: number;
  meanLoops: number;
}

/** Greedy decoding of fixed pseudo-random prompts through the batch engine; the median of `repeats` runs. */
export async function measureSpeed(m: LoadedModel, p: Preset, threshold: number | null): Promise<Speed> {
  const { requests, promptLen, genLen, concurrency, repeats } = p.throughput;
  const V = m.config.vocabSize;
  const prompts = Array.from({ length: requests }, (_, r) => Array.from({ length: promptLen }, (_, t) => (r * 7919 + t * 104729 + 13) % V));
  const opts = { maxTokens: genLen, temperature: 0, eosIds: [] as number[], earlyExit: threshold === null ? null : { measure: 'maxProb' as const, threshold } };
  const runs: Speed[] = [];
  for (let i = 0; i < repeats; i++) {
    const r = await timeRequests(new BatchEngine(m.decoder, { maxBatch: concurrency, kvBudgetBytes: 64 * 2 ** 20 }), prompts, opts);
    runs.push({ tokensPerS: r.tokens_per_s, meanLoops: r.mean_loops });
  }
  runs.sort((a, b) => a.tokensPerS - b.tokensPerS);
  return runs[Math.floor(runs.length / 2)];
}
