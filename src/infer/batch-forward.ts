// The engine's forward pass over a batch of rows that may sit at different depths: each
// row is a run of T consecutive tokens of one sequence (a decode token, or a prefill chunk),
// each group of rows runs one unrolled depth. A projection whose weight tensor is the same
// for every group (a recursive model's shared slot) is ONE matrix product over all rows, then
// per-group bias and LoRA ((X_g·Aᵀ)·Bᵀ); attention runs per row over its paged KV at that
// row's depth. Same kernels, same operation order per row as Decoder.layer, so each row's
// numbers match the single-stream decoder whenever the GEMM takes the same path.
import { InputError } from '../errors.js';
import type { Decoder } from '../models/decoder.js';
import { type LayerOps, runLayer } from '../models/layer.js';
import type { LayerNormName, Linear, Norm } from '../models/weights.js';
import { Act, kernels, native } from '../tensor/kernels.js';
import { adapterArgs, type DecodeLayerWeights, type DecodeProj, qtypeArgs, storage } from '../tensor/ops/decode-layer.js';
import { embeddingRows } from '../tensor/ops/embedding.js';
import { softcapInPlace } from '../tensor/ops/elementwise.js';
import { matmulWeight } from '../tensor/ops/linear.js';
import type { Tensor } from '../tensor/tensor.js';
import type { DecodeRow, KvPool, KvRun, KvSeq } from './kv-pool.js';

const NO_FREQ = new Float32Array(0);

/** T tokens of one sequence at positions pos0..pos0+T−1. */
export interface Segment {
  kv: KvSeq;
  pos0: number;
  T: number;
}

/** Rows that run one depth; a batch's rows are its groups' segments, concatenated in order. */
export interface DepthGroup {
  depth: number;
  segs: Segment[];
}

/**
 * Where the depths sit in a step: unique first layers (run when a token enters loop 1), the
 * block of each loop (same slots in the same order for every loop), unique last layers (run
 * when a token leaves). A vanilla model, or a recursive one whose loops do not repeat one
 * block (sequence strategies), is one loop whose block is every depth.
 */
export interface DepthPlan {
  prefix: number[];
  blocks: number[][];
  suffix: number[];
  nLoops: number;
}

export function depthPlan(decoder: Decoder): DepthPlan {
  const L = decoder.nLayers;
  const whole: DepthPlan = { prefix: [], blocks: [Array.from({ length: L }, (_, l) => l)], suffix: [], nLoops: 1 };
  const rec = decoder.config.recursive;
  if (!rec || rec.plan.nLoops < 2 || !rec.plan.strategy.endsWith('cycle')) return whole;
  const u = rec.plan.unrolled;
  const shared = u.map((_, l) => l).filter((l) => !u[l].unique);
  const first = shared[0], last = shared[shared.length - 1];
  const blocks = Array.from({ length: rec.plan.nLoops }, (_, b) => shared.filter((l) => u[l].loop === b));
  const K = blocks[0].length;
  const sameSlots = blocks.every((blk) => blk.length === K && blk.every((l, k) => u[l].slot === u[blocks[0][k]].slot));
  const contiguous = shared.length === last - first + 1 && blocks.flat().every((l, i) => l === first + i);
  if (!sameSlots || !contiguous) return whole;
  return {
    prefix: u.map((_, l) => l).filter((l) => l < first),
    blocks,
    suffix: u.map((_, l) => l).filter((l) => l > last),
    nLoops: blocks.length,
  };
}

function segTokens(segs: Segment[]): number {
  let n = 0;
  for (const s of segs) n += s.T;
  return n;
}

function rowsOf(groups: DepthGroup[]): number {
  let n = 0;
  for (const g of groups) n += segTokens(g.segs);
  return n;
}

/** The KV runs of the groups' rows, in row order. */
function kvRuns(groups: DepthGroup[]): KvRun[] {
  return groups.flatMap((g) => g.segs.map((s) => ({ seq: s.kv, depth: g.depth, pos0: s.pos0, T: s.T })));
}

/** The position of every row of the groups, in row order. */
function rowPositions(groups: DepthGroup[]): Int32Array {
  const pos = new Int32Array(rowsOf(groups));
  let r = 0;
  for (const g of groups) for (const s of g.segs) for (let t = 0; t < s.T; t++) pos[r++] = s.pos0 + t;
  return pos;
}

