// One request's life on the output side, shared by every engine: options resolved and
// validated, the seeded sampler, EOS / max-tokens / stop-string checks on the decoded text,
// the token event stream and the result. Engines decide WHEN tokens exist; this decides what
// the caller sees. Stop strings: text that could still begin a stop string is held back, so a
// stop string never reaches the stream; the event of a token that leaves text held back waits
// for the next token or for finish, which hands it the held text, so the events' texts always
// concatenate to the result's text, however the request ends.
import { InputError } from '../errors.js';
import type { ModelConfig } from '../models/config.js';
import { Sampler } from '../models/sampler.js';
import type { StreamDecoder, Tokenizer } from '../formats/tokenizers/index.js';
import type { EarlyExitOptions, FinishReason, RequestHandle, RequestOptions, RequestResult, TokenEvent } from './types.js';

function validateExit(e: EarlyExitOptions, nLoops: number): Required<EarlyExitOptions> {
  if (!['maxProb', 'margin', 'kl', 'stable'].includes(e.measure)) throw new InputError('bad_option', `early exit measure must be maxProb, margin, kl or stable, got ${String(e.measure)}`);
  if (!Number.isFinite(e.threshold)) throw new InputError('bad_option', `early exit threshold must be a number, got ${e.threshold}`);
  const minLoops = e.minLoops ?? 1, stableLoops = e.stableLoops ?? 2;
  if (!Number.isInteger(minLoops) || minLoops < 1 || minLoops > nLoops) throw new InputError('bad_option', `early exit minLoops must be an integer in [1, ${nLoops}], got ${minLoops}`);
  if (!Number.isInteger(stableLoops) || stableLoops < 1) throw new InputError('bad_option', `early exit stableLoops must be a positive integer, got ${stableLoops}`);
  // the default (2) may exceed a vanilla model's one loop harmlessly; a given count must be reachable
  if (e.stableLoops !== undefined && stableLoops > nLoops) throw new InputError('bad_option', `early exit stableLoops must be at most the model's ${nLoops} loops, got ${stableLoops}`);
  return { measure: e.measure, threshold: e.threshold, minLoops, stableLoops };
}

export class Request implements RequestHandle {
  readonly result: Promise<RequestResult>;
  /** tokens it may generate: the options' maxTokens, capped so that prompt + completion fit the context */
  readonly maxTokens: number;
  readonly eos: Set<number>;
  readonly sampler: Sampler;
  readonly earlyExit: Required<EarlyExitOptions> | null;
  /** positions the request may fill: prompt + maxTokens, capped by the model's context */
  readonly total: number;
  readonly ids: number[] = [];
  readonly histogram: number[];
  cancelled = false;
  finished = false;
  private text = '';
  private emitted = 0;
  private readonly stop: string[];
  private readonly stream: StreamDecoder | null;
  private readonly queue: TokenEvent[] = [];
  /** the last token's event while some of the text is held back for a possible stop string */
  private deferred: TokenEvent | null = null;
  private wake: (() => void) | null = null;
  private resolve!: (r: RequestResult) => void;

  constructor(readonly id: number, readonly prompt: readonly number[], opts: RequestOptions, cfg: ModelConfig, nLoops: number, tokenizer: Tokenizer | null) {
    const asked = opts.maxTokens ?? 128;
    if (!Number.isInteger(asked) || asked < 0) throw new InputError('bad_option', `max tokens must be a non-negative integer, got ${asked}`);
    if (prompt.length === 0) throw new InputError('bad_option', 'the prompt is empty (no tokens to condition on)');
    if (prompt.length >= cfg.maxPositions) throw new InputError('context_overflow', `the prompt has ${prompt.length} tokens; the model's context is ${cfg.maxPositions}`);
    this.maxTokens = Math.min(asked, cfg.maxPositions - prompt.length);
    for (const t of prompt) if (!(Number.isInteger(t) && t >= 0 && t < cfg.vocabSize)) throw new InputError('token_out_of_range', `prompt token ${t} is outside the vocabulary [0, ${cfg.vocabSize})`);
    this.stop = (opts.stop ?? []).filter((s) => s.length > 0);
    if (this.stop.length > 0 && !tokenizer) throw new InputError('bad_option', 'stop strings need the model tokenizer, and this engine has none');
    this.eos = new Set(opts.eosIds ?? cfg.eosIds);
    this.sampler = new Sampler(opts);
    this.earlyExit = opts.earlyExit ? validateExit(opts.earlyExit, nLoops) : null;
    this.total = prompt.length + this.maxTokens;
    this.histogram = new Array<number>(nLoops).fill(0);
    if (tokenizer) {
      // the prompt goes through the decoder first so the continuation's first piece keeps its leading space
      this.stream = tokenizer.streamDecoder({ skipSpecialTokens: true });
      for (const t of prompt) this.stream.push(t);
      this.stream.flush();
    } else this.stream = null;
    this.result = new Promise((r) => (this.resolve = r));
  }

