// The decoder's weights as plain objects of tensors. A recursive model is the
// same structure whose unrolled layers point at shared tensors (DESIGN.md), so
// sharing is tensor identity and training accumulates into the shared leaves.
import { FormatError } from '../errors.js';
import type { TensorSource } from '../formats/tensor-source.js';
import { kernels } from '../tensor/kernels.js';
import { fromGgufBlocks, quantizable, quantize } from '../tensor/quant.js';
import { type QuantDType, Tensor, isQuantized } from '../tensor/tensor.js';
import type { ModelConfig, ProjName } from './config.js';
import { profileForArch, type WeightEntry } from './profiles/index.js';
import { layerSuffix, loraNames, tensorNameForDepth } from './recursive-spec.js';
import { transpose2d } from '../tensor/transpose.js';

export interface Lora {
  /** A [r, in] */
  a: Tensor;
  /** B [out, r] */
  b: Tensor;
}

export interface Linear {
  /** W [out, in] */
  w: Tensor;
  b: Tensor | null;
  /** per-unrolled-layer adapter: y += (x·Aᵀ)·Bᵀ */
  lora?: Lora | null;
}

export interface Norm {
  w: Tensor;
  b: Tensor | null;
}

export interface Layer {
  attnNorm: Norm;
  mlpNorm: Norm;
  /** Gemma 2/3 (normPlacement 'sandwich'): the norms of the attention and MLP outputs, before their residual adds */
  postAttnNorm?: Norm | null;
  postMlpNorm?: Norm | null;
  /** Qwen3: RMSNorm of each query head / key head ([headDim]) after the projection, before rotary; OLMo-2: of the whole q / k projection ([nHeads·headDim] / [nKvHeads·headDim]) */
  qNorm?: Norm | null;
  kNorm?: Norm | null;
  proj: Partial<Record<ProjName, Linear>>;
}

/** A layer's norms by canonical name: the block's two, the post-sublayer and q/k norms some architectures have. */
export const LAYER_NORMS = ['attnNorm', 'mlpNorm', 'postAttnNorm', 'postMlpNorm', 'qNorm', 'kNorm'] as const;
export type LayerNormName = (typeof LAYER_NORMS)[number];

export function isLayerNorm(name: string): name is LayerNormName {
  return (LAYER_NORMS as readonly string[]).includes(name);
}

export interface Weights {
  embed: Tensor;
  /** learned positions [maxPositions, D] (GPT-2) */
  pos: Tensor | null;
  layers: Layer[];
  finalNorm: Norm;
  /** [V, D]; the same tensor as embed when tied */
  head: Tensor;
}

export type WeightDType = 'f32' | 'bf16' | QuantDType;
export const WEIGHT_DTYPES: readonly WeightDType[] = ['f32', 'bf16', 'q8_0', 'q4_0'];

/**
 * Where each matrix goes. A WeightDType puts every matrix in it; 'auto' loads each as stored:
 * q8_0/q4_0 blocks stay packed (rrt has kernels for them), other block types (Q4_K, Q5_0, …)
 * become bf16, everything else f32. Under a quantized dtype the token embedding and LM head go to
 * `head` (default q8_0, as llama.cpp keeps its output tensor above 4 bits). A matrix whose rows
 * are not whole 32-value blocks stays bf16 and is listed in `unquantized`.
 */
export interface WeightPlan {
  dtype: WeightDType | 'auto';
  head?: WeightDType;
  /** filled by loadWeights: matrices kept in bf16 because they cannot be block-quantized */
  unquantized?: string[];
}

/** The dtype a matrix gets under the plan, given how the checkpoint stores it. */
function matrixDtype(plan: WeightPlan, key: string, stored: string): WeightDType {
  if (plan.dtype === 'auto') return stored === 'q8_0' || stored === 'q4_0' ? stored : /^q\d/.test(stored) ? 'bf16' : 'f32';
  if (key !== 'embed' && key !== 'head') return plan.dtype;
  return plan.head ?? (isQuantized(plan.dtype) ? 'q8_0' : plan.dtype);
}

/** Expected shape of each canonical key, to catch a checkpoint that does not fit its config. */
export function expectedShape(cfg: ModelConfig, key: string): number[] {
  const { hidden: D, intermediate: F, nHeads: H, nKvHeads: Hkv, headDim: Dh, vocabSize: V } = cfg;
  const [name, part] = key.split('.');
  const out: Record<string, number> = { q: H * Dh, k: Hkv * Dh, v: Hkv * Dh, qkv: (H + 2 * Hkv) * Dh, o: D, gate: F, up: F, gateUp: 2 * F, down: D };
  const inp: Record<string, number> = { q: D, k: D, v: D, qkv: D, o: H * Dh, gate: D, up: D, gateUp: D, down: F };
  if (key === 'embed' || key === 'head') return [V, D];
  if (key === 'pos') return [cfg.maxPositions, D];
  if (name === 'attnNorm' || name === 'mlpNorm' || name === 'postAttnNorm' || name === 'postMlpNorm' || name === 'finalNorm') return [D];
  if (name === 'qNorm' || name === 'kNorm') return cfg.qkNorm === 'whole' ? [(name === 'qNorm' ? cfg.nHeads : cfg.nKvHeads) * Dh] : [Dh];
  if (part === 'w') return [out[name], inp[name]];
  return [out[name]];
}


