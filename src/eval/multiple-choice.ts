// Log-likelihood scoring as lm-evaluation-harness does it (HFLM._encode_pair and
// _loglikelihood_tokens): a continuation's score is the sum of the log-probs of its tokens given
// the context; the continuation tokens are those of encode(context + continuation) after the
// context's own tokens (trailing context spaces move to the continuation); BOS is prepended when
// the tokenizer has one; too-long inputs lose tokens on the left (and a continuation longer than
// the model's context is scored on its last maxPositions tokens, where lm-eval stops). Requests
// are deduplicated, sorted longest first and run as right-padded batches (causal attention:
// padding after a row's last token cannot change its scores). Contexts shared by several choices
// are encoded once but still run once per choice (no KV-cache prefix sharing).
// acc = argmax of the sums; acc_norm = argmax of sum / UTF-8 byte length of the choice text (the
// continuation without its target delimiter). lm-eval divides by len() of the Python string,
// which counts code points: the two agree on ASCII and differ on anything else.
import { InputError } from '../errors.js';
import type { Tokenizer } from '../formats/tokenizers/index.js';
import type { Decoder } from '../models/decoder.js';
import { noGrad } from '../tensor/autograd.js';
import { kernels } from '../tensor/kernels.js';
import { IGNORE_INDEX } from '../tensor/ops/loss.js';
import { choiceCount, contextOf, continuationOf, TARGET_DELIMITER, type Example } from './tasks.js';

/** Logits [B·T·V] for ids [B, T] (the full forward by default; exits after a loop for --exits). */
export type LogitsFn = (ids: Int32Array, B: number, T: number) => Float32Array;

export interface TokenRequest {
  context: readonly number[];
  continuation: readonly number[];
}

export interface TokenScore {
  /** Σ log p(continuation token | everything before it), nats */
  logprob: number;
  /** every continuation token is the argmax of its position (lm-eval's is_greedy) */
  greedy: boolean;
  tokens: number;
}

export interface ScoreOptions {
  logits?: LogitsFn;
  /** padded tokens (rows × longest row) per forward pass; a longer row runs alone. @default 2048, fewer for vocabularies over 32k */
  batchTokens?: number;
  onProgress?: (done: number, total: number) => void;
}

/**
 * lm-eval's _encode_pair: trailing whitespace of the context moves to the continuation, whose
 * tokens are those of the whole after the context's. `cache` maps context strings to their ids.
 */
export function encodePair(tokenizer: Tokenizer, context: string, continuation: string, cache?: Map<string, number[]>): { context: number[]; continuation: number[] } {
  const trimmed = context.replace(/\s+$/u, '');
  if (trimmed.length < context.length) {
    continuation = context.slice(trimmed.length) + continuation;
    context = trimmed;
  }
  // the choices of an example share their context: encode it once
  let ctx = cache?.get(context);
  if (!ctx) {
    ctx = tokenizer.encode(context, { addSpecialTokens: false });
    cache?.set(context, ctx);
  }
  return { context: ctx, continuation: tokenizer.encode(context + continuation, { addSpecialTokens: false }).slice(ctx.length) };
}

/** The token request for one (context, continuation) pair: BOS-prefixed context (lm-eval: EOT alone for an empty context). */
export function tokenRequest(tokenizer: Tokenizer, context: string, continuation: string, cache?: Map<string, number[]>): TokenRequest {
  const prefix = tokenizer.bosId ?? (context === '' ? tokenizer.eosId : null);
  if (context === '') {
    if (prefix === null) throw new InputError('bad_option', 'empty context and the tokenizer has neither BOS nor EOS to condition on');
    return { context: [prefix], continuation: tokenizer.encode(continuation, { addSpecialTokens: false }) };
  }
  const p = encodePair(tokenizer, context, continuation, cache);
  return { context: prefix === null ? p.context : [prefix, ...p.context], continuation: p.continuation };
}

function defaultBatchTokens(V: number): number {
  // past ~2k rows a pass gains nothing on CPU (measured on stories260K); the logits of one pass
  // are batchTokens·V floats, kept under 256 MB for large vocabularies
  return Math.max(256, Math.min(2048, Math.floor(2 ** 26 / V)));
}

/** Scores every request; results in request order. */
export function scoreRequests(decoder: Decoder, requests: readonly TokenRequest[], opts: ScoreOptions = {}): TokenScore[] {
  const logitsOf = opts.logits ?? ((ids, B, T) => noGrad(() => decoder.forward(ids, B, T).logits.f32));
  return scoreRequestsMulti(decoder, requests, 1, (ids, B, T) => [logitsOf(ids, B, T)], opts)[0];
}

/**
 * Scores every request under `variants` versions of the model whose logits one pass yields
 * together (a recursive model's loop exits: decoder.forward with allExits); result[k][i] is
 * request i under variant k.
 */
