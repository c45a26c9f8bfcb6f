// The one decoder forward pass, for every architecture profile
// and, through shared weight tensors, for recursive models. Reads like llama2.c's
// forward: embed → per layer (norm, q/k/v, rotary, attention, out-proj, residual,
// norm, MLP, residual) → final norm → LM head. Shapes: B sequences × T tokens,
// N = B·T rows, D model dim, H/Hkv heads, Dh head dim, V vocab.
import { InputError } from '../errors.js';
import { checkpoint, isGradEnabled } from '../tensor/autograd.js';
import { Act } from '../tensor/kernels.js';
import { kernels } from '../tensor/kernels.js';
import { type DecodeLayerSpec, type DecodeLayerWeights, decodeLayer, decodeLayerAvailable } from '../tensor/ops/decode-layer.js';
import * as ops from '../tensor/ops/index.js';
import { Tensor, isQuantized, storageLength } from '../tensor/tensor.js';
import { QPANEL } from '../tensor/ref/quant.js';
import { type ModelConfig, ropeInvFreq } from './config.js';
import type { KvCache } from './kv-cache.js';
import { describeLayer, type LayerDescription, type LayerOps, runLayer } from './layer.js';
import { LAYER_NORMS, type Layer, type LayerNormName, type Linear, type Norm, type Weights } from './weights.js';
import type { ProjName } from './config.js';

export interface ForwardOptions {
  /** one cache per sequence: the new tokens attend to it and are appended to it */
  caches?: KvCache[];
  /** also return the residual stream after the embedding and after each layer (HF's hidden_states) */
  hiddenStates?: boolean;
  /** logits for the last position of each sequence only */
  lastOnly?: boolean;
  /** recursive models: stop after loop b (1-based) — then the unique last layer, if any, final norm and head */
  exitAfterLoop?: number;
  /** recursive models: also return the logits of every intermediate loop's exit (final norm and head after loop b) */
  allExits?: boolean;
  /** training: keep only each layer's input and recompute its activations in the backward pass */
  recompute?: boolean;
  /**
   * one token of one sequence with a cache and no gradient runs each llama-style layer as one native
   * call (decode_layer_f32); false runs the composed ops instead, which it matches bit for bit. @default true
   */
  fused?: boolean;
}

export interface ForwardResult {
  /** [B, T, V], or [B, 1, V] with lastOnly */
  logits: Tensor;
  /** with hiddenStates: L+1 tensors [N, D]; the last one after the final norm, as transformers returns it */
  hidden: Tensor[];
  /** with allExits: the logits after loops 1..nLoops−1, each shaped like `logits` */
  exits: Tensor[];
}

export class Decoder {
  private readonly rope: ops.RopeSpec | null;
  private readonly localRope: ops.RopeSpec | null;
  /** column indices of q, k, v in a fused qkv projection's output (null when separate) */
  readonly qkvCols: [Int32Array, Int32Array, Int32Array] | null;

  /** the fused layer's sizes, when the architecture allows it (layers also pass fusedWeights); fusedSpecAt: a depth's */
  readonly fusedSpec: DecodeLayerSpec | null;
  private readonly fusedSpecs: DecodeLayerSpec[] = [];
  /** a model that norms between loops (RecursiveSpec.loopNorm): the depths ending every loop but the last */
  private readonly loopNormAfter: Set<number> | null;
  /** the architecture's layer, which every depth runs (layer.ts) */
  readonly description: LayerDescription;

