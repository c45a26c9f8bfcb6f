// A paged key/value cache shared by every sequence of an engine: fixed-size pages of
// `pageSize` tokens × Hkv·Dh floats (keys and values), drawn from a pool sized by a byte
// budget. Each sequence owns one page table per UNROLLED depth (a recursive model's loops
// share weights, never KV). Decode rows attend straight from the pages
// (attention_decode_paged_f32, when the page size is a multiple of 16), and so do prompt chunks in
// the fused layer (batch_layer_f32); on the composed path prompt chunks gather a
// sequence's pages into contiguous scratch [S, Hkv, Dh] and run the ordinary attention kernel.
// Depths with a sliding window (option `windows`) hold only the pages their window can still
// reach: they bind pages as positions arrive and return the ones behind the window to the free
// list, so a sequence's memory there is bounded by the window, not its length.
import { freemem } from 'node:os';
import { InputError } from '../errors.js';
import { hugeF32 } from '../tensor/huge-pages.js';
import { kernels } from '../tensor/kernels.js';

export interface KvPoolOptions {
  /** bytes for keys and values of every page together */
  budgetBytes: number;
  nDepths: number;
  /** Hkv·Dh */
  rowSize: number;
  /** @default 16 */
  pageSize?: number;
  /** tests: fill pages with NaN when handed out, and keep a written bitmap per (depth, position) */
  debug?: boolean;
  /**
   * touch every page now, so that serving never stalls on a first touch: this VM zeroes a fresh
   * 2 MB page in ~4 ms, which landed inside decode steps (a 256 MiB pool takes ~0.5 s up front)
   */
  prefault?: boolean;
  /**
   * Sliding window per unrolled depth (0: full attention; absent: every depth full). At a depth
   * with window W, each write of positions from p on first returns to the free list the pages
   * wholly before p − W + 1 (no query from p on reads them), then binds pages for the new
   * positions. Such a depth reserves room for W + maxRun − 1 positions per sequence (at most its
   * own length): pages in use there stay within ⌈(W + maxRun − 2)/pageSize⌉ + 1, with one-token
   * steps at most the window plus one page. Attention at that depth must pass the same window
   * (attendDecode's `window`): table entries before it are −1.
   */
  windows?: number[];
  /**
   * the most positions one step writes to one sequence at one depth (the engine's prefill chunk);
   * sizes what windowed depths reserve. A longer run takes pages beyond the reservation when the
   * pool has unpromised ones, else it fails. @default 64
   */
  maxRun?: number;
}

/** T positions from pos0 of one sequence at one depth. */
export interface KvRun {
  seq: KvSeq;
  depth: number;
  pos0: number;
  T: number;
}

/** A decode row: the token at position `pos` of a sequence at one depth, row `row` of its batch. */
export interface DecodeRow {
  seq: KvSeq;
  depth: number;
  pos: number;
  row: number;
}

/** One sequence's share of the pool: a page table per depth, all grown together. */
export class KvSeq {
  /** pages[depth][i] holds positions i·pageSize .. (i+1)·pageSize − 1; −1 at a windowed depth: not bound (yet, or any more) */
  readonly pages: number[][];
  /** debug only: written[depth][pos] */
  readonly written: Uint8Array[] | null = null;
  capacity = 0;
  /** windowed depths: pages promised to this sequence, pages bound now, and the first table entry that may be bound */
  readonly reserved: number[];
  readonly bound: number[];
  readonly firstBound: number[];

  constructor(nDepths: number, debug: boolean) {
    this.pages = Array.from({ length: nDepths }, () => []);
    this.reserved = new Array<number>(nDepths).fill(0);
    this.bound = new Array<number>(nDepths).fill(0);
    this.firstBound = new Array<number>(nDepths).fill(0);
    if (debug) this.written = [];
  }
}

export class KvPool {
  readonly pageSize: number;
  readonly nPages: number;
  readonly pageBytes: number;
  /** the keys and values of every page, [nPages · pageSize, rowSize] each (for the native layer; write through write()) */
  readonly k: Float32Array;
  readonly v: Float32Array;
  private readonly free: number[] = [];
  /** free pages promised to sequences' windowed depths (not bound yet) */
  private promised = 0;
  private readonly windows: number[];
  private readonly maxRun: number;
  private scratchK = new Float32Array(0);
  private scratchV = new Float32Array(0);
  private tables = new Int32Array(0);
  private rowsAt = new Int32Array(0);

