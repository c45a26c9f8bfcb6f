// The request queue and the batch's slots. Admission is first come, first served with
// head-of-line blocking: the oldest waiting request is admitted when a slot is free AND the
// KV pool can reserve pages for its whole prompt + max tokens (so a running sequence never
// runs out of cache mid-generation); otherwise it, and everyone behind it, waits. A request
// that could never fit the whole pool fails at once instead of blocking the queue forever.
// The queue is bounded: once maxQueue requests wait beyond the free slots (requests the next
// step admits do not count), submit throws EngineBusyError.
import { checkQueueRoom } from './errors.js';
import { ExitTracker } from './early-exit.js';
import type { KvPool, KvSeq } from './kv-pool.js';
import type { Request } from './request.js';

/** A row in flight: T tokens of one sequence, after `loop` completed loops (0-based loop it runs next). */
export interface Row {
  ids: Int32Array;
  pos0: number;
  T: number;
  loop: number;
  /** residual stream [T, D] between steps */
  x: Float32Array | null;
  /** its last token's distribution gives the next token (decode rows and the last prefill chunk) */
  samples: boolean;
  decode: boolean;
}

export interface Seq {
  req: Request;
  kv: KvSeq;
  /** positions whose KV is complete at every depth (or pending in `fill`) */
  pos: number;
  /**
   * The propagate fill of the last exited token (its final state and the loop it left after),
   * written during the next step's block pass: before any row of this sequence can reach a
   * skipped loop, since its next token starts at loop 1. Dropped with the sequence.
   */
  fill: { x: Float32Array; pos0: number; T: number; exitedAfter: number } | null;
  /** the last sampled token, fed at the next decode row */
  lastId: number;
  row: Row | null;
  tracker: ExitTracker;
}

export class Scheduler {
  readonly queue: Request[] = [];
  readonly active: Seq[] = [];

  constructor(readonly pool: KvPool, readonly maxBatch: number, readonly maxQueue: number) {}

  enqueue(req: Request): void {
    checkQueueRoom(this.queue.length, this.maxBatch - this.active.length, this.maxQueue);
    this.queue.push(req);
  }

  get idle(): boolean {
    return this.queue.length === 0 && this.active.length === 0;
  }

  /** Drops cancelled requests from the queue and the batch, freeing their pages. */
  reapCancelled(): void {
    for (let i = this.queue.length - 1; i >= 0; i--)
      if (this.queue[i].cancelled) {
        this.queue[i].finish('cancelled');
        this.queue.splice(i, 1);
      }
    for (const s of [...this.active]) if (s.req.cancelled) this.retire(s, 'cancelled');
  }

  /** Fills free slots from the queue, oldest first. */
  admit(): void {
    while (this.queue.length > 0 && this.active.length < this.maxBatch) {
      const req = this.queue[0];
      if (this.pool.pagesFor(req.total) > this.pool.nPages) {
        this.queue.shift();
        req.finish('error', `the request needs ${this.pool.pagesFor(req.total)} KV pages (${req.total} positions at every depth); the pool holds ${this.pool.nPages}`);
        continue;
      }
      const kv = this.pool.allocate(req.total);
      if (!kv) return;
      this.queue.shift();
      this.active.push({ req, kv, pos: 0, lastId: -1, row: null, fill: null, tracker: new ExitTracker() });
    }
  }

  retire(s: Seq, reason: Parameters<Request['finish']>[0], error?: string): void {
    const i = this.active.indexOf(s);
    if (i >= 0) this.active.splice(i, 1);
    this.pool.release(s.kv);
    s.req.finish(reason, error);
  }
}
