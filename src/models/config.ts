// The normalised model description that the one decoder runs:
// architectures differ only in these fields and in their weight-name tables.
import { ConfigError } from '../errors.js';
import type { RecursiveSpec } from './recursive-spec.js';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../formats/tensor-source.js';

export type Arch = 'llama' | 'gemma' | 'qwen2' | 'qwen3' | 'gpt2' | 'gpt-neox';
export type NormKind = 'rms' | 'rmsPlusOne' | 'layer';
export type ActName = 'silu' | 'geluTanh' | 'geluErf' | 'relu';
/** How q, k, v come out of the attention input projection(s). */
export type QkvLayout = 'separate' | 'fusedBlocks' | 'fusedPerHead';
export type ProjName = 'q' | 'k' | 'v' | 'qkv' | 'o' | 'gate' | 'up' | 'down';

export interface RopeScaling {
  type: 'linear' | 'llama3';
  factor: number;
  lowFreqFactor?: number;
  highFreqFactor?: number;
  originalMaxPositions?: number;
}

export interface ModelConfig {
  arch: Arch;
  vocabSize: number;
  hidden: number;
  intermediate: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  maxPositions: number;
  normKind: NormKind;
  normEps: number;
  act: ActName;
  /** gated MLP: down(act(gate(x))·up(x)); else down(act(up(x))) */
  gated: boolean;
  /** GPT-NeoX: x + attn(ln1(x)) + mlp(ln2(x)) */
  parallelResidual: boolean;
  qkvLayout: QkvLayout;
  /** Qwen3: an RMSNorm over each query and key head (weights qNorm/kNorm, [headDim]) after the projection, before rotary */
  qkNorm?: boolean;
  /** rotary dims per head (0: no rotary, learned positions instead) */
  rotaryDim: number;
  ropeTheta: number;
  ropeScaling: RopeScaling | null;
  /** pairs (2i, 2i+1) instead of rotate-half (i, i + rotDim/2) */
  ropeInterleaved: boolean;
  /**
   * Precision of the inverse rotary frequencies. transformers keeps them in a buffer that takes
   * the checkpoint's dtype, so a bf16 checkpoint runs with bf16-rounded frequencies; we do the same
   * to reproduce its outputs (measured on the llama-bf16 and gemma-bf16 fixtures).
   */
  ropeFreqDtype: 'f32' | 'bf16' | 'f16';
  /** multiplies the token embeddings (Gemma: √hidden) */
  embedScale: number;
  tiedHead: boolean;
  learnedPositions: boolean;
  attnScale: number;
  bosId: number | null;
  eosIds: number[];
  /** the source config.json, kept to write checkpoints back */
  hf: Record<string, unknown>;
  /** set for a converted Recursive Transformer: nLayers is then its unrolled depth */
  recursive?: RecursiveSpec;
}

// ---- reading HF config.json fields with clear errors ----

export class HfFields {
  constructor(readonly json: Record<string, unknown>, readonly what: string) {}

  has(key: string): boolean {
    return this.json[key] !== undefined && this.json[key] !== null;
  }

