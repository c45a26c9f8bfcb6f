// Perplexity under early exit (teacher-forced): every token is scored by the first loop whose
// max softmax probability reaches the threshold (the last loop otherwise). All loops are computed,
// so later tokens see full-depth keys and values: this isolates the exit decision from the
// serving engine's KV approximation (which the engine's agreement figures measure instead).
import { InputError } from '../errors.js';
import type { Decoder } from '../models/decoder.js';
import { noGrad } from '../tensor/autograd.js';

export interface ExitScore {
  threshold: number;
  nll: number;
  ppl: number;
  /** mean loops per scored token */
  meanLoops: number;
  /** tokens that exited after loop b+1 */
  histogram: number[];
}

/** log-sum-exp and max of one logits row */
function rowStats(row: Float32Array): { max: number; lse: number } {
  let max = -Infinity, sum = 0;
  for (let i = 0; i < row.length; i++) max = Math.max(max, row[i]);
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i] - max);
  return { max, lse: max + Math.log(sum) };
}

/** Scores non-overlapping windows of `tokens` at each threshold, from one forward pass per window. */
export function exitPerplexity(decoder: Decoder, tokens: ArrayLike<number>, thresholds: readonly number[], opts: { window?: number } = {}): ExitScore[] {
  if (!decoder.config.recursive) throw new InputError('bad_option', 'early-exit perplexity needs a recursive model');
  const T = opts.window ?? Math.min(256, decoder.config.maxPositions);
  if (tokens.length < T + 1) throw new InputError('bad_option', `need at least ${T + 1} tokens for one window of ${T}, got ${tokens.length}`);
  const V = decoder.config.vocabSize;
  const nLoops = decoder.loopEnds().length;
  const acc = thresholds.map(() => ({ nll: 0, loops: 0, histogram: new Array<number>(nLoops).fill(0) }));
  let n = 0;
  for (let s = 0; s + T + 1 <= tokens.length; s += T) {
    const ids = Int32Array.from({ length: T }, (_, t) => tokens[s + t]);
    const out = noGrad(() => decoder.forward(ids, 1, T, { allExits: true }));
    const exits = [...out.exits.map((e) => e.f32), out.logits.f32];
    for (let t = 0; t < T; t++) {
      const target = tokens[s + t + 1];
      const stats = exits.map((e) => {
        const row = e.subarray(t * V, (t + 1) * V);
        const { max, lse } = rowStats(row);
        return { maxProb: Math.exp(max - lse), nll: lse - row[target] };
      });
      thresholds.forEach((th, k) => {
        let b = 0;
        while (b < nLoops - 1 && stats[b].maxProb < th) b++;
        acc[k].nll += stats[b].nll;
        acc[k].loops += b + 1;
        acc[k].histogram[b]++;
      });
      n++;
    }
  }
  return thresholds.map((threshold, k) => ({ threshold, nll: acc[k].nll / n, ppl: Math.exp(acc[k].nll / n), meanLoops: acc[k].loops / n, histogram: acc[k].histogram }));
}
