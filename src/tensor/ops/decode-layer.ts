// One llama-style decoder block for one token of one sequence, fused in native code
// (decode_layer_f32): the fast path of single-stream decoding, for every norm placement and q/k norm
// of models/layer.ts, sliding windows and soft-caps. It needs the addon (not under RRT_KERNELS=ref)
// and records no gradient; models/decoder.ts decides where it applies and falls back to the composed
// ops everywhere else. x [1, D] → [1, D]; appends k, v at cache row `pos`.
import { ShapeError } from '../../errors.js';
import { type ActCode, kernels, native } from '../kernels.js';
import { Tensor, isQuantized, qtypeOf } from '../tensor.js';
import type { RopeSpec } from './rope.js';

/** A projection: W [out, in] (f32, bf16, q8_0 or q4_0), an optional f32 bias, an optional adapter A [r, in], B [out, r] (f32 or bf16). */
export interface DecodeProj {
  w: Tensor;
  b: Tensor | null;
  lora?: { a: Tensor; b: Tensor } | null;
}

/** The layer's norms, null where it has none (decode_layer_f32 in tensor/kernels.ts). */
export interface DecodeLayerWeights {
  /** [D]: the sublayers' inputs */
  attnNorm: Tensor | null;
  mlpNorm: Tensor | null;
  /** [D]: the sublayers' outputs, before the residual adds (OLMo-2, Gemma 2/3) */
  postAttnNorm?: Tensor | null;
  postMlpNorm?: Tensor | null;
  /** q and k before the rotary: [Dh] every head (Qwen3, Gemma 3), [heads·Dh] the whole projection (OLMo-2) */
  qNorm?: Tensor | null;
  kNorm?: Tensor | null;
  q: DecodeProj;
  k: DecodeProj;
  v: DecodeProj;
  o: DecodeProj;
  gate: DecodeProj;
  up: DecodeProj;
  down: DecodeProj;
}

export interface DecodeLayerSpec {
  H: number;
  Hkv: number;
  Dh: number;
  F: number;
  eps: number;
  /** Gemma's x·(1 + w) norm */
  plusOne: boolean;
  act: ActCode;
  /** y = x + o + mlp(norm(x)) instead of x1 = x + o, y = x1 + mlp(norm(x1)) */
  parallelResidual: boolean;
  scale: number;
  /** the depth's rotary embedding and sliding window (0: none) */
  rope: RopeSpec | null;
  window: number;
  /** attention logit soft-cap (0: none) */
  softcap: number;
}

/** True when decodeLayer can run: the addon is loaded and the kernels in use are its own. */
export const decodeLayerAvailable: boolean = native !== null && kernels === native;

const NO_FREQ = new Float32Array(0);

/** The weight storage decode_layer_f32 and batch_layer_f32 take: f32, bf16 bit patterns, or packed block bytes. */
export function storage(w: Tensor): Float32Array | Uint16Array | Uint8Array {
  if (w.dtype === 'f32' || w.dtype === 'bf16' || isQuantized(w.dtype)) return w.data as Float32Array | Uint16Array | Uint8Array;
  throw new ShapeError(`decodeLayer: ${w.dtype} weights are not supported`);
}

/** The qtypes argument of the fused layers: null when no weight is quantized, else GGUF's type id per projection (0 for f32/bf16). */
export function qtypeArgs(projs: DecodeProj[]): Int32Array | null {
  return projs.some((p) => isQuantized(p.w.dtype)) ? Int32Array.from(projs, (p) => (isQuantized(p.w.dtype) ? qtypeOf(p.w.dtype) : 0)) : null;
}

export function decodeLayer(x: Tensor, w: DecodeLayerWeights, kCache: Float32Array, vCache: Float32Array, pos: number, s: DecodeLayerSpec): Tensor {
  if (!native || !decodeLayerAvailable) throw new Error('decodeLayer needs the native kernels (built, and RRT_KERNELS not set to ref)');
  const D = x.size, qd = s.H * s.Dh, kvd = s.Hkv * s.Dh;
  const shapes: [DecodeProj, number, number][] = [[w.q, qd, D], [w.k, kvd, D], [w.v, kvd, D], [w.o, D, qd], [w.gate, s.F, D], [w.up, s.F, D], [w.down, D, s.F]];
  for (const [p, n, m] of shapes)
    if (p.w.shape[0] !== n || p.w.shape[1] !== m) throw new ShapeError(`decodeLayer: weight [${p.w.shape.join(', ')}] where [${n}, ${m}] was expected (D = ${D})`);
  const y = new Float32Array(D);
  const bias = (p: DecodeProj) => (p.b ? p.b.f32 : null);
  const projs = [w.q, w.k, w.v, w.o, w.gate, w.up, w.down];
  const adapters = adapterArgs(projs);
  native.decode_layer_f32(
    y, kCache, vCache, x.f32, w.attnNorm?.f32 ?? null,
    storage(w.q.w), storage(w.k.w), storage(w.v.w), storage(w.o.w), w.mlpNorm?.f32 ?? null, storage(w.gate.w), storage(w.up.w), storage(w.down.w),
    bias(w.q), bias(w.k), bias(w.v), bias(w.o), bias(w.gate), bias(w.up), bias(w.down), s.rope ? s.rope.invFreq : NO_FREQ,
    D, s.H, s.Hkv, s.Dh, s.F, pos, s.rope ? s.rope.rotDim : 0,
    s.rope?.interleaved ? 1 : 0, s.eps, s.plusOne ? 1 : 0, s.act, s.parallelResidual ? 1 : 0, s.scale, adapters, qtypeArgs(projs),
    w.qNorm?.f32 ?? null, w.kNorm?.f32 ?? null, w.postAttnNorm?.f32 ?? null, w.postMlpNorm?.f32 ?? null, s.window, s.softcap,
  );
  return new Tensor(y, x.shape);
}

/** The adapters argument of decode_layer_f32 and batch_layer_f32: null, or A, B of each projection (null pairs where it has none). */
export function adapterArgs(projs: DecodeProj[]): (Float32Array | Uint16Array | null)[] | null {
  const factor = (t: Tensor) => storage(t) as Float32Array | Uint16Array;
  return projs.some((p) => p.lora) ? projs.flatMap((p) => (p.lora ? [factor(p.lora.a), factor(p.lora.b)] : [null, null])) : null;
}
