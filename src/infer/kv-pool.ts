// A paged key/value cache shared by every sequence of an engine: fixed-size pages of
// `pageSize` tokens × Hkv·Dh floats (keys and values), drawn from a pool sized by a byte
// budget. Each sequence owns one page table per UNROLLED depth (a recursive model's loops
// share weights, never KV). Decode rows attend straight from the pages
// (attention_decode_paged_f32, when the page size is a multiple of 16), and so do prompt chunks in
// the fused layer (batch_layer_f32); on the composed path prompt chunks gather a
// sequence's pages into contiguous scratch [S, Hkv, Dh] and run the ordinary attention kernel.
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
  /** pages[depth][i] holds positions i·pageSize .. (i+1)·pageSize − 1 */
  readonly pages: number[][];
  /** debug only: written[depth][pos] */
  readonly written: Uint8Array[] | null = null;
  capacity = 0;

  constructor(nDepths: number, debug: boolean) {
    this.pages = Array.from({ length: nDepths }, () => []);
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
    for (let p = this.nPages - 1; p >= 0; p--) this.free.push(p);
  }

  get freePages(): number {
    return this.free.length;
  }

  get bytesUsed(): number {
    return (this.nPages - this.free.length) * this.pageBytes;
  }

  get bytesBudget(): number {
    return this.nPages * this.pageBytes;
  }

  /** Pages a sequence of `tokens` positions needs over all depths. */
  pagesFor(tokens: number): number {
    return Math.ceil(tokens / this.pageSize) * this.opts.nDepths;
  }

  /** A sequence with room for `tokens` positions, or null when the pool cannot hold it now. */
  allocate(tokens: number): KvSeq | null {
    const need = this.pagesFor(tokens);
    if (need > this.free.length) return null;
    const seq = new KvSeq(this.opts.nDepths, this.opts.debug ?? false);
    const perDepth = need / this.opts.nDepths;
    const span = this.pageSize * this.opts.rowSize;
    for (const table of seq.pages)
      for (let i = 0; i < perDepth; i++) {
        const p = this.free.pop()!;
        if (this.opts.debug) {
          this.k.fill(NaN, p * span, (p + 1) * span);
          this.v.fill(NaN, p * span, (p + 1) * span);
        }
        table.push(p);
      }
    seq.capacity = perDepth * this.pageSize;
    if (seq.written) for (let d = 0; d < this.opts.nDepths; d++) seq.written.push(new Uint8Array(seq.capacity));
    return seq;
  }

  release(seq: KvSeq): void {
    for (const table of seq.pages) {
      for (const p of table) this.free.push(p);
      table.length = 0;
    }
    seq.capacity = 0;
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
   * written). pages is valid until the next call.
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

  private checkWritten(seq: KvSeq, depth: number, S: number): void {
    const w = seq.written![depth];
    for (let p = 0; p < S; p++) if (!w[p]) throw new Error(`attention at depth ${depth} reads position ${p}, which was never written (a hole in the KV cache)`);
  }

  /** Keys and values of positions 0..S−1 of `depth`, contiguous [S, rowSize] (valid until the next gather). */
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
      const src = table[i] * P * R;
      this.scratchK.set(this.k.subarray(src, src + n), i * P * R);
      this.scratchV.set(this.v.subarray(src, src + n), i * P * R);
    }
    return { k: this.scratchK.subarray(0, S * R), v: this.scratchV.subarray(0, S * R) };
  }
}
