// The normalised model description that the one decoder runs:
// architectures differ only in these fields and in their weight-name tables.
import { ConfigError } from '../errors.js';
import type { RecursiveSpec } from './recursive-spec.js';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../formats/tensor-source.js';

export type Arch = 'llama' | 'gemma' | 'gemma2' | 'gemma3' | 'qwen2' | 'qwen3' | 'olmo2' | 'phi3' | 'gpt2' | 'gpt-neox';
export type NormKind = 'rms' | 'rmsPlusOne' | 'layer';
export type ActName = 'silu' | 'geluTanh' | 'geluErf' | 'relu';
/** How q, k, v come out of the attention input projection(s). */
export type QkvLayout = 'separate' | 'fusedBlocks' | 'fusedPerHead';
/** gateUp: Phi-3's fused gate_up_proj, [gate; up] rows ([2·intermediate, hidden]) */
export type ProjName = 'q' | 'k' | 'v' | 'qkv' | 'o' | 'gate' | 'up' | 'gateUp' | 'down';

export interface RopeScaling {
  type: 'linear' | 'llama3' | 'longrope';
  factor: number;
  /** longrope (Phi-3): each inverse frequency divided by its factor, within originalMaxPositions */
  shortFactor?: number[];
  /** longrope: what transformers multiplies cos and sin by */
  attentionFactor?: number;
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
  /**
   * RMSNorm of q and k after the projection, before rotary: 'perHead' over each head's headDim
   * values (Qwen3, Gemma 3; qNorm/kNorm [headDim]), 'whole' over each row's whole projection
   * (OLMo-2; qNorm [nHeads·headDim], kNorm [nKvHeads·headDim]). Absent: none.
   */
  qkNorm?: 'perHead' | 'whole';
  /**
   * Where each sublayer's norm sits. 'pre' (default): attnNorm/mlpNorm on the sublayer's input.
   * 'post' (OLMo-2): attnNorm/mlpNorm on its output, before the residual add. 'sandwich'
   * (Gemma 2/3): attnNorm/mlpNorm on the input and postAttnNorm/postMlpNorm on the output.
   */
  normPlacement?: 'pre' | 'post' | 'sandwich';
  /** Phi-3: the gated MLP's gate and up are one projection, gateUp [2·intermediate, hidden] = [gate; up] */
  gateUpFused?: boolean;
  /** Gemma 2: attention scores capped as cap·tanh(s/cap) before the mask and softmax (absent: none) */
  attnSoftcap?: number;
  /** Gemma 2: the logits capped as cap·tanh(z/cap) */
  finalSoftcap?: number;
  /**
   * Per depth, how many positions a query sees (itself and window − 1 before it); 0 for full
   * causal attention. The sliding-window layers of Gemma 2/3, Mistral, Qwen2/3 and Phi-3.
   * Absent: every layer full.
   */
  windows?: number[];
  /** Gemma 3: the sliding-window layers' rotary base (their rotary has no scaling) */
  localRopeTheta?: number;
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

