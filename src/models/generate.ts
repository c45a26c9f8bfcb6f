// Autoregressive generation for one sequence over the contiguous KV cache:
// prefill the prompt, then decode one token per step. The serving engine
// (infer/) batches many of these; this is the plain single-stream path.
import { InputError } from '../errors.js';
import { noGrad } from '../tensor/autograd.js';
import type { Decoder } from './decoder.js';
import { KvCache } from './kv-cache.js';
import { Sampler, type SamplingOptions } from './sampler.js';

export interface GenerateOptions extends SamplingOptions {
  /** tokens to generate at most. @default 128 */
  maxTokens?: number;
  /** stop when one of these ids is sampled (not emitted). @default the model's EOS ids */
  eosIds?: number[];
}

/** Yields generated token ids, greedy or sampled. */
export function* generateIds(decoder: Decoder, prompt: readonly number[], opts: GenerateOptions = {}): Generator<number> {
  const cfg = decoder.config;
  const maxTokens = opts.maxTokens ?? 128;
  if (!Number.isInteger(maxTokens) || maxTokens < 0) throw new InputError('bad_option', `max tokens must be a non-negative integer, got ${maxTokens}`);
  if (prompt.length === 0) throw new InputError('bad_option', 'the prompt is empty (no tokens to condition on)');
  if (prompt.length >= cfg.maxPositions)
    throw new InputError('context_overflow', `the prompt has ${prompt.length} tokens; the model's context is ${cfg.maxPositions}`);
  const eos = new Set(opts.eosIds ?? cfg.eosIds);
  const sampler = new Sampler(opts);
  const total = Math.min(cfg.maxPositions, prompt.length + maxTokens);
  const cache = new KvCache(cfg, total, decoder.nLayers);
  let logits = noGrad(() => decoder.forward(Int32Array.from(prompt), 1, prompt.length, { caches: [cache], lastOnly: true }).logits);
  for (let n = 0; n < maxTokens; n++) {
    const id = sampler.sample(logits.f32);
    if (eos.has(id)) return;
    yield id;
    if (n + 1 >= maxTokens || cache.length >= total) return;
    logits = noGrad(() => decoder.forward(Int32Array.of(id), 1, 1, { caches: [cache] }).logits);
  }
}
