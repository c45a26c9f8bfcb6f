// BatchEngine: continuous batching, and for recursive models continuous depth-wise batching
// with early exit (RRT §3). Each step runs the model's block ONCE over every
// occupied row, whatever loop each row is in: a row at loop b runs slot k as depth
// plan.blocks[b][k] (that depth's KV pages and LoRA), the shared weights are read once per
// projection for all rows. Rows entering loop 1 first run the unique first layers; a row that
// ends a loop either leaves (unique last layers, final norm, head, sample; its sequence comes
// back at loop 1 with the next token) or continues at the next step. Prefill rows are chunks
// of at most prefillChunk prompt tokens and never exit early. A vanilla model is one loop, so
// every row runs the whole depth each step, and so is a sequence-shared model (each layer runs
// its loops back to back: no loop ends before the last layer), which refuses early exit but
// reports its real loop count. Steps run from setImmediate while work exists.
//
// KV of loops a token skipped (exit after loop b < nLoops), filled before any later token
// can read it: 'propagate' (default) computes those depths' keys and values from the exited
// hidden state (their attention-input norm, k/v projections and rotary), batched into the next
// step: the fill rows join each shared slot's own norm and k/v projections as extra rows (the
// sequence's next token starts at loop 1, so nothing reads a skipped loop's entry before then);
// 'copy' copies loop b's entries at the same slot at once.
import { InputError } from '../errors.js';
import type { Tokenizer } from '../formats/tokenizers/index.js';
import type { Decoder } from '../models/decoder.js';
import { BatchForward, type DepthGroup, type Segment } from './batch-forward.js';
import { KvPool } from './kv-pool.js';
import { Request } from './request.js';
import { type Row, Scheduler, type Seq } from './scheduler.js';
import type { EarlyExitHandling, Engine, EngineStats, RequestHandle, RequestOptions } from './types.js';
import { loopCount } from '../models/recursive-spec.js';
import { RateMeter } from './rate.js';

export interface BatchEngineOptions {
  tokenizer?: Tokenizer | null;
  /** sequences decoded together. @default 8 */
  maxBatch?: number;
  /** requests waiting beyond the free slots (those the next step admits do not count); more throw EngineBusyError. @default 256 */
  maxQueue?: number;
  /** prompt tokens per sequence per step. @default 64 */
  prefillChunk?: number;
  /** bytes of the paged KV pool. @default 256 MiB */
  kvBudgetBytes?: number;
  /** touch the whole KV pool at construction (servers, benchmarks): no page faults inside steps. @default false */
  prefaultKv?: boolean;
  /** tokens per KV page. @default 16 */
  pageSize?: number;
  /** how exited tokens' skipped loops get their KV. @default 'propagate' */
  kvFill?: 'propagate' | 'copy';
  /** calibration: every token runs every loop; its reported `loops` is the earliest loop whose argmax equals the final one */
  oracle?: boolean;
  /** benchmarks: a forced exit decision for (request, index of the token being produced, loops done); undefined leaves it to the request's earlyExit */
  forcedExit?: (requestId: number, tokenIndex: number, loopsDone: number) => boolean | undefined;
  /** tests: NaN-poisoned pages and a written bitmap checked on every attention read */
  debugKv?: boolean;
  /** run each layer of a step as one native call where it applies (decode rows get the composed kernels' bits). @default true */
  fusedLayers?: boolean;
}

export class BatchEngine implements Engine {
  readonly fwd: BatchForward;
  readonly pool: KvPool;
  readonly sched: Scheduler;
  /** the model's loops per token (reported in exit histograms, bounds min_loops) */
  readonly nLoops: number;
  readonly earlyExitHandling: EarlyExitHandling;
  /** loops of the depth plan a step runs rows through: nLoops, or 1 when the loops do not repeat one block */
  private readonly blockLoops: number;
  /** the model norms its residual stream between loops (RecursiveSpec.loopNorm) */
  private readonly loopNorm: boolean;
  private readonly prefillChunk: number;
  private readonly exitHistogram: number[];
  private readonly rate = new RateMeter();
  private busyMs = 0;
  private nextId = 1;
  private running = false;
  private draining = false;
  private idleWaiters: (() => void)[] = [];

