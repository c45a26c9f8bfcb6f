// The `recursive` block of a converted checkpoint's config.json, as the decoder needs it:
// for every unrolled depth, the shared slot whose weights it uses; whether norms and biases
// are shared; and which projections carry a per-depth LoRA adapter. (recursive/ builds
// these; docs/checkpoint-format.md describes the whole file.)
import { ConfigError } from '../errors.js';
import type { ProjName } from './config.js';

export interface UnrolledDepth {
  slot: number;
  loop: number;
  unique: boolean;
  sourceLayer: number;
}

export interface RecursiveSpec {
  version: 1;
  source: { model: string; modelType: string; numHiddenLayers: number; nonEmbeddingParameters: number };
  /** the full sharing plan (strategy, nLoops, selected layers, init, slot sources, ...); `unrolled` is what loading reads */
  plan: { strategy: string; nLoops: number; nShared: number; unrolled: UnrolledDepth[]; [key: string]: unknown };
  /** false: one copy of every norm and bias per unrolled depth */
  sharedNorms: boolean;
  /**
   * true: the final norm (its weights) is applied to the residual stream after every loop but the
   * last, as looped models made that way do (llama.cpp's looped GGUF files without
   * skip_loop_final_norm); rrt's own conversions leave it out. cycle plans only.
   */
  loopNorm?: boolean;
  lora: null | {
    init: 'svd' | 'zero';
    /** effective rank per projection (after the min(d_in, d_out) cap); absent or 0: no adapter */
    ranks: Partial<Record<ProjName, number>>;
    /** mean relative SVD residual ‖R − BA‖/‖R‖ per projection, at conversion */
    meanRelResidual: Partial<Record<ProjName, number>>;
  };
}

/** Loops every token runs through: the plan's nLoops, 1 for a model without a recursive spec. */
export function loopCount(spec: RecursiveSpec | undefined): number {
  return spec?.plan.nLoops ?? 1;
}

/** Number of distinct slots the unrolled depths use. */
export function slotCount(spec: RecursiveSpec): number {
  return Math.max(...spec.plan.unrolled.map((u) => u.slot)) + 1;
}

export function tensorNameForDepth(depth: number, suffix: string): string {
  return `recursive.layers.${depth}.${suffix}`;
}

/** 'model.layers.3.self_attn.q_proj.weight' → 'self_attn.q_proj.weight' (what follows the layer index). */
export function layerSuffix(hfName: string): string {
  const m = /^.*?\.\d+\.(.+)$/.exec(hfName);
  if (!m) throw new ConfigError('bad_value', `tensor name ${hfName} has no layer index`);
  return m[1];
}

/** LoRA factor names for the projection whose weight is `hfName`, at unrolled depth `depth`. */
export function loraNames(depth: number, hfName: string): { a: string; b: string } {
  const module = layerSuffix(hfName).replace(/\.weight$/, '');
  return { a: tensorNameForDepth(depth, `${module}.lora_A`), b: tensorNameForDepth(depth, `${module}.lora_B`) };
}

/** Reads and sanity-checks the block; the decoder trusts it afterwards. */
export function parseRecursiveSpec(json: unknown, nLayers: number): RecursiveSpec {
  const bad = (msg: string) => new ConfigError('bad_value', `config.json "recursive": ${msg}`, 'recursive');
  if (typeof json !== 'object' || json === null) throw bad('must be an object');
  const spec = json as RecursiveSpec;
  if (spec.version !== 1) throw bad(`version ${String(spec.version)}; rrt reads version 1`);
  const unrolled = spec.plan?.unrolled;
  if (!Array.isArray(unrolled) || unrolled.length !== nLayers) throw bad(`plan.unrolled must list ${nLayers} depths (num_hidden_layers)`);
  for (const [i, u] of unrolled.entries())
    if (!Number.isInteger(u?.slot) || u.slot < 0 || u.slot >= nLayers || !Number.isInteger(u.loop) || u.loop < 0) throw bad(`plan.unrolled[${i}] is not a valid {slot, loop}`);
  if (typeof spec.sharedNorms !== 'boolean') throw bad('sharedNorms must be true or false');
  if (spec.loopNorm !== undefined && typeof spec.loopNorm !== 'boolean') throw bad('loopNorm must be true or false');
  if (spec.loopNorm && spec.plan.strategy !== 'cycle') throw bad(`loopNorm needs a cycle plan, not ${spec.plan.strategy}`);
  if (spec.lora !== null && (typeof spec.lora !== 'object' || typeof spec.lora.ranks !== 'object')) throw bad('lora must be null or {init, ranks, ...}');
  return spec;
}