  constructor(readonly config: ModelConfig, readonly weights: Weights) {
    this.rope = config.rotaryDim > 0 ? { invFreq: ropeInvFreq(config), rotDim: config.rotaryDim, interleaved: config.ropeInterleaved } : null;
    this.localRope =
      config.localRopeTheta !== undefined && config.windows && this.rope
        ? { ...this.rope, invFreq: ropeInvFreq({ ...config, ropeTheta: config.localRopeTheta, ropeScaling: null }) }
        : null;
    if (config.windows && config.windows.length !== config.nLayers)
      throw new InputError('bad_option', `the config gives sliding windows for ${config.windows.length} layers, the model has ${config.nLayers}`);
    this.qkvCols = config.qkvLayout === 'separate' ? null : fusedQkvColumns(config);
    const c = config;
    this.fusedSpec =
      // the native layer takes RMSNorms in any placement, q/k norms of either kind, sliding windows
      // and soft-caps; Phi-3's [q; k; v] and [gate; up] weights go in as row ranges (fusedWeights).
      // It has no LayerNorm, ungated MLP (GPT-2, NeoX) or per-head qkv interleave (NeoX): such
      // layers run the composed ops
      decodeLayerAvailable && c.normKind !== 'layer' && c.qkvLayout !== 'fusedPerHead' && c.gated
        ? { H: c.nHeads, Hkv: c.nKvHeads, Dh: c.headDim, F: c.intermediate, eps: c.normEps, plusOne: c.normKind === 'rmsPlusOne', act: Act[c.act], parallelResidual: c.parallelResidual, scale: c.attnScale, rope: this.rope, window: 0, softcap: c.attnSoftcap ?? 0 }
        : null;
    this.description = describeLayer(config);
    this.loopNormAfter = config.recursive?.loopNorm ? new Set(this.loopEnds().slice(0, -1)) : null;
  }

  /** The rotary embedding at a depth (null without rotary): Gemma 3's sliding-window layers have a base of their own. */
  ropeAt(depth: number): ops.RopeSpec | null {
    return this.localRope && this.config.windows![depth] > 0 ? this.localRope : this.rope;
  }

  /** The fused layer's spec at a depth (its rotary embedding and window); null where fusedSpec is. */
  fusedSpecAt(depth: number): DecodeLayerSpec | null {
    if (!this.fusedSpec) return null;
    return (this.fusedSpecs[depth] ??= { ...this.fusedSpec, rope: this.ropeAt(depth), window: this.attentionAt(depth).window ?? 0 });
  }

  /** The attention variant at a depth: its sliding window (0: full) and score soft-cap (0: none). */
  attentionAt(depth: number): ops.AttentionOptions {
    return { window: this.config.windows?.[depth] ?? 0, softcap: this.config.attnSoftcap ?? 0 };
  }

  get nLayers(): number {
    return this.weights.layers.length;
  }

  forward(ids: Int32Array, B: number, T: number, opts: ForwardOptions = {}): ForwardResult {
    const cfg = this.config;
    const N = B * T;
    if (ids.length !== N) throw new InputError('bad_option', `forward: ${ids.length} ids for ${B} sequences of ${T} tokens`);
    for (let i = 0; i < N; i++)
      if (!(ids[i] >= 0 && ids[i] < cfg.vocabSize)) throw new InputError('token_out_of_range', `token id ${ids[i]} at position ${i} is outside the vocabulary [0, ${cfg.vocabSize})`);
    const caches = opts.caches;
    if (caches && caches.length !== B) throw new InputError('bad_option', `forward: ${caches.length} caches for ${B} sequences`);
    const pos = new Int32Array(N);
    for (let b = 0; b < B; b++) {
      const start = caches ? caches[b].length : 0;
      if (start + T > cfg.maxPositions)
        throw new InputError('context_overflow', `sequence ${b} would reach ${start + T} tokens, past the model's context of ${cfg.maxPositions}`);
      for (let t = 0; t < T; t++) pos[b * T + t] = start + t;
    }

    // token (and learned position) embeddings: [N, D]
    let x = ops.embedding(this.weights.embed, ids);
    if (cfg.embedScale !== 1) x = ops.scale(x, cfg.embedScale);
    if (this.weights.pos) x = ops.add(x, ops.embedding(this.weights.pos, pos));
    const hidden: Tensor[] = opts.hiddenStates ? [x] : [];

    // which depths run, and after which ones an intermediate exit reads the stream
    const layers = this.weights.layers;
    const ends = opts.exitAfterLoop !== undefined || opts.allExits ? this.loopEnds() : [];
    let run = layers.map((_, l) => l);
    if (opts.exitAfterLoop !== undefined) {
      const b = opts.exitAfterLoop;
      if (!Number.isInteger(b) || b < 1 || b > ends.length) throw new InputError('bad_option', `exit after loop ${b}: the model has ${ends.length} loops`);
      run = run.filter((l) => l <= ends[b - 1] || (this.isUnique(l) && l > ends[ends.length - 1]));
    }
    const exits: Tensor[] = [];
    for (const l of run) {
      x = opts.recompute && !caches ? checkpoint((h) => this.layer(layers[l], l, h, pos, B, T), x) : this.layer(layers[l], l, x, pos, B, T, caches, opts.fused);
      if (opts.hiddenStates && l < layers.length - 1) hidden.push(x);
      const loop = opts.allExits ? ends.indexOf(l) : -1;
      if (loop >= 0 && loop < ends.length - 1) {
        // the exit of an intermediate loop: the unique last layer (middle-*), then norm and head
        let e = x;
        for (let u = ends[ends.length - 1] + 1; u < layers.length; u++) e = this.layer(layers[u], u, e, pos, B, T);
        exits.push(this.head(e, B, T, opts.lastOnly));
      }
      if (this.loopNormAfter?.has(l)) x = this.norm(this.weights.finalNorm, x);
    }
    if (caches) for (const c of caches) c.advance(T);
    const normed = this.norm(this.weights.finalNorm, x);
    if (opts.hiddenStates) hidden.push(normed);
    return { logits: this.head(x, B, T, opts.lastOnly, normed), hidden, exits };
  }