  int(key: string, fallback?: number): number {
    const v = this.json[key] ?? fallback;
    if (v === undefined || v === null) throw new ConfigError('missing_field', `${this.what}: config.json has no "${key}"`, key);
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0)
      throw new ConfigError('bad_value', `${this.what}: "${key}" must be a positive integer, got ${JSON.stringify(v)}`, key);
    return v;
  }

  num(key: string, fallback?: number): number {
    const v = this.json[key] ?? fallback;
    if (v === undefined || v === null) throw new ConfigError('missing_field', `${this.what}: config.json has no "${key}"`, key);
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new ConfigError('bad_value', `${this.what}: "${key}" must be a number, got ${JSON.stringify(v)}`, key);
    return v;
  }

  bool(key: string, fallback: boolean): boolean {
    const v = this.json[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'boolean') throw new ConfigError('bad_value', `${this.what}: "${key}" must be true or false, got ${JSON.stringify(v)}`, key);
    return v;
  }

  str(key: string, fallback?: string): string {
    const v = this.json[key] ?? fallback;
    if (typeof v !== 'string') throw new ConfigError('missing_field', `${this.what}: config.json has no string "${key}"`, key);
    return v;
  }

  tokenIds(key: string): number[] {
    const v = this.json[key];
    if (v === undefined || v === null) return [];
    const list = Array.isArray(v) ? v : [v];
    for (const x of list) if (typeof x !== 'number' || !Number.isInteger(x) || x < 0) throw new ConfigError('bad_value', `${this.what}: "${key}" must hold token ids`, key);
    return list as number[];
  }

  /** The dtype the checkpoint declares (config "dtype", or "torch_dtype" in older files). */
  checkpointDtype(): 'f32' | 'bf16' | 'f16' {
    const d = this.json.dtype ?? this.json.torch_dtype;
    return d === 'bfloat16' ? 'bf16' : d === 'float16' ? 'f16' : 'f32';
  }

  /** rope_theta / rope_scaling (older style) or rope_parameters (newer style); also partial_rotary_factor / rotary_pct. */
  rope(fallbackTheta = 10000): { theta: number; scaling: RopeScaling | null; partial: number } {
    const params = (this.json.rope_parameters ?? null) as Record<string, unknown> | null;
    const scalingJson = (params ?? this.json.rope_scaling ?? null) as Record<string, unknown> | null;
    const theta = Number(params?.rope_theta ?? this.json.rope_theta ?? this.json.rotary_emb_base ?? fallbackTheta);
    if (!Number.isFinite(theta) || theta <= 0) throw new ConfigError('bad_value', `${this.what}: rope theta must be positive, got ${theta}`, 'rope_theta');
    const partial = Number(params?.partial_rotary_factor ?? this.json.partial_rotary_factor ?? this.json.rotary_pct ?? 1);
    if (!(partial > 0 && partial <= 1)) throw new ConfigError('bad_value', `${this.what}: partial rotary factor must be in (0, 1], got ${partial}`, 'partial_rotary_factor');
    let scaling: RopeScaling | null = null;
    const type = scalingJson ? String(scalingJson.rope_type ?? scalingJson.type ?? 'default') : 'default';
    if (type === 'linear' || type === 'llama3') {
      const factor = Number(scalingJson!.factor);
      if (!(factor > 0)) throw new ConfigError('bad_value', `${this.what}: rope scaling factor must be positive`, 'rope_scaling');
      scaling = { type, factor };
      if (type === 'llama3') {
        scaling.lowFreqFactor = Number(scalingJson!.low_freq_factor);
        scaling.highFreqFactor = Number(scalingJson!.high_freq_factor);
        scaling.originalMaxPositions = Number(scalingJson!.original_max_position_embeddings);
        if (![scaling.lowFreqFactor, scaling.highFreqFactor, scaling.originalMaxPositions].every((x) => x > 0))
          throw new ConfigError('bad_value', `${this.what}: llama3 rope scaling needs low_freq_factor, high_freq_factor and original_max_position_embeddings`, 'rope_scaling');
      }
    } else if (type !== 'default') {
      throw new ConfigError('unsupported', `${this.what}: rope type "${type}" is not supported (default, linear, llama3)`, 'rope_scaling');
    }
    return { theta, scaling, partial };
  }
}

/** Inverse rotary frequencies as transformers computes them (fp32), with linear or llama3 scaling. */
export function ropeInvFreq(cfg: ModelConfig): Float32Array {
  const half = cfg.rotaryDim / 2;
  const inv = new Float32Array(half);
  for (let i = 0; i < half; i++) inv[i] = 1 / Math.pow(cfg.ropeTheta, Math.fround((2 * i) / cfg.rotaryDim));
  const s = cfg.ropeScaling;
  if (s?.type === 'linear') for (let i = 0; i < half; i++) inv[i] = inv[i] / s.factor;
  if (s?.type === 'llama3') {
    const lowWave = s.originalMaxPositions! / s.lowFreqFactor!;
    const highWave = s.originalMaxPositions! / s.highFreqFactor!;
    for (let i = 0; i < half; i++) {
      const wave = (2 * Math.PI) / inv[i];
      if (wave > lowWave) inv[i] = inv[i] / s.factor;
      else if (wave >= highWave) {
        const smooth = (s.originalMaxPositions! / wave - s.lowFreqFactor!) / (s.highFreqFactor! - s.lowFreqFactor!);
        inv[i] = (1 - smooth) * (inv[i] / s.factor) + smooth * inv[i];
      }
    }
  }
  if (cfg.ropeFreqDtype === 'bf16') for (let i = 0; i < half; i++) inv[i] = bf16ToF32(f32ToBf16(inv[i]));
  if (cfg.ropeFreqDtype === 'f16') for (let i = 0; i < half; i++) inv[i] = f16ToF32(f32ToF16(inv[i]));
  return inv;
}