  constructor(readonly opts: KvPoolOptions) {
    this.pageSize = opts.pageSize ?? 16;
    if (!Number.isInteger(this.pageSize) || this.pageSize < 1) throw new InputError('bad_option', `KV page size must be a positive integer, got ${this.pageSize}`);
    this.pageBytes = 2 * this.pageSize * opts.rowSize * 4;
    this.nPages = Math.floor(opts.budgetBytes / this.pageBytes);
    if (this.nPages < opts.nDepths)
      throw new InputError('bad_option', `a KV budget of ${opts.budgetBytes} bytes holds ${this.nPages} pages of ${this.pageBytes} bytes; one token needs ${opts.nDepths} (one per depth)`);
    // touching a pool larger than the machine's available memory would get the process killed
    if (opts.prefault && this.bytesBudget > freemem())
      throw new InputError('bad_option', `a KV budget of ${this.bytesBudget} bytes is more than this machine's available memory (${freemem()} bytes); give a smaller budget`);
    // on 2 MB pages: a step's decode attention reads each sequence's pages, scattered over the
    // pool and cold; in a probe (8 rows × 101 keys, cold, one thread) 218 → 193 µs
    this.k = hugeF32(this.nPages * this.pageSize * opts.rowSize);
    this.v = hugeF32(this.k.length);
    if (opts.prefault) {
      this.k.fill(0);
      this.v.fill(0);
    }
    this.windows = opts.windows ?? new Array<number>(opts.nDepths).fill(0);
    this.maxRun = opts.maxRun ?? 64;
    if (this.windows.length !== opts.nDepths || this.windows.some((w) => !Number.isInteger(w) || w < 0))
      throw new InputError('bad_option', `KV windows must be ${opts.nDepths} non-negative integers (one per depth), got [${this.windows}]`);
    if (!Number.isInteger(this.maxRun) || this.maxRun < 1) throw new InputError('bad_option', `KV maxRun must be a positive integer, got ${this.maxRun}`);
    for (let p = this.nPages - 1; p >= 0; p--) this.free.push(p);
  }

  /** Pages neither in use nor promised to a sequence's windowed depth. */
  get freePages(): number {
    return this.free.length - this.promised;
  }

  get bytesUsed(): number {
    return (this.nPages - this.free.length) * this.pageBytes;
  }

  get bytesBudget(): number {
    return this.nPages * this.pageBytes;
  }

  /** Pages a sequence of `tokens` positions needs at one depth (a windowed depth: at most what its window and maxRun reach). */
  private pagesAt(depth: number, tokens: number): number {
    const full = Math.ceil(tokens / this.pageSize), W = this.windows[depth];
    return W > 0 ? Math.min(full, Math.ceil((W + this.maxRun - 2) / this.pageSize) + 1) : full;
  }

  /** Pages a sequence of `tokens` positions needs over all depths. */
  pagesFor(tokens: number): number {
    let n = 0;
    for (let d = 0; d < this.opts.nDepths; d++) n += this.pagesAt(d, tokens);
    return n;
  }

  /** A sequence with room for `tokens` positions, or null when the pool cannot hold it now. */
  allocate(tokens: number): KvSeq | null {
    if (this.pagesFor(tokens) > this.freePages) return null;
    const seq = new KvSeq(this.opts.nDepths, this.opts.debug ?? false);
    const perDepth = Math.ceil(tokens / this.pageSize);
    seq.pages.forEach((table, d) => {
      if (this.windows[d] > 0) {
        // bound as positions arrive (advance), from pages promised now
        for (let i = 0; i < perDepth; i++) table.push(-1);
        seq.reserved[d] = this.pagesAt(d, tokens);
        this.promised += seq.reserved[d];
      } else for (let i = 0; i < perDepth; i++) table.push(this.takePage());
    });
    seq.capacity = perDepth * this.pageSize;
    if (seq.written) for (let d = 0; d < this.opts.nDepths; d++) seq.written.push(new Uint8Array(seq.capacity));
    return seq;
  }

  /** A page off the free list (debug pools fill it with NaN, so a read before a write shows). */
  private takePage(): number {
    const p = this.free.pop()!;
    if (this.opts.debug) {
      const span = this.pageSize * this.opts.rowSize;
      this.k.fill(NaN, p * span, (p + 1) * span);
      this.v.fill(NaN, p * span, (p + 1) * span);
    }
    return p;
  }

