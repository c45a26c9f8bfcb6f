// SerialEngine: the Engine contract over plain single-stream decoding (Decoder.forward with
// a contiguous KvCache, as generateIds), one request at a time, one token per event-loop
// turn. The benchmark's serial baselines, and the simplest engine a server can run. Every
// token runs every loop (earlyExit is accepted and ignored; the batch engine implements it),
// and is reported at the model's loop count.
import { InputError } from '../errors.js';
import type { Tokenizer } from '../formats/tokenizers/index.js';
import type { Decoder } from '../models/decoder.js';
import { KvCache } from '../models/kv-cache.js';
import { noGrad } from '../tensor/autograd.js';
import { Request } from './request.js';
import type { Engine, EngineStats, RequestHandle, RequestOptions } from './types.js';
import { checkQueueRoom } from './errors.js';
import { RateMeter } from './rate.js';
import { loopCount } from '../models/recursive-spec.js';

export interface SerialEngineOptions {
  tokenizer?: Tokenizer | null;
  /** requests waiting behind the running one (a request that starts at once does not count); more throw EngineBusyError. @default 256 */
  maxQueue?: number;
}

export class SerialEngine implements Engine {
  private readonly queue: Request[] = [];
  private readonly maxQueue: number;
  readonly nLoops: number;
  readonly earlyExitHandling = 'ignored';
  private current: { req: Request; cache: KvCache; logits: Float32Array } | null = null;
  private readonly rate = new RateMeter();
  private busyMs = 0;
  private readonly exitHistogram: number[];
  private nextId = 1;
  private running = false;
  private draining = false;
  private idleWaiters: (() => void)[] = [];

  constructor(readonly decoder: Decoder, readonly opts: SerialEngineOptions = {}) {
    this.maxQueue = opts.maxQueue ?? 256;
    this.nLoops = loopCount(decoder.config.recursive);
    this.exitHistogram = new Array<number>(this.nLoops).fill(0);
  }

  submit(prompt: readonly number[], opts: RequestOptions = {}): RequestHandle {
    if (this.draining) throw new InputError('bad_option', 'the engine is draining and accepts no new requests');
    const req = new Request(this.nextId, prompt, opts, this.decoder.config, this.nLoops, this.opts.tokenizer ?? null);
    checkQueueRoom(this.queue.length, this.current ? 0 : 1, this.maxQueue);
    this.queue.push(req);
    this.nextId++;
    if (!this.running) {
      this.running = true;
      setImmediate(() => this.loop());
    }
    return req;
  }

  stats(): EngineStats {
    return {
      queueDepth: this.queue.length,
      active: this.current ? 1 : 0,
      maxBatch: 1,
      tokensPerS: this.rate.perSecond(),
      exitHistogram: [...this.exitHistogram],
      kvBytesUsed: this.current?.cache.bytes ?? 0,
      kvBytesBudget: this.current?.cache.bytes ?? 0,
      busySeconds: this.busyMs / 1000,
    };
  }

  drain(): Promise<void> {
    this.draining = true;
    if (!this.current && this.queue.length === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private loop(): void {
    const t0 = performance.now();
    try {
      this.step();
    } catch (e) {
      this.current?.req.finish('error', (e as Error).message);
      this.current = null;
    }
    this.busyMs += performance.now() - t0;
    if (this.current || this.queue.length > 0) setImmediate(() => this.loop());
    else {
      this.running = false;
      for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  /** Prefill of the next request, or one decode token of the current one. */
  private step(): void {
    for (let i = this.queue.length - 1; i >= 0; i--)
      if (this.queue[i].cancelled) this.queue.splice(i, 1)[0].finish('cancelled');
    if (!this.current) {
      const req = this.queue.shift();
      if (!req) return;
      const cache = new KvCache(this.decoder.config, req.total, this.decoder.nLayers);
      const logits = noGrad(() => this.decoder.forward(Int32Array.from(req.prompt), 1, req.prompt.length, { caches: [cache], lastOnly: true }).logits.f32);
      this.current = { req, cache, logits };
    }
    const { req, cache } = this.current;
    if (req.cancelled || req.maxTokens === 0) {
      req.finish(req.cancelled ? 'cancelled' : 'length');
      this.current = null;
      return;
    }
    const id = req.sampler.sample(this.current.logits);
    if (!req.eos.has(id)) this.exitHistogram[this.nLoops - 1]++;
    const reason = req.accept(id, this.nLoops, cache.length < req.total);
    this.rate.add(1);
    if (reason) {
      req.finish(reason);
      this.current = null;
      return;
    }
    this.current.logits = noGrad(() => this.decoder.forward(Int32Array.of(id), 1, 1, { caches: [cache] }).logits.f32);
  }
}