/**
 * A layer's rows: x [rows of groups, D], and the rows that get keys and values, kvX [rows of
 * kvGroups, D]: the batch's own, then the propagate-fill rows (kvGroups = groups without fills).
 */
interface LayerRows {
  x: Float32Array;
  groups: DepthGroup[];
  kvX: Float32Array;
  kvGroups: DepthGroup[];
}

/**
 * A step's intermediate buffers, one per purpose, kept between calls and grown on demand: a
 * step of 32 rows otherwise allocates ~18 MB of short-lived typed arrays, and their zeroing
 * and garbage collection (whose helper threads compete with the kernels' second thread) cost
 * several percent of the step. A buffer is valid until its purpose is asked for again.
 */
class StepBuffers {
  private readonly bufs = new Map<string, Float32Array>();

  get(purpose: string, n: number): Float32Array {
    let b = this.bufs.get(purpose);
    if (!b || b.length < n) {
      b = new Float32Array(Math.max(n, 2 * (b?.length ?? 0)));
      this.bufs.set(purpose, b);
    }
    return b.subarray(0, n);
  }
}


export class BatchForward {
  readonly plan: DepthPlan;
  private readonly D: number;
  private readonly qkvCols: [Int32Array, Int32Array, Int32Array] | null;
  private readonly buf = new StepBuffers();

  /**
   * @param fused run a layer as one native call where it applies (llama-style layers, weights
   * shared by every group, rows within the GEMV range); false: always the composed kernels, which
   * it matches bit for bit on decode rows
   */
  constructor(readonly decoder: Decoder, readonly pool: KvPool, readonly fused = true) {
    this.plan = depthPlan(decoder);
    const cfg = decoder.config;
    this.D = cfg.hidden;
    // The decoder's own column map of fused qkv layouts (GPT-2, NeoX); read rather than re-derived.
    this.qkvCols = decoder.qkvCols;
  }

  /** Token (and learned position) embeddings of every row: [N, D]. */
  embed(ids: Int32Array, pos: Int32Array): Float32Array {
    const cfg = this.decoder.config, w = this.decoder.weights;
    const N = ids.length, D = this.D;
    for (let i = 0; i < N; i++)
      if (!(ids[i] >= 0 && ids[i] < cfg.vocabSize)) throw new InputError('token_out_of_range', `token id ${ids[i]} is outside the vocabulary [0, ${cfg.vocabSize})`);
    let x = new Float32Array(N * D);
    embeddingRows(x, w.embed, ids);
    if (cfg.embedScale !== 1) kernels.scale_f32(x, x, cfg.embedScale, N * D);
    if (w.pos) {
      const p = new Float32Array(N * D);
      kernels.embedding_fwd_f32(p, w.pos.f32, pos, N, cfg.maxPositions, D);
      const sum = new Float32Array(N * D);
      kernels.add_f32(sum, x, p, N * D);
      x = sum;
    }
    return x;
  }

  /** a then b, in the 'rowsAndFill' buffer */
  private concat(a: Float32Array, b: Float32Array): Float32Array {
    const out = this.buf.get('rowsAndFill', a.length + b.length);
    out.set(a);
    out.set(b, a.length);
    return out;
  }

  private norm(y: Float32Array, x: Float32Array, n: Norm, rows: number): void {
    const cfg = this.decoder.config;
    if (cfg.normKind === 'layer') kernels.layernorm_fwd_f32(y, null, null, x, n.w.f32, n.b?.f32 ?? null, rows, this.D, cfg.normEps);
    else kernels.rmsnorm_fwd_f32(y, null, x, n.w.f32, rows, this.D, cfg.normEps, cfg.normKind === 'rmsPlusOne' ? 1 : 0);
  }

  /** Per group, its depth's norm of its rows; one call for consecutive groups sharing a norm (a recursive model's shared norms). */
  private normGroups(x: Float32Array, groups: DepthGroup[], which: LayerNormName): Float32Array {
    const D = this.D, layers = this.decoder.weights.layers;
    const y = this.buf.get(which, x.length);
    let r = 0;
    const normOf = (g: DepthGroup) => layers[g.depth][which]!;
    for (let i = 0; i < groups.length;) {
      const n = normOf(groups[i]);
      let rows = 0;
      for (; i < groups.length && normOf(groups[i]).w === n.w && normOf(groups[i]).b === n.b; i++) rows += segTokens(groups[i].segs);
      this.norm(y.subarray(r * D, (r + rows) * D), x.subarray(r * D, (r + rows) * D), n, rows);
      r += rows;
    }
    return y;
  }