  /** Final norm and LM head: [N, D] → [B, T (or 1), V]. */
  private head(x: Tensor, B: number, T: number, lastOnly?: boolean, normed?: Tensor): Tensor {
    let h = normed ?? this.norm(this.weights.finalNorm, x);
    if (lastOnly && T > 1) {
      const last = new Int32Array(B);
      for (let b = 0; b < B; b++) last[b] = b * T + T - 1;
      h = ops.gatherRows(h, last);
    }
    let logits = ops.linear(h, this.weights.head);
    if (this.config.finalSoftcap) logits = ops.softcap(logits, this.config.finalSoftcap);
    return ops.reshape(logits, [B, lastOnly ? 1 : T, this.config.vocabSize]);
  }

  private isUnique(l: number): boolean {
    return this.config.recursive?.plan.unrolled[l].unique ?? false;
  }

  /**
   * The last depth of every loop (a vanilla model is one loop). Exits need loops that end at
   * full depth of the block (cycle, middle-cycle); with `sequence` a loop never completes early.
   */
  loopEnds(): number[] {
    const rec = this.config.recursive;
    if (!rec) return [this.nLayers - 1];
    const u = rec.plan.unrolled;
    const nLoops = rec.plan.nLoops;
    if (nLoops > 1 && !rec.plan.strategy.endsWith('cycle'))
      throw new InputError('bad_option', `early exits need a cycle strategy (a ${rec.plan.strategy} model only completes its block at the last loop)`);
    const ends: number[] = [];
    for (let b = 0; b < nLoops; b++) ends.push(Math.max(...u.map((d, l) => (!d.unique && d.loop === b ? l : -1))));
    return ends;
  }

  /** One transformer block; x [N, D] → [N, D]. */
  layer(layer: Layer, l: number, x: Tensor, pos: Int32Array, B: number, T: number, caches?: KvCache[], fused = true): Tensor {
    const cfg = this.config;
    const N = B * T;
    // one token of one sequence, no gradient: the fused native step computes the same bits
    if (N === 1 && caches && fused && this.fusedSpec && !isGradEnabled()) {
      const w = this.fusedWeights(layer);
      if (w) {
        const c = caches[0];
        c.checkRoom(1);
        return decodeLayer(x, w, c.k[l], c.v[l], c.length, this.fusedSpecAt(l)!);
      }
    }
    return runLayer(this.description, new TensorLayerOps(this, layer, l, pos, B, T, caches), x);
  }