  /**
   * rope_theta / rope_scaling (older style) or rope_parameters (newer style); also partial_rotary_factor / rotary_pct.
   * As in transformers, a non-empty rope_scaling is read in place of rope_parameters (the two may only both
   * be present when they agree), and llama3's original_max_position_embeddings comes from the top-level field
   * of that name when there is one, else from the scaling, else from max_position_embeddings.
   */
  rope(fallbackTheta = 10000, opts: { longrope?: boolean } = {}): { theta: number; scaling: RopeScaling | null; partial: number } {
    const dict = (key: string): Record<string, unknown> | null => {
      const v = this.json[key];
      if (v === undefined || v === null) return null;
      if (typeof v !== 'object' || Array.isArray(v)) throw new ConfigError('bad_value', `${this.what}: "${key}" must be an object, got ${JSON.stringify(v)}`, key);
      return Object.keys(v).length > 0 ? (v as Record<string, unknown>) : null;
    };
    const params = dict('rope_parameters'), legacy = dict('rope_scaling');
    // rope parameters per layer type ({ full_attention: {...}, sliding_attention: {...} }): not one rotary embedding
    const nested = params ? Object.keys(params).filter((k) => typeof params[k] === 'object' && params[k] !== null && !Array.isArray(params[k])) : [];
    if (nested.length > 0)
      throw new ConfigError('unsupported', `${this.what}: rope_parameters per layer type (${nested.join(', ')}) is not supported`, 'rope_parameters');
    if (params && legacy) {
      const typed = (o: Record<string, unknown>) => {
        const { type, ...rest } = o;
        return { ...rest, rope_type: rest.rope_type ?? type ?? 'default' };
      };
      const a = typed(legacy), b = typed(params);
      const differ = Object.keys(a).filter((k) => k in b && JSON.stringify(a[k as keyof typeof a]) !== JSON.stringify(b[k as keyof typeof b]));
      if (differ.length > 0)
        throw new ConfigError('bad_value', `${this.what}: config.json has both "rope_scaling" and "rope_parameters", and they differ in ${differ.join(', ')}; keep one`, 'rope_scaling');
    }
    const scalingJson = legacy ?? params;
    const theta = Number(scalingJson?.rope_theta ?? this.json.rope_theta ?? this.json.rotary_emb_base ?? fallbackTheta);
    if (!Number.isFinite(theta) || theta <= 0) throw new ConfigError('bad_value', `${this.what}: rope theta must be positive, got ${theta}`, 'rope_theta');
    const partial = Number(scalingJson?.partial_rotary_factor ?? this.json.partial_rotary_factor ?? this.json.rotary_pct ?? 1);
    if (!(partial > 0 && partial <= 1)) throw new ConfigError('bad_value', `${this.what}: partial rotary factor must be in (0, 1], got ${partial}`, 'partial_rotary_factor');
    let scaling: RopeScaling | null = null;
    const field = legacy ? 'rope_scaling' : 'rope_parameters';
    const type = scalingJson ? String(scalingJson.rope_type ?? scalingJson.type ?? 'default') : 'default';
    if ((type === 'longrope' || type === 'su') && opts.longrope) {
      // as transformers' _compute_longrope_parameters, for sequences within the original context:
      // short_factor divides the inverse frequencies (long_factor applies only beyond it, which rrt refuses)
      const short = scalingJson!.short_factor;
      if (!Array.isArray(short) || !short.every((x) => typeof x === 'number' && x > 0))
        throw new ConfigError('bad_value', `${this.what}: ${type} rope scaling needs "short_factor", a list of positive numbers, in ${field}`, field);
      const original = Number(this.json.original_max_position_embeddings ?? scalingJson!.original_max_position_embeddings);
      if (!(Number.isInteger(original) && original > 0))
        throw new ConfigError('bad_value', `${this.what}: ${type} rope scaling needs a positive integer original_max_position_embeddings`, 'original_max_position_embeddings');
      const factor = scalingJson!.factor != null ? Number(scalingJson!.factor) : this.int('max_position_embeddings', 4096) / original;
      if (!(factor > 0)) throw new ConfigError('bad_value', `${this.what}: ${type} rope scaling needs a positive "factor" in ${field}`, field);
      const attentionFactor = scalingJson!.attention_factor != null ? Number(scalingJson!.attention_factor) : factor <= 1 ? 1 : Math.sqrt(1 + Math.log(factor) / Math.log(original));
      if (!(attentionFactor > 0)) throw new ConfigError('bad_value', `${this.what}: ${type} rope scaling needs a positive "attention_factor" in ${field}`, field);
      scaling = { type: 'longrope', factor, shortFactor: short as number[], attentionFactor, originalMaxPositions: original };
    } else if (type === 'linear' || type === 'llama3') {
      const factor = Number(scalingJson!.factor);
      if (!(factor > 0)) throw new ConfigError('bad_value', `${this.what}: ${type} rope scaling needs a positive "factor" in ${field}`, field);
      scaling = { type, factor };
      if (type === 'llama3') {
        scaling.lowFreqFactor = Number(scalingJson!.low_freq_factor);
        scaling.highFreqFactor = Number(scalingJson!.high_freq_factor);
        scaling.originalMaxPositions = Number(this.json.original_max_position_embeddings ?? scalingJson!.original_max_position_embeddings ?? this.json.max_position_embeddings);
        if (![scaling.lowFreqFactor, scaling.highFreqFactor, scaling.originalMaxPositions].every((x) => x > 0))
          throw new ConfigError('bad_value', `${this.what}: llama3 rope scaling needs low_freq_factor, high_freq_factor and original_max_position_embeddings`, field);
        if (!(scaling.highFreqFactor > scaling.lowFreqFactor))
          throw new ConfigError('bad_value', `${this.what}: llama3 rope scaling needs high_freq_factor > low_freq_factor, got ${scaling.highFreqFactor} and ${scaling.lowFreqFactor}`, field);
      }
    } else if (type !== 'default') {
      throw new ConfigError('unsupported', `${this.what}: rope type "${type}" is not supported (default, linear, llama3)`, field);
    }
    return { theta, scaling, partial };
  }
}

/**
 * Refuses, by name, config fields that change a model's math and that rrt does not implement, so a
 * checkpoint that needs them fails to load instead of running with different outputs. Values that
 * leave the math unchanged (a multiplier of 1, a disabled flag, sliding attention whose window
 * covers the whole context) are accepted. `readsWindows`: the profile read the sliding-window
 * fields into cfg.windows itself (Mistral, Qwen2, Qwen3, Phi-3, Gemma 2/3), so they are not checked here.
 */