  /**
   * The norm of q or k ([rows, heads, Dh]): each group's rows with its depth's norm, over every
   * head's Dh values (Qwen3) or over each row's heads·Dh values at once (OLMo-2); one call for
   * consecutive groups sharing the norm.
   */
  private headNormGroups(x: Float32Array, groups: DepthGroup[], which: 'qNorm' | 'kNorm', heads: number, whole: boolean): Float32Array {
    const cfg = this.decoder.config, layers = this.decoder.weights.layers;
    const Dh = cfg.headDim, width = heads * Dh;
    const y = this.buf.get(which, x.length);
    const normOf = (g: DepthGroup) => layers[g.depth][which]!;
    let r = 0;
    for (let i = 0; i < groups.length;) {
      const n = normOf(groups[i]);
      let rows = 0;
      for (; i < groups.length && normOf(groups[i]).w === n.w; i++) rows += segTokens(groups[i].segs);
      const [normRows, normWidth] = whole ? [rows, width] : [rows * heads, Dh];
      kernels.rmsnorm_fwd_f32(y.subarray(r * width, (r + rows) * width), null, x.subarray(r * width, (r + rows) * width), n.w.f32, normRows, normWidth, cfg.normEps, cfg.normKind === 'rmsPlusOne' ? 1 : 0);
      r += rows;
    }
    return y;
  }

  /** y = x·Wᵀ + b + (x·Aᵀ)·Bᵀ with each group's depth's projection; one GEMM when the groups share W. */
  private project(x: Float32Array, groups: DepthGroup[], pick: (depth: number) => Linear, purpose: string): Float32Array {
    const lins = groups.map((g) => pick(g.depth));
    const [nOut, nIn] = lins[0].w.shape;
    const sizes = groups.map((g) => segTokens(g.segs));
    const N = sizes.reduce((a, b) => a + b, 0);
    const y = this.buf.get(purpose, N * nOut);
    const sharedW = lins.every((l) => l.w === lins[0].w);
    if (sharedW) matmulWeight(y, x, lins[0].w, N);
    let r = 0;
    groups.forEach((_, i) => {
      const n = sizes[i], lin = lins[i];
      const yg = y.subarray(r * nOut, (r + n) * nOut), xg = x.subarray(r * nIn, (r + n) * nIn);
      if (!sharedW) matmulWeight(yg, xg, lin.w, n);
      if (lin.b) kernels.add_bias_f32(yg, lin.b.f32, n, nOut);
      if (lin.lora) {
        const rank = lin.lora.a.shape[0];
        const t = this.buf.get('loraT', n * rank), u = this.buf.get('loraU', n * nOut);
        matmulWeight(t, xg, lin.lora.a, n);
        matmulWeight(u, t, lin.lora.b, n);
        kernels.add_f32(yg, yg, u, n * nOut);
      }
      r += n;
    });
    return y;
  }