  /**
   * The layer's tensors for the fused step, or null where it does not apply (a missing projection,
   * another dtype or shape). Checked on every call: adapters may be attached after loading.
   */
  fusedWeights(layer: Layer): DecodeLayerWeights | null {
    const { hidden: D, intermediate: F, nHeads: H, nKvHeads: Hkv, headDim: Dh } = this.config;
    const { o, down } = layer.proj;
    let { q, k, v, gate, up } = layer.proj;
    // Phi-3: q, k, v are rows of one qkv weight and gate, up rows of one gate_up weight
    if (layer.proj.qkv) {
      const parts = rowRanges(layer.proj.qkv, [0, H * Dh, (H + Hkv) * Dh, (H + 2 * Hkv) * Dh]);
      if (!parts) return null;
      [q, k, v] = parts;
    }
    if (layer.proj.gateUp) {
      const parts = rowRanges(layer.proj.gateUp, [0, F, 2 * F]);
      if (!parts) return null;
      [gate, up] = parts;
    }
    const d = this.description;
    const storable = (t: Tensor) => t.dtype === 'f32' || t.dtype === 'bf16';
    const adapterFits = (p: Linear, n: number, m: number) =>
      !p.lora || (storable(p.lora.a) && storable(p.lora.b) && p.lora.a.shape[1] === m && p.lora.b.shape[0] === n && p.lora.b.shape[1] === p.lora.a.shape[0]);
    const fits = (p: Linear | undefined, n: number, m: number): p is Linear =>
      p !== undefined && (storable(p.w) || isQuantized(p.w.dtype)) && p.w.shape[0] === n && p.w.shape[1] === m && (!p.b || (p.b.dtype === 'f32' && p.b.size === n)) && adapterFits(p, n, m);
    if (!fits(q, H * Dh, D) || !fits(k, Hkv * Dh, D) || !fits(v, Hkv * Dh, D) || !fits(o, D, H * Dh)) return null;
    if (!fits(gate, F, D) || !fits(up, F, D) || !fits(down, D, F)) return null;
    // the norms the layer description runs, each where it runs it (models/layer.ts), and no others
    const sites: [keyof DecodeLayerWeights, LayerNormName | null, number][] = [
      ['attnNorm', d.attnNorms.pre, D], ['postAttnNorm', d.attnNorms.post, D], ['mlpNorm', d.mlpNorms.pre, D], ['postMlpNorm', d.mlpNorms.post, D],
      ['qNorm', d.qkNorm === 'none' ? null : 'qNorm', d.qkNorm === 'whole' ? H * Dh : Dh], ['kNorm', d.qkNorm === 'none' ? null : 'kNorm', d.qkNorm === 'whole' ? Hkv * Dh : Dh],
    ];
    const norms: Partial<Record<keyof DecodeLayerWeights, Tensor | null>> = {};
    for (const [at, name, size] of sites) {
      const n = name ? layer[name] : null;
      if (name && !(n && n.w.dtype === 'f32' && n.w.size === size && !n.b)) return null;
      norms[at] = n?.w ?? null;
    }
    const used = new Set(sites.map(([, name]) => name));
    if (LAYER_NORMS.some((name) => layer[name] && !used.has(name))) return null;
    return { attnNorm: null, mlpNorm: null, ...norms, q, k, v, o, gate, up, down };
  }

  private gateUpCols: [Int32Array, Int32Array] | null = null;

  /** Column indices of gate and up inside a fused gate_up projection's output ([gate | up]). */
  gateUpColumns(): [Int32Array, Int32Array] {
    if (!this.gateUpCols) {
      const F = this.config.intermediate;
      this.gateUpCols = [Int32Array.from({ length: F }, (_, i) => i), Int32Array.from({ length: F }, (_, i) => F + i)];
    }
    return this.gateUpCols;
  }

  norm(n: Norm, x: Tensor): Tensor {
    const cfg = this.config;
    if (cfg.normKind === 'layer') return ops.layerNorm(x, n.w, n.b, cfg.normEps);
    return ops.rmsNorm(x, n.w, cfg.normEps, cfg.normKind === 'rmsPlusOne');
  }
}

/**
 * The layer's operations on autograd tensors, for one depth: B sequences of T tokens, every row
 * its own query. Projections are [N, width]; q, k, v become [N, heads, Dh] where heads matter.
 */