/**
 * Reads one tensor of the table into the dtype the model runs: matrices as the plan says, vectors
 * in f32. Blocks already stored in the wanted type (GGUF, rrt's quantized checkpoints) are
 * repacked as they are, not dequantized and quantized again.
 */
export function readWeight(source: TensorSource, cfg: ModelConfig, e: WeightEntry, dtype: WeightDType | WeightPlan): Tensor {
  const plan = typeof dtype === 'string' ? { dtype } : dtype;
  const shape = checkedShape(source, cfg, e);
  if (shape.length !== 2) return readPlain(source, e, shape, 'f32');
  const stored = source.info(e.hf).dtype;
  const want = matrixDtype(plan, e.key, stored);
  if (!isQuantized(want)) return readPlain(source, e, shape, want);
  if (!quantizable(shape)) {
    (plan.unquantized ??= []).push(`${e.hf} [${shape.join(', ')}]`);
    return readPlain(source, e, shape, 'bf16');
  }
  if (stored === want && source.readRaw && !e.transpose) return fromGgufBlocks(source.readRaw(e.hf), shape, want);
  return quantize(readPlain(source, e, shape, 'f32'), want);
}

/** The tensor's shape as the config implies it; a FormatError when the checkpoint disagrees. */
function checkedShape(source: TensorSource, cfg: ModelConfig, e: WeightEntry): number[] {
  const info = source.info(e.hf);
  const want = expectedShape(cfg, e.key);
  const got = e.transpose ? [...info.shape].reverse() : info.shape;
  if (got.length !== want.length || got.some((d, i) => d !== want[i]))
    throw new FormatError('shape_size_mismatch', `tensor ${e.hf} has shape [${info.shape.join(', ')}], the config implies [${(e.transpose ? [...want].reverse() : want).join(', ')}]`, { file: source.path, tensor: e.hf });
  return want;
}

/** The tensor in f32 or (matrices) bf16, its shape `want` already checked against the config. */
function readPlain(source: TensorSource, e: WeightEntry, want: number[], dtype: 'f32' | 'bf16'): Tensor {
  const info = source.info(e.hf);
  const matrix = want.length === 2;
  if (matrix && dtype === 'bf16' && info.dtype === 'bf16' && !e.transpose) {
    return new Tensor(source.read(e.hf).data as Uint16Array, want, 'bf16');
  }
  let data = source.readF32(e.hf);
  if (e.transpose) data = transpose2d(data, info.shape[0], info.shape[1]);
  if (matrix && dtype === 'bf16') {
    const bf = new Uint16Array(data.length);
    kernels.f32_to_bf16(bf, data, data.length);
    return new Tensor(bf, want, 'bf16');
  }
  return new Tensor(data, want);
}

/** Norms and biases: shared by default in a recursive model, or kept per unrolled depth. */
export function isNormOrBias(key: string): boolean {
  return isLayerNorm(key.split('.')[0]) || key.endsWith('.b');
}