  /**
   * Runs each group's depth over its rows of x [N, D] (groups in row order); writes their KV;
   * returns the new x, in a buffer the layer after next reuses (copy what must live longer).
   * `fill` rows (the propagate fill of loops that exited tokens skipped, at depths sharing this
   * layer's weights) ride along the batch's own norm and k/v projections as extra rows: one
   * product over the shared weights instead of a second pass. The fused layer takes every row
   * where it applies, a prompt chunk's tokens as rows of their own; past its row limit, when the
   * leading groups are decode rows and the rest prompt chunks (the engine's order), the decode
   * rows (and fills) still take it and the chunks the composed kernels, each into its own rows
   * of the output.
   */
  layer(x: Float32Array, groups: DepthGroup[], fill?: { x: Float32Array; groups: DepthGroup[] }): Float32Array {
    const D = this.D;
    // layers chain (each one's output is the next one's x): the output alternates between two buffers
    let out = this.buf.get('outA', x.length);
    if (out.buffer === x.buffer) out = this.buf.get('outB', x.length);
    const withFill = fill !== undefined && fill.groups.length > 0;
    const rowsWithFill = (x: Float32Array, groups: DepthGroup[]): LayerRows =>
      ({ x, groups, kvX: withFill ? this.concat(x, fill.x) : x, kvGroups: withFill ? [...groups, ...fill.groups] : groups });
    if (!this.fused) {
      this.composedLayer(rowsWithFill(x, groups), out);
      return out;
    }
    if (this.fusedLayer(rowsWithFill(x, groups), out)) return out;
    // past the fused layer's row limit: the decode rows (and fills) alone if they fit
    let nDecode = 0;
    while (nDecode < groups.length && groups[nDecode].segs.every((s) => s.T === 1)) nDecode++;
    if (nDecode > 0 && nDecode < groups.length) {
      const Nd = rowsOf(groups.slice(0, nDecode)) * D;
      if (this.fusedLayer(rowsWithFill(x.subarray(0, Nd), groups.slice(0, nDecode)), out.subarray(0, Nd))) {
        const chunks = groups.slice(nDecode), xc = x.subarray(Nd);
        this.composedLayer({ x: xc, groups: chunks, kvX: xc, kvGroups: chunks }, out.subarray(Nd));
        return out;
      }
    }
    this.composedLayer(rowsWithFill(x, groups), out);
    return out;
  }

  /** The layer as one native call (batch_layer_f32) into y; false where it does not apply (nothing written). */
  private fusedLayer({ x, groups, kvX, kvGroups }: LayerRows, y: Float32Array): boolean {
    const spec = this.decoder.fusedSpec;
    const R = rowsOf(kvGroups);
    if (!spec || !native || !this.pool.paged || R > 64) return false;
    const layers = this.decoder.weights.layers;
    const ws: DecodeLayerWeights[] = [];
    for (const g of kvGroups) {
      const w = this.decoder.fusedWeights(layers[g.depth]);
      if (!w) return false;
      ws.push(w);
    }
    // one GEMV per projection over every row: the groups must share weights and biases
    const w0 = ws[0], projs = [w0.q, w0.k, w0.v, w0.o, w0.gate, w0.up, w0.down];
    let anyF32 = false;
    for (const w of ws) {
      const mine = [w.q, w.k, w.v, w.o, w.gate, w.up, w.down];
      for (let i = 0; i < 7; i++) {
        if (mine[i].w !== projs[i].w || mine[i].b !== projs[i].b) return false;
        anyF32 ||= mine[i].w.dtype === 'f32' || (mine[i].lora != null && (mine[i].lora!.a.dtype === 'f32' || mine[i].lora!.b.dtype === 'f32'));
      }
    }
    if (anyF32 && R > 32) return false; // past the GEMV range (32 rows f32, 64 bf16) the composed ops pack and sum in another order

    const runs = kvRuns(kvGroups);
    const rowsAt = this.pool.rowsFor(runs);
    this.pool.markWritten(runs);
    const decodeRows: DecodeRow[] = [];
    // a prompt chunk's T tokens are T rows, each attending to positions 0..its own (all written before attention)
    for (const g of groups) for (const s of g.segs) for (let t = 0; t < s.T; t++) decodeRows.push({ seq: s.kv, depth: g.depth, pos: s.pos0 + t, row: decodeRows.length });
    const tables = this.pool.decodeTables(decodeRows);
    const bias = (p: DecodeProj) => (p.b ? p.b.f32 : null);
    // a norm of every group's depth, or of the decode groups' (null where the architecture has none)
    const all = (n: (w: DecodeLayerWeights) => Tensor | null | undefined) => (n(w0) ? ws.map((w) => n(w)!.f32) : null);
    const decode = (n: (w: DecodeLayerWeights) => Tensor | null | undefined) => (n(w0) ? ws.slice(0, groups.length).map((w) => n(w)!.f32) : null);
    const rope = spec.rope, dec = this.decoder;
    // each depth's window and rotary frequencies (Gemma 2/3), null where every group has the model's
    const windows = dec.config.windows ? Int32Array.from(groups, (g) => dec.attentionAt(g.depth).window ?? 0) : null;
    const invFreqs = kvGroups.some((g) => dec.ropeAt(g.depth) !== rope) ? kvGroups.map((g) => dec.ropeAt(g.depth)?.invFreq ?? NO_FREQ) : null;
    native.batch_layer_f32(
      y, kvX, this.pool.k, this.pool.v, storage(w0.q.w), storage(w0.k.w), storage(w0.v.w), storage(w0.o.w), storage(w0.gate.w), storage(w0.up.w), storage(w0.down.w),
      bias(w0.q), bias(w0.k), bias(w0.v), bias(w0.o), bias(w0.gate), bias(w0.up), bias(w0.down), rope ? rope.invFreq : NO_FREQ,
      Int32Array.from(kvGroups, (g) => segTokens(g.segs)), groups.length, all((w) => w.attnNorm), decode((w) => w.mlpNorm),
      ws.map((w) => adapterArgs([w.q, w.k, w.v, w.o, w.gate, w.up, w.down])),
      rowsAt, rowPositions(kvGroups), tables.pages, tables.start, this.pool.pageSize,
      this.D, spec.H, spec.Hkv, spec.Dh, spec.F, rope ? rope.rotDim : 0, rope?.interleaved ? 1 : 0, spec.eps, spec.plusOne ? 1 : 0, spec.act, spec.parallelResidual ? 1 : 0, spec.scale,
      qtypeArgs(projs),
      decode((w) => w.qNorm), all((w) => w.kNorm), decode((w) => w.postAttnNorm), decode((w) => w.postMlpNorm),
      windows, invFreqs, spec.softcap,
    );
    return true;
  }

