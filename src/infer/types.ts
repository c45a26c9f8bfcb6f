// The inference engine's contract, shared by every engine (serial, continuous batching,
// depth-wise batching) and by the server and benchmarks that sit on top of them.
import type { SamplingOptions } from '../models/sampler.js';

/** How confident a token must be to leave after a loop (recursive models). */
export interface EarlyExitOptions {
  /** maxProb: max softmax probability; margin: top-1 minus top-2 probability; kl: KL between consecutive loops' distributions (exit when below); stable: argmax unchanged for `stableLoops` loops */
  measure: 'maxProb' | 'margin' | 'kl' | 'stable';
  /** exit when the measure passes it (≥ for maxProb/margin, ≤ for kl) */
  threshold: number;
  /** never exit before this many loops. @default 1 */
  minLoops?: number;
  /** for `stable`. @default 2 */
  stableLoops?: number;
}

export interface RequestOptions extends SamplingOptions {
  /** @default 128 */
  maxTokens?: number;
  /** stop when the generated text contains one of these (the stop string is not returned) */
  stop?: string[];
  /** @default the model's EOS ids */
  eosIds?: number[];
  /** null: every token runs all loops */
  earlyExit?: EarlyExitOptions | null;
}

export interface TokenEvent {
  id: number;
  /** the text this token completes (may be '' while a multi-byte character is incomplete) */
  text: string;
  /** loops this token ran before it was emitted (nLoops for vanilla models) */
  loops: number;
}

export type FinishReason = 'stop' | 'length' | 'cancelled' | 'error';

export interface RequestResult {
  ids: number[];
  text: string;
  finishReason: FinishReason;
  usage: { promptTokens: number; completionTokens: number; totalTokens: number };
  /** loops per emitted token: mean, and histogram[b−1] = tokens that exited after loop b */
  exits: { meanLoops: number; histogram: number[] };
  error?: string;
}

export interface RequestHandle {
  readonly id: number;
  /** token events as they are produced */
  events(): AsyncIterable<TokenEvent>;
  /** resolves when the request finishes (never rejects: errors give finishReason 'error') */
  readonly result: Promise<RequestResult>;
  /** stop generating and free the request's slot and cache */
  cancel(): void;
}

export interface EngineStats {
  queueDepth: number;
  active: number;
  maxBatch: number;
  /** generated tokens per second over the last few seconds */
  tokensPerS: number;
  /** tokens that exited after loop b, b = 1..nLoops, since start */
  exitHistogram: number[];
  kvBytesUsed: number;
  kvBytesBudget: number;
  /** seconds spent running engine steps since start (idle time and the caller's own work excluded) */
  busySeconds: number;
}

/**
 * What an engine does with a request's earlyExit: 'applied' (a token may leave after an earlier
 * loop), 'ignored' (every token runs every loop), 'refused' (submit throws: this model's loops
 * cannot be cut short).
 */
export type EarlyExitHandling = 'applied' | 'ignored' | 'refused';

export interface Engine {
  /** loops each token runs unless it exits early (1 for a vanilla model) */
  readonly nLoops: number;
  readonly earlyExitHandling: EarlyExitHandling;
  /** queues a request; throws EngineBusyError when the queue is full */
  submit(prompt: readonly number[], opts?: RequestOptions): RequestHandle;
  stats(): EngineStats;
  /** stops accepting requests and resolves when every request in flight has finished */
  drain(): Promise<void>;
}