  constructor(readonly decoder: Decoder, readonly opts: BatchEngineOptions = {}) {
    const cfg = decoder.config;
    const maxBatch = opts.maxBatch ?? 8, maxQueue = opts.maxQueue ?? 256;
    this.prefillChunk = opts.prefillChunk ?? 64;
    for (const [name, v] of [['maxBatch', maxBatch], ['prefillChunk', this.prefillChunk]] as const)
      if (!Number.isInteger(v) || v < 1) throw new InputError('bad_option', `${name} must be a positive integer, got ${v}`);
    if (!Number.isInteger(maxQueue) || maxQueue < 0) throw new InputError('bad_option', `maxQueue must be a non-negative integer, got ${maxQueue}`);
    // sliding-window depths (Gemma 2/3) keep only their window's pages: memory per sequence bounded there
    this.pool = new KvPool({
      budgetBytes: opts.kvBudgetBytes ?? 256 * 2 ** 20, nDepths: decoder.nLayers, rowSize: cfg.nKvHeads * cfg.headDim, pageSize: opts.pageSize,
      debug: opts.debugKv, prefault: opts.prefaultKv, windows: cfg.windows, maxRun: this.prefillChunk,
    });
    this.fwd = new BatchForward(decoder, this.pool, opts.fusedLayers ?? true);
    this.blockLoops = this.fwd.plan.nLoops;
    this.loopNorm = decoder.config.recursive?.loopNorm === true;
    this.nLoops = loopCount(cfg.recursive);
    this.earlyExitHandling = this.blockLoops === this.nLoops ? 'applied' : 'refused';
    this.sched = new Scheduler(this.pool, maxBatch, maxQueue);
    this.exitHistogram = new Array<number>(this.nLoops).fill(0);
  }

  submit(prompt: readonly number[], opts: RequestOptions = {}): RequestHandle {
    if (this.draining) throw new InputError('bad_option', 'the engine is draining and accepts no new requests');
    if (opts.earlyExit && this.earlyExitHandling === 'refused') throw new InputError('unsupported', this.noEarlyExitReason());
    const req = new Request(this.nextId, prompt, opts, this.decoder.config, this.nLoops, this.opts.tokenizer ?? null);
    this.sched.enqueue(req);
    this.nextId++;
    if (req.maxTokens === 0) {
      this.sched.queue.splice(this.sched.queue.indexOf(req), 1);
      req.finish('length');
      return req;
    }
    if (!this.running) {
      this.running = true;
      setImmediate(() => this.loop());
    }
    return req;
  }

  private noEarlyExitReason(): string {
    const strategy = this.decoder.config.recursive?.plan.strategy ?? 'recursive';
    return `early exit needs loops that each end at the last layer of the shared block (cycle or middle-cycle strategies); ` +
      `this ${strategy} model's loops do not (a sequence strategy runs each layer's loops back to back), so every token runs all ${this.nLoops}`;
  }

  /** Loops a token ran once it completed `done` loops of the depth plan. */
  private loopsRun(done: number): number {
    return done === this.blockLoops ? this.nLoops : done;
  }

  stats(): EngineStats {
    return {
      queueDepth: this.sched.queue.length,
      active: this.sched.active.length,
      maxBatch: this.sched.maxBatch,
      tokensPerS: this.rate.perSecond(),
      exitHistogram: [...this.exitHistogram],
      kvBytesUsed: this.pool.bytesUsed,
      kvBytesBudget: this.pool.bytesBudget,
      busySeconds: this.busyMs / 1000,
    };
  }