  /**
   * The layer as composed kernel calls into out: any architecture, any rows. The architecture's
   * layer (models/layer.ts) over row groups: a value's groups follow from its row count (the
   * layer's own rows, or those plus the fill rows that need keys and values only).
   */
  private composedLayer({ x, groups, kvX, kvGroups }: LayerRows, out: Float32Array): void {
    const cfg = this.decoder.config, layers = this.decoder.weights.layers;
    const { nHeads: H, nKvHeads: Hkv, headDim: Dh } = cfg;
    const D = this.D, nOwn = rowsOf(groups), nAll = rowsOf(kvGroups);
    const groupsOf = (values: number, width: number): DepthGroup[] => {
      const rows = values / width;
      if (rows === nOwn) return groups;
      if (rows === nAll) return kvGroups;
      throw new Error(`batch layer: ${rows} rows of ${width} are neither the ${nOwn} own rows nor the ${nAll} with fills`);
    };
    const act = Act[cfg.act];
    const ops: LayerOps<Float32Array> = {
      attnInput: () => kvX,
      queryRows: (h) => h.subarray(0, nOwn * D),
      norm: (v, which) => this.normGroups(v, groupsOf(v.length, D), which),
      project: (v, which) => this.project(v, groupsOf(v.length, layers[groups[0].depth].proj[which]!.w.shape[1]), (d) => layers[d].proj[which]!, which),
      splitQkv: (qkv) => {
        const cols = this.qkvCols!;
        const width = (H + 2 * Hkv) * Dh, N = qkv.length / width;
        const take = (c: Int32Array, rows: number) => {
          const t = new Float32Array(rows * c.length);
          for (let r = 0; r < rows; r++) for (let i = 0; i < c.length; i++) t[r * c.length + i] = qkv[r * width + c[i]];
          return t;
        };
        return [take(cols[0], nOwn), take(cols[1], N), take(cols[2], N)];
      },
      qkNorm: (v, which, whole) => {
        const heads = which === 'qNorm' ? H : Hkv;
        return this.headNormGroups(v, groupsOf(v.length, heads * Dh), which, heads, whole);
      },
      rope: (v, which) => {
        this.ropeGroups(v, which === 'q' ? groups : kvGroups, which === 'q' ? H : Hkv);
        return v;
      },
      attend: (q, k, v) => {
        this.pool.write(k, v, kvRuns(kvGroups));
        return this.attend(q, groups);
      },
      add: (a, b, last) => {
        const y = last ? out : this.buf.get('x1', a.length);
        kernels.add_f32(y, a, b, a.length);
        return y;
      },
      glu: (gate, up) => {
        const inner = this.buf.get('inner', up.length);
        kernels.glu_fwd_f32(inner, gate, up, up.length, act);
        return inner;
      },
      gluFused: (gu) => {
        // Phi-3: per row [gate | up], each F wide
        const F = cfg.intermediate, N = gu.length / (2 * F);
        const inner = this.buf.get('inner', N * F);
        for (let r = 0; r < N; r++) kernels.glu_fwd_f32(inner.subarray(r * F, (r + 1) * F), gu.subarray(r * 2 * F, r * 2 * F + F), gu.subarray(r * 2 * F + F, (r + 1) * 2 * F), F, act);
        return inner;
      },
      act: (v) => {
        const inner = this.buf.get('inner', v.length);
        kernels.act_fwd_f32(inner, v, v.length, act);
        return inner;
      },
    };
    const y = runLayer(this.decoder.description, ops, x);
    if (y !== out) out.set(y);
  }