class TensorLayerOps implements LayerOps<Tensor> {
  private readonly cfg: ModelConfig;

  constructor(private readonly dec: Decoder, private readonly layer: Layer, private readonly depth: number, private readonly pos: Int32Array, private readonly B: number, private readonly T: number, private readonly caches?: KvCache[]) {
    this.cfg = dec.config;
  }

  attnInput(x: Tensor): Tensor {
    return x;
  }

  queryRows(h: Tensor): Tensor {
    return h;
  }

  norm(x: Tensor, which: LayerNormName): Tensor {
    return this.dec.norm(this.layer[which]!, x);
  }

  project(x: Tensor, which: ProjName): Tensor {
    return linearWithLora(this.layer.proj[which]!, x);
  }

  splitQkv(qkv: Tensor): [Tensor, Tensor, Tensor] {
    const [q, k, v] = this.dec.qkvCols!;
    return [ops.gatherCols(qkv, q), ops.gatherCols(qkv, k), ops.gatherCols(qkv, v)];
  }

  private heads(x: Tensor, which: 'q' | 'k' | 'v'): Tensor {
    const n = which === 'q' ? this.cfg.nHeads : this.cfg.nKvHeads;
    return x.shape.length === 3 ? x : ops.reshape(x, [x.shape[0], n, this.cfg.headDim]);
  }

  qkNorm(x: Tensor, which: 'qNorm' | 'kNorm', whole: boolean): Tensor {
    const n = this.layer[which]!;
    if (!whole) return this.dec.norm(n, this.heads(x, which === 'qNorm' ? 'q' : 'k'));
    return this.dec.norm(n, x.shape.length === 2 ? x : ops.reshape(x, [x.shape[0], x.shape[1] * x.shape[2]]));
  }

  rope(x: Tensor, which: 'q' | 'k'): Tensor {
    const spec = this.dec.ropeAt(this.depth);
    return spec ? ops.rope(this.heads(x, which), this.pos, spec) : x;
  }

  attend(q: Tensor, k: Tensor, v: Tensor): Tensor {
    const [q3, k3, v3] = [this.heads(q, 'q'), this.heads(k, 'k'), this.heads(v, 'v')];
    const variant = this.dec.attentionAt(this.depth);
    const a = this.caches ? attendCached(this.cfg, q3, k3, v3, this.depth, this.B, this.T, this.caches, variant) : ops.causalAttention(q3, k3, v3, this.B, this.T, this.cfg.attnScale, variant);
    return ops.reshape(a, [a.shape[0], this.cfg.nHeads * this.cfg.headDim]);
  }

  add(a: Tensor, b: Tensor): Tensor {
    return ops.add(a, b);
  }

  glu(gate: Tensor, up: Tensor): Tensor {
    return ops.glu(gate, up, Act[this.cfg.act]);
  }

  gluFused(gateUp: Tensor): Tensor {
    const [g, u] = this.dec.gateUpColumns();
    return ops.glu(ops.gatherCols(gateUp, g), ops.gatherCols(gateUp, u), Act[this.cfg.act]);
  }

  act(x: Tensor): Tensor {
    return ops.activation(x, Act[this.cfg.act]);
  }
}

/** y = x·Wᵀ + b (+ (x·Aᵀ)·Bᵀ when the layer has an adapter) */
export function linearWithLora(p: Linear, x: Tensor): Tensor {
  const y = ops.linear(x, p.w, p.b);
  if (!p.lora) return y;
  return ops.add(y, ops.linear(ops.linear(x, p.lora.a), p.lora.b));
}

/** Inference attention over each sequence's KV cache (no gradient): append this step's keys/values, attend to all. */
function attendCached(cfg: ModelConfig, q: Tensor, k: Tensor, v: Tensor, l: number, B: number, T: number, caches: KvCache[], variant: ops.AttentionOptions): Tensor {
  const { nHeads: H, nKvHeads: Hkv, headDim: Dh } = cfg;
  const out = new Float32Array(q.size);
  const qRow = T * H * Dh, kRow = T * Hkv * Dh;
  for (let b = 0; b < B; b++) {
    const c = caches[b];
    c.write(l, k.f32.subarray(b * kRow, (b + 1) * kRow), v.f32.subarray(b * kRow, (b + 1) * kRow), T);
    const pos0 = c.length;
    kernels.attention_fwd_f32(out.subarray(b * qRow, (b + 1) * qRow), null, q.f32.subarray(b * qRow, (b + 1) * qRow), c.k[l], c.v[l], T, pos0 + T, H, Hkv, Dh, pos0, cfg.attnScale, variant.window ?? 0, variant.softcap ?? 0);
  }
  return new Tensor(out, q.shape);
}