  drain(): Promise<void> {
    this.draining = true;
    if (this.sched.idle) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private loop(): void {
    const t0 = performance.now();
    try {
      this.step();
    } catch (e) {
      // a failing step fails the requests in it, not the engine
      for (const s of [...this.sched.active]) this.sched.retire(s, 'error', (e as Error).message);
    }
    this.busyMs += performance.now() - t0;
    if (!this.sched.idle) setImmediate(() => this.loop());
    else {
      this.running = false;
      for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  private newRow(s: Seq): Row {
    const prompt = s.req.prompt;
    if (s.pos < prompt.length) {
      const T = Math.min(this.prefillChunk, prompt.length - s.pos);
      const samples = s.pos + T === prompt.length;
      if (samples) s.tracker.reset();
      return { ids: Int32Array.from(prompt.slice(s.pos, s.pos + T)), pos0: s.pos, T, loop: 0, x: null, samples, decode: false };
    }
    s.tracker.reset();
    return { ids: Int32Array.of(s.lastId), pos0: s.pos, T: 1, loop: 0, x: null, samples: true, decode: true };
  }

  /** One engine step (synchronous); the loop calls it, tests may too. */
  step(): void {
    const sched = this.sched, plan = this.fwd.plan, D = this.decoder.config.hidden, V = this.decoder.config.vocabSize;
    sched.reapCancelled();
    sched.admit();
    if (sched.active.length === 0) return;
    const seg = (s: Seq): Segment => ({ kv: s.kv, pos0: s.row!.pos0, T: s.row!.T });

    // rows entering loop 1: embeddings, then the unique first layers
    const entering = sched.active.filter((s) => !s.row);
    if (entering.length > 0) {
      for (const s of entering) s.row = this.newRow(s);
      const ids = concatI32(entering.map((s) => s.row!.ids));
      const pos = concatI32(entering.map((s) => Int32Array.from({ length: s.row!.T }, (_, t) => s.row!.pos0 + t)));
      let x = this.fwd.embed(ids, pos);
      for (const depth of plan.prefix) x = this.fwd.layer(x, [{ depth, segs: entering.map(seg) }]);
      split(x, entering.map((s) => s.row!), D);
    }

    // the block, once, over every row; rows grouped by loop so each group runs its own depth,
    // decode rows (one token) before prompt chunks, so the layer can run them as one native call
    const order = (s: Seq) => (s.row!.T === 1 ? 0 : this.blockLoops) + s.row!.loop;
    const rows = [...sched.active].sort((a, b) => order(a) - order(b));
    const keys = [...new Set(rows.map(order))];
    const segsOf = keys.map((key) => rows.filter((s) => order(s) === key).map(seg));
    let x = concatF32(rows.map((s) => s.row!.x!));
    const fills = this.pendingFills(rows);
    for (let k = 0; k < plan.blocks[0].length; k++) {
      const groups: DepthGroup[] = keys.map((key, i) => ({ depth: plan.blocks[key % this.blockLoops][k], segs: segsOf[i] }));
      x = this.fwd.layer(x, groups, fills?.[k]);
    }
    for (const s of rows) s.fill = null;
    split(x, rows.map((s) => s.row!), D);

    // who leaves after this loop: the last loop, a forced exit, or (decided on the logits) an early exit
    const leaving = new Set<Seq>(), checking: Seq[] = [];
    for (const s of rows) {
      const row = s.row!, done = row.loop + 1;
      if (done === this.blockLoops) leaving.add(s);
      else if (row.decode) {
        const forced = this.opts.forcedExit?.(s.req.id, s.req.ids.length, done);
        if (forced === true) leaving.add(s);
        else if (forced === undefined && (this.opts.oracle || s.req.earlyExit)) checking.push(s);
      }
    }
    const checked = new Set(checking);
    const outRows = rows.filter((s) => leaving.has(s) || checked.has(s));
    const logitsOf = new Map<Seq, { logits: Float32Array; offset: number }>();
    if (outRows.length > 0) {
      let y = concatF32(outRows.map((s) => s.row!.x!));
      for (const depth of plan.suffix) y = this.fwd.layer(y, [{ depth, segs: outRows.map(seg) }]);
      const lastRows: number[] = [], who: Seq[] = [];
      let r = 0;
      for (const s of outRows) {
        r += s.row!.T;
        if (s.row!.samples) {
          lastRows.push(r - 1);
          who.push(s);
        }
      }
      const logits = lastRows.length > 0 ? this.fwd.head(y, lastRows) : new Float32Array(0);
      who.forEach((s, i) => logitsOf.set(s, { logits, offset: i * V }));
    }
    // The tracker sees a row's logits when they decide something: an exit check, or the oracle's
    // record of every loop. A row leaving anyway (last loop, forced exit) only samples.
    for (const s of outRows) {
      const l = logitsOf.get(s);
      if (!l || !s.row!.decode || !(this.opts.oracle || checked.has(s))) continue;
      const done = s.row!.loop + 1;
      const exit = s.tracker.observe(l.logits, l.offset, V, done, this.opts.oracle ? null : s.req.earlyExit);
      if (exit && done < this.blockLoops) leaving.add(s);
    }

    this.fillSkipped(rows.filter((s) => leaving.has(s) && s.row!.loop + 1 < this.blockLoops));

    let emitted = 0;
    for (const s of rows) {
      const row = s.row!;
      if (!leaving.has(s)) {
        if (this.loopNorm) this.fwd.loopNorm(row.x!, row.T);
        row.loop++;
        continue;
      }
      s.pos += row.T;
      s.row = null;
      if (!row.samples) continue;
      const l = logitsOf.get(s)!;
      const id = s.req.sampler.sample(l.logits, l.offset, V);
      const loopsRun = this.loopsRun(this.opts.oracle && row.decode ? s.tracker.oracleLoops() : row.loop + 1);
      if (!s.req.eos.has(id)) {
        this.exitHistogram[loopsRun - 1]++;
        emitted++;
      }
      const reason = s.req.accept(id, loopsRun, s.pos < s.req.total);
      if (reason) sched.retire(s, reason);
      else s.lastId = id;
    }
    this.rate.add(emitted);
  }

  /**
   * KV of the loops that exited rows skipped, at their positions: 'copy' copies now; 'propagate'
   * leaves the exited state with the sequence, for the next step's block pass (pendingFills).
   */
  private fillSkipped(exited: Seq[]): void {
    const plan = this.fwd.plan;
    const K = plan.blocks[0].length;
    for (const s of exited) {
      const row = s.row!;
      if (this.opts.kvFill !== 'copy') {
        // the skipped loops' keys and values come from the state the next loop would have started from
        let x = row.x!;
        if (this.loopNorm) this.fwd.loopNorm((x = x.slice()), row.T);
        s.fill = { x, pos0: row.pos0, T: row.T, exitedAfter: row.loop };
        continue;
      }
      const from = plan.blocks[row.loop];
      for (let b = row.loop + 1; b < this.blockLoops; b++)
        for (let k = 0; k < K; k++) for (let t = 0; t < row.T; t++) this.pool.copyPosition(s.kv, from[k], plan.blocks[b][k], row.pos0 + t);
    }
  }

  /** Per shared slot, the propagate fills due this step: one batch over every (sequence, skipped loop) pair. */
  private pendingFills(seqs: Seq[]): { x: Float32Array; groups: DepthGroup[] }[] | null {
    const due = seqs.filter((s) => s.fill);
    if (due.length === 0) return null;
    const plan = this.fwd.plan;
    const xs: Float32Array[] = [], skipped: { b: number; seqs: Seq[] }[] = [];
    for (let b = 1; b < this.blockLoops; b++) {
      const seqs = due.filter((s) => s.fill!.exitedAfter < b);
      if (seqs.length === 0) continue;
      skipped.push({ b, seqs });
      for (const s of seqs) xs.push(s.fill!.x);
    }
    const x = concatF32(xs);
    return plan.blocks[0].map((_, k) => ({
      x,
      groups: skipped.map(({ b, seqs }) => ({ depth: plan.blocks[b][k], segs: seqs.map((s) => ({ kv: s.kv, pos0: s.fill!.pos0, T: s.fill!.T })) })),
    }));
  }
}

function concatF32(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function concatI32(parts: Int32Array[]): Int32Array {
  const out = new Int32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Hands each row its slice of the batch's residual stream. */
function split(x: Float32Array, rows: Row[], D: number): void {
  let o = 0;
  for (const r of rows) {
    r.x = x.slice(o, o + r.T * D);
    o += r.T * D;
  }
}