  /** Rotary embedding of the groups' rows of x [rows, heads, Dh], in place; one call for consecutive groups sharing frequencies. */
  private ropeGroups(x: Float32Array, groups: DepthGroup[], heads: number): void {
    const cfg = this.decoder.config;
    const pos = rowPositions(groups), width = heads * cfg.headDim;
    let r = 0;
    for (let i = 0; i < groups.length;) {
      const spec = this.decoder.ropeAt(groups[i].depth);
      let rows = 0;
      for (; i < groups.length && this.decoder.ropeAt(groups[i].depth) === spec; i++) rows += segTokens(groups[i].segs);
      if (spec) kernels.rope_f32(x.subarray(r * width, (r + rows) * width), pos.subarray(r, r + rows), spec.invFreq, rows, heads, cfg.headDim, spec.rotDim, spec.interleaved ? 1 : 0, 0);
      r += rows;
    }
  }

  /** Attention of the groups' rows (q [rows, H·Dh]) over their paged keys and values: [rows, H·Dh]. */
  private attend(q: Float32Array, groups: DepthGroup[]): Float32Array {
    const cfg = this.decoder.config;
    const { nHeads: H, nKvHeads: Hkv, headDim: Dh } = cfg;
    const a = this.buf.get('attention', q.length);
    // consecutive decode rows attend in one call straight from the pages; prompt chunks gather
    // (a run shares one attention variant: depths with different windows flush between them)
    const run: DecodeRow[] = [];
    let runWindow = 0;
    const softcap = cfg.attnSoftcap ?? 0;
    const flush = () => {
      if (run.length > 0) this.pool.attendDecode(a, q, run, H, Hkv, Dh, cfg.attnScale, runWindow, softcap);
      run.length = 0;
    };
    let r = 0;
    for (const g of groups) {
      const window = this.decoder.attentionAt(g.depth).window ?? 0;
      for (const s of g.segs) {
        const S = s.pos0 + s.T;
        if (s.T === 1 && this.pool.paged) {
          if (window !== runWindow) flush();
          runWindow = window;
          run.push({ seq: s.kv, depth: g.depth, pos: s.pos0, row: r });
        } else {
          flush();
          const kv = this.pool.gather(s.kv, g.depth, S);
          kernels.attention_fwd_f32(a.subarray(r * H * Dh, (r + s.T) * H * Dh), null, q.subarray(r * H * Dh, (r + s.T) * H * Dh), kv.k, kv.v, s.T, S, H, Hkv, Dh, s.pos0, cfg.attnScale, window, softcap);
        }
        r += s.T;
      }
    }
    flush();
    return a;
  }

  /** The final norm of `rows` rows of x, in place: what a model with `loopNorm` applies between loops. */
  loopNorm(x: Float32Array, rows: number): void {
    const h = this.buf.get('loopNorm', rows * this.D);
    this.norm(h, x, this.decoder.weights.finalNorm, rows);
    x.set(h);
  }

  /** Final norm and LM head of the given rows of x: [rows.length, V], valid until the next call. */
  head(x: Float32Array, rows: number[]): Float32Array {
    const D = this.D, w = this.decoder.weights;
    const sel = this.buf.get('headRows', rows.length * D);
    rows.forEach((r, i) => sel.set(x.subarray(r * D, (r + 1) * D), i * D));
    const h = this.buf.get('headNorm', sel.length);
    this.norm(h, sel, w.finalNorm, rows.length);
    const logits = this.buf.get('logits', rows.length * this.decoder.config.vocabSize);
    matmulWeight(logits, h, w.head, rows.length);
    if (this.decoder.config.finalSoftcap) softcapInPlace(logits, this.decoder.config.finalSoftcap);
    return logits;
  }
}