  cancel(): void {
    this.cancelled = true;
  }

  async *events(): AsyncIterable<TokenEvent> {
    for (;;) {
      while (this.queue.length > 0) yield this.queue.shift()!;
      if (this.finished) return;
      await new Promise<void>((r) => (this.wake = r));
    }
  }

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  /**
   * A sampled token: emits it unless it is EOS; returns the finish reason when the request is done
   * (the caller then releases its resources and calls finish), else null.
   */
  accept(id: number, loops: number, positionsLeft: boolean): FinishReason | null {
    if (this.eos.has(id)) return 'stop'; // a deferred event gets the held text in finish
    if (this.deferred) this.queue.push(this.deferred);
    this.deferred = null;
    this.ids.push(id);
    this.histogram[Math.min(loops, this.histogram.length) - 1]++;
    const full = this.ids.length >= this.maxTokens || !positionsLeft;
    let piece = '';
    let stopped = false;
    let hold = 0;
    if (this.stream) {
      this.text += this.stream.push(id);
      const at = this.firstStop();
      if (at >= 0) {
        this.text = this.text.slice(0, at);
        stopped = true;
      } else if (full) this.text += this.stream.flush();
      // hold back what could still grow into a stop string
      hold = stopped || full ? 0 : this.holdBack();
      piece = this.text.slice(this.emitted, this.text.length - hold);
      this.emitted += piece.length;
    }
    const event = { id, text: piece, loops };
    if (hold > 0) this.deferred = event;
    else this.queue.push(event);
    this.notify();
    if (stopped) return 'stop';
    return full ? 'length' : null;
  }

  private firstStop(): number {
    let best = -1;
    for (const s of this.stop) {
      const i = this.text.indexOf(s, Math.max(0, this.emitted - s.length));
      if (i >= 0 && (best < 0 || i < best)) best = i;
    }
    return best;
  }

  /** Length of the longest suffix of the text that is a proper prefix of a stop string. */
  private holdBack(): number {
    let hold = 0;
    for (const s of this.stop)
      for (let n = Math.min(s.length - 1, this.text.length - this.emitted); n > hold; n--)
        if (this.text.endsWith(s.slice(0, n))) {
          hold = n;
          break;
        }
    return hold;
  }

  finish(reason: FinishReason, error?: string): void {
    if (this.finished) return;
    this.finished = true;
    // the text is what the stream showed plus what was held back for a stop string that never
    // came; an incomplete UTF-8 tail is left out (max tokens flushed it into the last piece already)
    if (this.deferred) {
      this.deferred.text += this.text.slice(this.emitted);
      this.emitted = this.text.length;
      this.queue.push(this.deferred);
      this.deferred = null;
    }
    const n = this.ids.length;
    const meanLoops = n ? this.histogram.reduce((a, c, b) => a + c * (b + 1), 0) / n : 0;
    this.resolve({
      ids: [...this.ids],
      text: this.text,
      finishReason: reason,
      usage: { promptTokens: this.prompt.length, completionTokens: n, totalTokens: this.prompt.length + n },
      exits: { meanLoops, histogram: [...this.histogram] },
      ...(error !== undefined ? { error } : {}),
    });
    this.notify();
  }
}