export function scoreRequestsMulti(
  decoder: Decoder,
  requests: readonly TokenRequest[],
  variants: number,
  logitsOf: (ids: Int32Array, B: number, T: number) => Float32Array[],
  opts: Omit<ScoreOptions, 'logits'> = {},
): TokenScore[][] {
  const maxLen = decoder.config.maxPositions;
  const V = decoder.config.vocabSize;
  const budget = opts.batchTokens ?? Math.max(256, Math.floor(defaultBatchTokens(V) / variants));
  if (!Number.isInteger(budget) || budget < 1) throw new InputError('bad_option', `batchTokens must be a positive integer, got ${budget}`);

  // unique (input, continuation length) pairs; the input is (context + continuation) minus its last token, at most maxLen long
  interface Unique { input: number[]; contLen: number; continuation: readonly number[]; scores: TokenScore[] }
  const uniques: Unique[] = [];
  const byKey = new Map<string, number>();
  const slot = requests.map((r, i) => {
    // a continuation longer than the context can only be scored on its last maxLen tokens (lm-eval asserts instead)
    const contLen = Math.min(r.continuation.length, maxLen);
    if (contLen === 0) throw new InputError('bad_option', `request ${i}: the continuation encodes to no tokens`);
    if (r.context.length === 0) throw new InputError('bad_option', `request ${i}: empty context (prepend BOS)`);
    const all = [...r.context, ...r.continuation];
    const input = all.slice(Math.max(0, all.length - maxLen - 1), -1);
    const key = `${contLen}|${all.slice(-maxLen - 1).join(',')}`;
    let u = byKey.get(key);
    if (u === undefined) {
      u = uniques.length;
      byKey.set(key, u);
      uniques.push({ input, contLen, continuation: r.continuation.slice(-contLen), scores: [] });
    }
    return u;
  });

  const order = uniques.map((_, i) => i).sort((a, b) => uniques[b].input.length - uniques[a].input.length);
  let done = 0;
  for (let start = 0; start < order.length; ) {
    const T = uniques[order[start]].input.length;
    const B = Math.max(1, Math.min(order.length - start, Math.floor(budget / T)));
    const rows = order.slice(start, start + B).map((i) => uniques[i]);
    const ids = new Int32Array(B * T);
    const targets = new Int32Array(B * T).fill(IGNORE_INDEX);
    rows.forEach((u, b) => {
      const L = u.input.length;
      for (let t = 0; t < L; t++) ids[b * T + t] = u.input[t];
      for (let j = 0; j < u.contLen; j++) targets[b * T + L - u.contLen + j] = u.continuation[j];
    });
    const all = logitsOf(ids, B, T);
    if (all.length !== variants) throw new InputError('bad_option', `the logits function returned ${all.length} variants, expected ${variants}`);
    const losses = new Float32Array(B * T);
    for (const logits of all) {
      kernels.cross_entropy_f32(losses, null, logits, targets, B * T, V, IGNORE_INDEX, 1);
      rows.forEach((u, b) => u.scores.push(continuationScore(logits, losses, targets, V, b * T + u.input.length - u.contLen, u.contLen)));
    }
    start += B;
    done += B;
    opts.onProgress?.(done, order.length);
  }
  return Array.from({ length: variants }, (_, k) => slot.map((u) => uniques[u].scores[k]));
}

/** Sum of log-probs over rows r0..r0+n−1 (losses hold −log p of each target) and whether every target is the argmax. */
function continuationScore(logits: Float32Array, losses: Float32Array, targets: Int32Array, V: number, r0: number, n: number): TokenScore {
  let logprob = 0;
  let greedy = true;
  for (let r = r0; r < r0 + n; r++) {
    logprob -= losses[r];
    if (!greedy) continue;
    // torch's argmax: the first index of the maximum
    const row = logits.subarray(r * V, (r + 1) * V);
    const tgt = targets[r], x = row[tgt];
    for (let v = 0; v < V; v++) if (row[v] > x || (row[v] === x && v < tgt)) {
      greedy = false;
      break;
    }
  }
  return { logprob, greedy, tokens: n };
}

/** UTF-8 length of choice i's text: its continuation without the target delimiter. */
export function choiceBytes(ex: Example, i: number): number {
  const c = continuationOf(ex, i);
  return Buffer.byteLength(c.startsWith(TARGET_DELIMITER) ? c.slice(TARGET_DELIMITER.length) : c, 'utf8');
}

export interface ChoiceResult {
  /** per choice: Σ log-probs of the continuation, nats */
  logprobs: number[];
  /** per choice: continuation tokens scored */
  tokens: number[];
  /** per choice: every continuation token greedy */
  greedy: boolean[];
  /** argmax of logprobs (first on ties, as numpy) */
  pred: number;
  /** argmax of logprobs / choice bytes */
  predNorm: number;
}

function argmax(xs: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i] > xs[best]) best = i;
  return best;
}

/** Requests for every choice of an example, in choice order. */
export function exampleRequests(tokenizer: Tokenizer, ex: Example, cache?: Map<string, number[]>): TokenRequest[] {
  return Array.from({ length: choiceCount(ex) }, (_, i) => tokenRequest(tokenizer, contextOf(ex, i), continuationOf(ex, i), cache));
}

/** Combines an example's per-choice scores into predictions. */
export function choiceResult(ex: Example, scores: readonly TokenScore[]): ChoiceResult {
  const logprobs = scores.map((s) => s.logprob);
  const normed = logprobs.map((lp, i) => lp / Math.max(1, choiceBytes(ex, i)));
  return { logprobs, tokens: scores.map((s) => s.tokens), greedy: scores.map((s) => s.greedy), pred: argmax(logprobs), predNorm: argmax(normed) };
}

/**
 * Scores the choices of one or more examples in shared batches.
 * @example
 * const [r] = scoreChoices(m, [{ contexts: ['Question: 2+2?\nAnswer:'], continuations: [' 4', ' 5'], gold: 0 }]);
 * r.pred; // index of the most likely continuation
 */
export function scoreChoices(model: { decoder: Decoder; tokenizer: Tokenizer }, examples: readonly Example[], opts: ScoreOptions = {}): ChoiceResult[] {
  const cache = new Map<string, number[]>();
  const perExample = examples.map((ex) => exampleRequests(model.tokenizer, ex, cache));
  const scores = scoreRequests(model.decoder, perExample.flat(), opts);
  let k = 0;
  return examples.map((ex, e) => {
    const s = scores.slice(k, k + perExample[e].length);
    k += perExample[e].length;
    return choiceResult(ex, s);
  });
}