/** Row ranges of weights, biases and adapter Bs, cached by the tensor cut so that depths sharing a weight share its ranges (BatchForward compares them). */
const ranges = new WeakMap<Tensor, Map<string, Tensor[] | null>>();

/**
 * Rows [at[i], at[i+1]) of a tensor [N, ...] as tensors over the same storage (no copy); null where
 * the storage cannot be cut there: a packed weight holds rows in panels of 16 (native/quant/quant.h),
 * so each range must start on a panel and end on one or at the last row.
 */
function cutRows(t: Tensor, at: number[]): Tensor[] | null {
  const key = at.join(',');
  let byKey = ranges.get(t);
  if (!byKey) ranges.set(t, (byKey = new Map()));
  if (byKey.has(key)) return byKey.get(key)!;
  const N = t.shape[0], K = t.shape.length === 2 ? t.shape[1] : 1;
  let out: Tensor[] | null = null;
  if (at[at.length - 1] === N) {
    if (isQuantized(t.dtype)) {
      const panel = storageLength(t.dtype, [QPANEL, K]) / QPANEL;
      if (at.every((r) => r % QPANEL === 0 || r === N))
        out = at.slice(1).map((r1, i) => new Tensor(t.data.subarray(at[i] * panel, Math.ceil(r1 / QPANEL) * QPANEL * panel), [r1 - at[i], K], t.dtype));
    } else out = at.slice(1).map((r1, i) => new Tensor(t.data.subarray(at[i] * K, r1 * K), t.shape.length === 2 ? [r1 - at[i], K] : [r1 - at[i]], t.dtype));
  }
  byKey.set(key, out);
  return out;
}

/** A fused projection's parts as projections of their own: the weight's, bias's and adapter B's rows; the adapter's A is every part's (y_q = (x·Aᵀ)·B_qᵀ). */
function rowRanges(p: Linear, at: number[]): Linear[] | null {
  const w = cutRows(p.w, at);
  const b = p.b ? cutRows(p.b, at) : null;
  const lb = p.lora ? cutRows(p.lora.b, at) : null;
  if (!w || (p.b && !b) || (p.lora && !lb)) return null;
  return w.map((wi, i) => ({ w: wi, b: b ? b[i] : null, lora: p.lora ? { ...p.lora, b: lb![i] } : null }));
}

/** Column indices of q, k and v inside a fused qkv projection's output. */
function fusedQkvColumns(cfg: ModelConfig): [Int32Array, Int32Array, Int32Array] {
  const { nHeads: H, nKvHeads: Hkv, headDim: Dh } = cfg;
  const q = new Int32Array(H * Dh), k = new Int32Array(Hkv * Dh), v = new Int32Array(Hkv * Dh);
  if (cfg.qkvLayout === 'fusedBlocks') {
    // GPT-2: [q | k | v], each H·Dh wide
    for (let i = 0; i < H * Dh; i++) q[i] = i;
    for (let i = 0; i < Hkv * Dh; i++) {
      k[i] = H * Dh + i;
      v[i] = (H + Hkv) * Dh + i;
    }
  } else {
    // GPT-NeoX: per head [q_h | k_h | v_h], each Dh wide (H == Hkv)
    for (let h = 0; h < H; h++)
      for (let d = 0; d < Dh; d++) {
        q[h * Dh + d] = h * 3 * Dh + d;
        k[h * Dh + d] = h * 3 * Dh + Dh + d;
        v[h * Dh + d] = h * 3 * Dh + 2 * Dh + d;
      }
  }
  return [q, k, v];
}
