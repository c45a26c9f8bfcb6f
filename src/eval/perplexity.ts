// Perplexity over a token stream with fixed windows and a stride (the transformers recipe):
// each window of `window` tokens is scored only on the tokens the previous window did not
// score, so every token after the first is predicted exactly once, with up to
// window − stride tokens of context carried over.
import { InputError } from '../errors.js';
import type { Decoder } from '../models/decoder.js';
import { noGrad } from '../tensor/autograd.js';
import { kernels } from '../tensor/kernels.js';
import { IGNORE_INDEX } from '../tensor/ops/loss.js';

export interface PerplexityOptions {
  /** tokens per window. @default the model's context */
  window?: number;
  /** tokens between window starts. @default window */
  stride?: number;
  /** windows per forward pass. @default 8 */
  batch?: number;
  /** logits as a function of the input ids (for exits after loop b, or other variants); default: the full forward */
  logits?: (ids: Int32Array, B: number, T: number) => Float32Array;
  onProgress?: (done: number, total: number) => void;
}

export interface PerplexityResult {
  /** mean negative log-likelihood, nats per token */
  nll: number;
  ppl: number;
  /** tokens scored */
  tokens: number;
}

export function perplexity(decoder: Decoder, tokens: ArrayLike<number>, opts: PerplexityOptions = {}): PerplexityResult {
  const N = tokens.length;
  const window = opts.window ?? decoder.config.maxPositions;
  const stride = opts.stride ?? window;
  if (!Number.isInteger(window) || window < 2) throw new InputError('bad_option', `window must be an integer ≥ 2, got ${window}`);
  if (window > decoder.config.maxPositions) throw new InputError('context_overflow', `window ${window} exceeds the model's context of ${decoder.config.maxPositions}`);
  if (!Number.isInteger(stride) || stride < 1 || stride > window) throw new InputError('bad_option', `stride must be an integer in [1, window], got ${stride}`);
  if (N < 2) throw new InputError('bad_option', `need at least 2 tokens to score, got ${N}`);
  const V = decoder.config.vocabSize;
  const logitsOf = opts.logits ?? ((ids, B, T) => noGrad(() => decoder.forward(ids, B, T).logits.f32));

  // windows: [begin, end) with the first `skip` targets ignored (already scored)
  const windows: { begin: number; end: number; skip: number }[] = [];
  let prevEnd = 0;
  for (let begin = 0; begin < N - 1; begin += stride) {
    const end = Math.min(begin + window, N);
    windows.push({ begin, end, skip: Math.max(0, prevEnd - begin - 1) });
    prevEnd = end;
    if (end === N) break;
  }
  const batch = opts.batch ?? 8;
  let total = 0, count = 0;
  for (let w0 = 0; w0 < windows.length; w0 += batch) {
    // windows of one batch share a length: group by T (only the last window can be shorter)
    const group = windows.slice(w0, w0 + batch);
    for (const T of new Set(group.map((w) => w.end - w.begin))) {
      const ws = group.filter((w) => w.end - w.begin === T);
      const ids = new Int32Array(ws.length * T);
      const targets = new Int32Array(ws.length * T).fill(IGNORE_INDEX);
      ws.forEach((w, b) => {
        for (let t = 0; t < T; t++) ids[b * T + t] = tokens[w.begin + t];
        for (let t = w.skip; t < T - 1; t++) targets[b * T + t] = tokens[w.begin + t + 1];
      });
      const logits = logitsOf(ids, ws.length, T);
      const losses = new Float32Array(ws.length * T);
      kernels.cross_entropy_f32(losses, null, logits, targets, ws.length * T, V, IGNORE_INDEX, 1);
      for (let i = 0; i < losses.length; i++) if (targets[i] !== IGNORE_INDEX) {
        total += losses[i];
        count++;
      }
    }
    opts.onProgress?.(Math.min(w0 + batch, windows.length), windows.length);
  }
  const nll = total / count;
  return { nll, ppl: Math.exp(nll), tokens: count };
}