  release(seq: KvSeq): void {
    seq.pages.forEach((table, d) => {
      for (const p of table) if (p >= 0) this.free.push(p);
      table.length = 0;
      this.promised -= Math.max(0, seq.reserved[d] - seq.bound[d]);
      seq.reserved[d] = seq.bound[d] = seq.firstBound[d] = 0;
    });
    seq.capacity = 0;
  }

  /**
   * A windowed depth about to hold positions pos0 .. pos0+T−1: the pages wholly before
   * pos0 − W + 1 go back to the free list (no query from pos0 on reads them), and pages for the
   * new positions are bound, first from the sequence's reservation.
   */
  private advance(seq: KvSeq, depth: number, pos0: number, T: number): void {
    const P = this.pageSize, table = seq.pages[depth];
    const keep = Math.floor(Math.max(0, pos0 - this.windows[depth] + 1) / P);
    if (Math.floor(pos0 / P) < seq.firstBound[depth])
      throw new Error(`KV write at depth ${depth} position ${pos0}, behind its window: the page was released`);
    for (let i = seq.firstBound[depth]; i < keep; i++) {
      if (table[i] < 0) continue;
      this.free.push(table[i]);
      table[i] = -1;
      if (--seq.bound[depth] < seq.reserved[depth]) this.promised++;
    }
    seq.firstBound[depth] = Math.max(seq.firstBound[depth], keep);
    for (let i = Math.floor(pos0 / P); i <= Math.floor((pos0 + T - 1) / P); i++) {
      if (table[i] >= 0) continue;
      const promised = seq.bound[depth] < seq.reserved[depth];
      if (!promised && this.freePages < 1)
        throw new InputError('context_overflow', `KV pool full: a run of ${T} positions at windowed depth ${depth} needs pages beyond its reservation (maxRun ${this.maxRun})`);
      table[i] = this.takePage();
      if (promised) this.promised--;
      seq.bound[depth]++;
    }
  }

  /**
   * Stores a step's keys and values: rows of k and v (rowSize floats each) belong to `runs` in
   * order, run i being T positions from pos0 of one sequence at one depth. One native scatter
   * per pool for the whole step.
   */
  write(k: Float32Array, v: Float32Array, runs: readonly KvRun[]): void {
    const at = this.rowsFor(runs);
    kernels.scatter_rows_f32(this.k, k, at, at.length, this.opts.rowSize);
    kernels.scatter_rows_f32(this.v, v, at, at.length, this.opts.rowSize);
    this.markWritten(runs);
  }

  /** The pool row of every position of `runs`, in order (valid until the next call). */
  rowsFor(runs: readonly KvRun[]): Int32Array {
    const P = this.pageSize;
    let n = 0;
    for (const r of runs) n += r.T;
    if (this.rowsAt.length < n) this.rowsAt = new Int32Array(Math.max(n, 2 * this.rowsAt.length));
    let i = 0;
    for (const { seq, depth, pos0, T } of runs) {
      if (pos0 + T > seq.capacity) throw new InputError('context_overflow', `KV write at ${pos0}+${T} past the sequence's ${seq.capacity} reserved positions`);
      if (this.windows[depth] > 0 && T > 0) this.advance(seq, depth, pos0, T);
      const table = seq.pages[depth];
      for (let pos = pos0; pos < pos0 + T; pos++) this.rowsAt[i++] = table[Math.floor(pos / P)] * P + (pos % P);
    }
    return this.rowsAt.subarray(0, n);
  }

  /** Records (debug pools only) that `runs` were written. */
  markWritten(runs: readonly KvRun[]): void {
    for (const { seq, depth, pos0, T } of runs) if (seq.written) seq.written[depth].fill(1, pos0, pos0 + T);
  }

  /** Copies position `pos` of depth `from` into depth `to` (the `copy` fill of skipped loops). */
  copyPosition(seq: KvSeq, from: number, to: number, pos: number): void {
    const R = this.opts.rowSize, P = this.pageSize;
    if (this.windows[to] > 0) this.advance(seq, to, pos, 1);
    if (seq.pages[from][Math.floor(pos / P)] < 0) throw new Error(`KV copy from depth ${from} position ${pos}, whose page is not bound`);
    const at = (d: number) => (seq.pages[d][Math.floor(pos / P)] * P + (pos % P)) * R;
    const src = at(from), dst = at(to);
    this.k.copyWithin(dst, src, src + R);
    this.v.copyWithin(dst, src, src + R);
    if (seq.written) {
      if (!seq.written[from][pos]) throw new Error(`KV copy from depth ${from} position ${pos}, which was never written`);
      seq.written[to][pos] = 1;
    }
  }