export function refuseUnimplemented(json: Record<string, unknown>, cfg: ModelConfig, readsWindows = false): void {
  const what = cfg.arch;
  const set = (k: string) => json[k] !== undefined && json[k] !== null;
  const refuse = (k: string, detail: string) => {
    throw new ConfigError('unsupported', `${what}: ${k} ${detail} is not supported`, k);
  };
  // any value changes the math (tanh capping of the attention scores or of the logits), unless the profile read it
  if (set('attn_logit_softcapping') && cfg.attnSoftcap === undefined) refuse('attn_logit_softcapping', `(${JSON.stringify(json.attn_logit_softcapping)})`);
  if (set('final_logit_softcapping') && cfg.finalSoftcap === undefined) refuse('final_logit_softcapping', `(${JSON.stringify(json.final_logit_softcapping)})`);
  // flags: normalised q and k, non-causal attention, attention temperature
  for (const k of ['qk_norm', 'use_qk_norm', 'qk_layernorm', 'use_qk_layernorm', 'qk_norm_type', 'use_bidirectional_attention', 'attn_temperature_tuning'])
    if (set(k) && json[k] !== false && json[k] !== 0) refuse(k, `(${JSON.stringify(json[k])})`);
  // multipliers that are 1 in the architectures rrt runs
  for (const k of ['embedding_multiplier', 'residual_multiplier', 'attention_multiplier', 'logits_scaling', 'logit_scale'])
    if (set(k) && json[k] !== 1) refuse(k, `${JSON.stringify(json[k])} (only 1)`);
  if (set('query_pre_attn_scalar') && !(Math.abs(cfg.attnScale - 1 / Math.sqrt(Number(json.query_pre_attn_scalar))) <= 1e-12 * cfg.attnScale))
    refuse('query_pre_attn_scalar', `${JSON.stringify(json.query_pre_attn_scalar)} (only head_dim, ${cfg.headDim})`);
  // no_rope_layers: 1 where a layer applies rotary embeddings, 0 where it does not
  if (set('no_rope_layers') && (!Array.isArray(json.no_rope_layers) || json.no_rope_layers.some((x) => x !== 1 && x !== true)))
    refuse('no_rope_layers', '(layers without rotary embeddings)');
  if (readsWindows) return;
  // Elsewhere sliding-window attention runs only where it equals full attention: a context no longer
  // than the window (a query at position q sees keys at q - window + 1 .. q), where the llama profile
  // caps Llama's (transformers' LlamaModel attends in full, while its cache keeps only the window).
  const window = json.sliding_window;
  if (set('sliding_window') && json.use_sliding_window !== false) {
    if (typeof window !== 'number' || !Number.isInteger(window) || window <= 0)
      throw new ConfigError('bad_value', `${what}: "sliding_window" must be a positive integer, got ${JSON.stringify(window)}`, 'sliding_window');
    if (cfg.maxPositions > window) refuse('sliding_window', `${window} with a context of ${cfg.maxPositions} (sliding-window attention)`);
  }
  if (set('layer_types')) {
    const types = json.layer_types;
    if (!Array.isArray(types) || types.some((t) => typeof t !== 'string'))
      throw new ConfigError('bad_value', `${what}: "layer_types" must be a list of strings`, 'layer_types');
    const other = [...new Set(types as string[])].filter((t) => t !== 'full_attention' && t !== 'sliding_attention');
    if (other.length > 0) refuse('layer_types', `with ${other.join(', ')} layers`);
    if (types.includes('sliding_attention') && !(typeof window === 'number' && window > 0 && cfg.maxPositions <= window))
      refuse('layer_types', `with sliding_attention layers (sliding_window ${JSON.stringify(window ?? null)}, context ${cfg.maxPositions})`);
  }
}

/** Inverse rotary frequencies as transformers computes them (fp32), with linear or llama3 scaling. */
export function ropeInvFreq(cfg: ModelConfig): Float32Array {
  const half = cfg.rotaryDim / 2;
  const inv = new Float32Array(half);
  for (let i = 0; i < half; i++) inv[i] = 1 / Math.pow(cfg.ropeTheta, Math.fround((2 * i) / cfg.rotaryDim));
  const s = cfg.ropeScaling;
  if (s?.type === 'linear') for (let i = 0; i < half; i++) inv[i] = inv[i] / s.factor;
  // longrope: 1 / (short_factor[i] · θ^(2i/d)), in float32 as transformers
  if (s?.type === 'longrope')
    for (let i = 0; i < half; i++) inv[i] = 1 / Math.fround(Math.fround(s.shortFactor![i]) * Math.fround(Math.pow(cfg.ropeTheta, Math.fround((2 * i) / cfg.rotaryDim))));
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