/** Builds the decoder's weights from a checkpoint through the architecture's name table. */
export function loadWeights(source: TensorSource, cfg: ModelConfig, dtypeOrPlan: WeightDType | WeightPlan = 'f32'): Weights {
  const dtype = typeof dtypeOrPlan === 'string' ? { dtype: dtypeOrPlan } : dtypeOrPlan;
  const profile = profileForArch(cfg.arch);
  const g = new Map<string, Tensor>();
  for (const e of profile.globals(cfg)) g.set(e.key, readWeight(source, cfg, e, dtype));
  const layers: Layer[] = [];
  const rec = cfg.recursive;
  if (!rec) {
    for (let i = 0; i < cfg.nLayers; i++) {
      const t = new Map<string, Tensor>();
      for (const e of profile.layer(cfg, i)) t.set(e.key, readWeight(source, cfg, e, dtype));
      layers.push(layerFrom(t));
    }
  } else {
    // Recursive: slot s is stored under the HF names of layer s; each unrolled depth points at
    // its slot's tensors (shared by identity), plus its own norms/biases and LoRA factors.
    const slots = new Map<number, Map<string, Tensor>>();
    const slotTensors = (s: number) => {
      if (!slots.has(s)) {
        const t = new Map<string, Tensor>();
        for (const e of profile.layer(cfg, s)) if (rec.sharedNorms || !isNormOrBias(e.key)) t.set(e.key, readWeight(source, cfg, e, dtype));
        slots.set(s, t);
      }
      return slots.get(s)!;
    };
    rec.plan.unrolled.forEach((u, depth) => {
      const t = new Map(slotTensors(u.slot));
      const entries = profile.layer(cfg, u.slot);
      if (!rec.sharedNorms)
        for (const e of entries.filter((x) => isNormOrBias(x.key)))
          t.set(e.key, readWeight(source, cfg, { key: e.key, hf: tensorNameForDepth(depth, layerSuffix(e.hf)) }, 'f32'));
      const layer = layerFrom(t);
      for (const e of entries) {
        const [p, part] = e.key.split('.') as [ProjName, string];
        const rank = rec.lora?.ranks[p] ?? 0;
        if (part !== 'w' || rank === 0 || u.unique) continue;
        const names = loraNames(depth, e.hf);
        const [dOut, dIn] = expectedShape(cfg, e.key);
        layer.proj[p]!.lora = { a: readLora(source, names.a, [rank, dIn]), b: readLora(source, names.b, [dOut, rank]) };
      }
      layers.push(layer);
    });
  }
  const embed = g.get('embed')!;
  return {
    embed,
    pos: g.get('pos') ?? null,
    layers,
    finalNorm: { w: g.get('finalNorm.w')!, b: g.get('finalNorm.b') ?? null },
    head: cfg.tiedHead ? embed : g.get('head')!,
  };
}

function readLora(source: TensorSource, name: string, shape: number[]): Tensor {
  const info = source.info(name);
  if (info.shape.length !== 2 || info.shape[0] !== shape[0] || info.shape[1] !== shape[1])
    throw new FormatError('shape_size_mismatch', `adapter ${name} has shape [${info.shape.join(', ')}], the config implies [${shape.join(', ')}]`, { file: source.path, tensor: name });
  return new Tensor(source.readF32(name), shape);
}

/** The tensor of a layer under a canonical key ('q.w', 'attnNorm.b', ...): the inverse of layerFrom. */
export function layerTensor(layer: Layer, key: string): Tensor | null {
  const [name, part] = key.split('.');
  if (isLayerNorm(name)) {
    const n = layer[name];
    return n ? (part === 'w' ? n.w : n.b) : null;
  }
  const lin = layer.proj[name as ProjName];
  return lin ? (part === 'w' ? lin.w : lin.b) : null;
}

/** Assembles a Layer from canonical keys ('q.w', 'attnNorm.b', ...). */
export function layerFrom(t: Map<string, Tensor>): Layer {
  const proj: Partial<Record<ProjName, Linear>> = {};
  for (const [key, tensor] of t) {
    const [name, part] = key.split('.');
    if (isLayerNorm(name) || part !== 'w') continue;
    proj[name as ProjName] = { w: tensor, b: t.get(`${name}.b`) ?? null, lora: null };
  }
  const layer: Layer = {
    attnNorm: { w: t.get('attnNorm.w')!, b: t.get('attnNorm.b') ?? null },
    mlpNorm: { w: t.get('mlpNorm.w')!, b: t.get('mlpNorm.b') ?? null },
    proj,
  };
  for (const n of ['postAttnNorm', 'postMlpNorm', 'qNorm', 'kNorm'] as const) if (t.has(`${n}.w`)) layer[n] = { w: t.get(`${n}.w`)!, b: t.get(`${n}.b`) ?? null };
  return layer;
}

/** Every distinct tensor of the weights (shared tensors once), with a name for each. */
export function namedTensors(w: Weights): Map<Tensor, string> {
  const names = new Map<Tensor, string>();
  const add = (t: Tensor | null | undefined, name: string) => {
    if (t && !names.has(t)) names.set(t, name);
  };
  add(w.embed, 'embed');
  add(w.pos, 'pos');
  w.layers.forEach((l, i) => {
    for (const n of LAYER_NORMS) {
      add(l[n]?.w, `layers.${i}.${n}.w`);
      add(l[n]?.b, `layers.${i}.${n}.b`);
    }
    for (const [p, lin] of Object.entries(l.proj)) {
      add(lin.w, `layers.${i}.${p}.w`);
      add(lin.b, `layers.${i}.${p}.b`);
      add(lin.lora?.a, `layers.${i}.${p}.lora.a`);
      add(lin.lora?.b, `layers.${i}.${p}.lora.b`);
    }
  });
  add(w.finalNorm.w, 'finalNorm.w');
  add(w.finalNorm.b, 'finalNorm.b');
  add(w.head, 'head');
  return names;
}