  /** True when decode rows can attend straight from the pages (attendDecode). */
  get paged(): boolean {
    return this.pageSize % 16 === 0;
  }

  /**
   * Attention of consecutive decode rows, one query each, straight from the pages: row i of the
   * run is the token at position run[i].pos of its sequence at run[i].depth. q and out hold the
   * run's rows from row run[0].row on ([rows, H·Dh] each). window and softcap: as
   * attention_fwd_f32's (0: none).
   */
  attendDecode(out: Float32Array, q: Float32Array, run: readonly DecodeRow[], H: number, Hkv: number, Dh: number, scale: number, window = 0, softcap = 0): void {
    const n = run.length, width = H * Dh;
    const { pages, start, pos } = this.decodeTables(run);
    const r0 = run[0].row * width;
    kernels.attention_decode_paged_f32(out.subarray(r0, r0 + n * width), q.subarray(r0, r0 + n * width), this.k, this.v, pages, start, pos, n, H, Hkv, Dh, this.pageSize, scale, window, softcap);
  }

  /**
   * The page tables of decode rows, for attention_decode_paged_f32 and batch_layer_f32: row i's
   * table is pages[start[i] ..], covering positions 0..pos[i] (debug pools check that each was
   * written); at a windowed depth entries before the window are −1. pages is valid until the next
   * call.
   */
  decodeTables(run: readonly DecodeRow[]): { pages: Int32Array; start: Int32Array; pos: Int32Array } {
    const P = this.pageSize, n = run.length;
    let need = 0;
    for (const e of run) need += Math.floor(e.pos / P) + 1;
    if (this.tables.length < need) this.tables = new Int32Array(Math.max(need, 2 * this.tables.length));
    const start = new Int32Array(n), pos = new Int32Array(n);
    let at = 0;
    run.forEach((e, i) => {
      if (e.seq.written) this.checkWritten(e.seq, e.depth, e.pos + 1);
      const table = e.seq.pages[e.depth], used = Math.floor(e.pos / P) + 1;
      for (let j = 0; j < used; j++) this.tables[at + j] = table[j];
      start[i] = at;
      pos[i] = e.pos;
      at += used;
    });
    return { pages: this.tables, start, pos };
  }

  /** Positions 0..S−1 of `depth` were written (at a windowed depth: those on pages still held). */
  private checkWritten(seq: KvSeq, depth: number, S: number): void {
    const w = seq.written![depth];
    for (let p = seq.firstBound[depth] * this.pageSize; p < S; p++)
      if (!w[p]) throw new Error(`attention at depth ${depth} reads position ${p}, which was never written (a hole in the KV cache)`);
  }

  /**
   * Keys and values of positions 0..S−1 of `depth`, contiguous [S, rowSize] (valid until the next
   * gather). At a windowed depth, positions whose pages were released read as NaN: attention with
   * the depth's window never reads them.
   */
  gather(seq: KvSeq, depth: number, S: number): { k: Float32Array; v: Float32Array } {
    const R = this.opts.rowSize, P = this.pageSize;
    if (seq.written) this.checkWritten(seq, depth, S);
    if (this.scratchK.length < S * R) {
      this.scratchK = new Float32Array(Math.max(S * R, 2 * this.scratchK.length));
      this.scratchV = new Float32Array(this.scratchK.length);
    }
    const table = seq.pages[depth];
    for (let i = 0; i * P < S; i++) {
      const n = Math.min(P, S - i * P) * R;
      if (table[i] < 0) {
        this.scratchK.fill(NaN, i * P * R, i * P * R + n);
        this.scratchV.fill(NaN, i * P * R, i * P * R + n);
        continue;
      }
      const src = table[i] * P * R;
      this.scratchK.set(this.k.subarray(src, src + n), i * P * R);
      this.scratchV.set(this.v.subarray(src, src + n), i * P * R);
    }
    return { k: this.scratchK.subarray(0, S * R), v: this.scratchV.subarray(0, S * R) };
  }
}
