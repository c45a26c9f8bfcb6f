// The llama.cpp architectures rrt writes to GGUF and reads back, one entry each: tensor names,
// the metadata and tensors beyond the common ones, and what the architecture cannot hold. The
// entries follow llama.cpp's loaders (src/models/<arch>.cpp, load_arch_tensors) and its
// converter (convert_hf_to_gguf.py); export-gguf.ts and gguf-hf.ts read nothing else per arch.
import { ConfigError } from '../errors.js';
import type { Arch, ModelConfig } from '../models/config.js';
import type { GgufTensorToWrite, GgufType, GgufValue } from './gguf.js';
import { llama3FromRopeFreqs, llama3RopeFreqs } from './gguf-rope.js';

export type GgufKv = [string, GgufValue, GgufType];

/** What an entry's import hook may read from the file. */
export interface GgufArchFile {
  path: string;
  /** `${arch}.${key}` as a number (f32 as the decimal it was written from); the fallback when absent, else an error */
  num(key: string, fallback?: number): number;
  /** `${arch}.${key}`, or undefined */
  get(key: string): GgufValue | undefined;
  /** a top-level tensor's values (marked as used, so it is not reported as unmapped); null when absent */
  vector(name: string): Float32Array | null;
  headDim: number;
  /** rope.dimension_count (the head size when absent) */
  rotary: number;
}

export interface GgufArch {
  /** llama.cpp's general.architecture */
  name: string;
  /** rrt's architecture written as it (and read back into) */
  arch: Arch;
  /** the HF config's architectures[0] and model_type when read back */
  hfClass: string;
  modelType: string;
  /** canonical per-layer key → llama.cpp's name, as in blk.N.<name>.weight */
  layer: Readonly<Record<string, string>>;
  /**
   * q/k rows in the interleaved rotary order llama.cpp's converter permutes llama's into (its
   * NORM rope pairs 2i, 2i+1); the NEOX-rope architectures keep HF's rotate-half rows as they are.
   */
  interleavedRope?: boolean;
  /** the looped architecture llama.cpp runs this one's blocks in (the shared block once, num_loops runs) */
  looped?: string;
  /** llama.cpp loads output.weight as required: a tied head is written again as output.weight */
  outputRequired?: boolean;
  /** llama.cpp sizes q and o [hidden, hidden]: heads × head size must equal hidden */
  qIsHidden?: boolean;
  /** llama.cpp rotates only rope.dimension_count dims of each head (others assert it equals the head size) */
  partialRotary?: boolean;
  /** rope scaling types besides linear (which every entry writes) that extras() writes */
  ropeScaling?: readonly string[];
  /** why the model's block is not the one llama.cpp's graph runs for this architecture, or null; default llamaBlock */
  block?(cfg: ModelConfig): string | null;
  /** why this model cannot be written as this architecture beyond the checks every entry shares, or null */
  unsupported?(cfg: ModelConfig): string | null;
  /** metadata and top-level tensors beyond the common ones */
  extras?(cfg: ModelConfig): { kvs: GgufKv[]; tensors: GgufTensorToWrite[] };
  /** HF config fields beyond the common ones, read from the file */
  hfFields?(f: GgufArchFile): Record<string, unknown>;
}

/**
 * Why cfg's block is not the one llama.cpp runs for llama, qwen3, olmo2 and phi3 (RMSNorm,
 * SiLU-gated MLP, unscaled embeddings, rotate-half rotary, attention at 1/√head size, times
 * longrope's attention factor squared as it multiplies cos and sin), or null.
 */
export function llamaBlock(cfg: ModelConfig): string | null {
  const s = cfg.ropeScaling;
  const scale = (s?.type === 'longrope' ? s.attentionFactor! ** 2 : 1) / Math.sqrt(cfg.headDim);
  if (cfg.normKind !== 'rms') return `${cfg.normKind} norms`;
  if (cfg.act !== 'silu' || !cfg.gated) return `a ${cfg.gated ? 'gated ' : ''}${cfg.act} MLP`;
  if (cfg.parallelResidual || cfg.learnedPositions || cfg.ropeInterleaved) return 'a GPT-style block';
  if (cfg.embedScale !== 1) return `embeddings scaled by ${cfg.embedScale}`;
  if (Math.abs(cfg.attnScale - scale) > 1e-12 * scale) return `attention scaled by ${cfg.attnScale}, not ${scale}`;
  return null;
}

const LLAMA_LAYER = {
  'attnNorm.w': 'attn_norm', 'mlpNorm.w': 'ffn_norm', 'q.w': 'attn_q', 'k.w': 'attn_k', 'v.w': 'attn_v', 'o.w': 'attn_output',
  'gate.w': 'ffn_gate', 'up.w': 'ffn_up', 'down.w': 'ffn_down',
} as const;

/** Phi-3's longrope within its original context: short factors, and the attention factor on cos and sin (llama.cpp's rope attn_factor). */
function phi3Extras(cfg: ModelConfig): { kvs: GgufKv[]; tensors: GgufTensorToWrite[] } {
  const s = cfg.ropeScaling;
  if (s?.type !== 'longrope') return { kvs: [], tensors: [] };
  // as llama.cpp's converter: no rope.scaling.type (the factor tensors say it)
  const kvs: GgufKv[] = [
    ['phi3.rope.scaling.attn_factor', s.attentionFactor!, 'f32'],
    ['phi3.rope.scaling.original_context_length', s.originalMaxPositions!, 'u32'],
  ];
  const vec = (name: string, v: number[]): GgufTensorToWrite => ({ name, dtype: 'f32', shape: [v.length], data: Float32Array.from(v) });
  const tensors = [vec('rope_factors_short.weight', s.shortFactor!)];
  // past the original context llama.cpp switches to the long factors, as the model itself does (rrt stops there)
  const json = (cfg.hf.rope_scaling ?? cfg.hf.rope_parameters) as { long_factor?: unknown } | undefined;
  const long = json?.long_factor;
  if (Array.isArray(long) && long.length === s.shortFactor!.length && long.every((x) => typeof x === 'number')) tensors.push(vec('rope_factors_long.weight', long as number[]));
  return { kvs, tensors };
}

/** Phi-3's HF rope fields from a file: partial rotary, and longrope with its factors. */
function phi3Fields(f: GgufArchFile): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (f.rotary !== f.headDim) out.partial_rotary_factor = rotaryFraction(f.rotary, f.headDim);
  const window = f.num('attention.sliding_window', 0);
  // llama.cpp runs Phi-3 without its window; rrt caps the context there, where the two agree
  if (window > 0) out.sliding_window = window;
  const type = f.get('rope.scaling.type');
  const short = f.vector('rope_factors_short.weight'), long = f.vector('rope_factors_long.weight');
  if (type !== 'longrope' && !short) return out;
  if (!short) throw new ConfigError('missing_field', `${f.path}: longrope rope scaling without rope_factors_short.weight`, 'rope_factors_short.weight');
  const original = f.num('rope.scaling.original_context_length');
  out.original_max_position_embeddings = original;
  out.rope_scaling = {
    rope_type: 'longrope',
    short_factor: [...short],
    ...(long ? { long_factor: [...long] } : {}),
    factor: f.num('context_length') / original,
    attention_factor: f.num('rope.scaling.attn_factor', 1),
  };
  return out;
}

/** The smallest fraction p ≥ r/h with floor(h·p) = r, so rrt's floor(head_dim · partial_rotary_factor) gives back r. */
export function rotaryFraction(r: number, h: number): number {
  let p = r / h;
  while (Math.floor(h * p) < r) p += Number.EPSILON * p;
  return p;
}

export const GGUF_ARCHS: readonly GgufArch[] = [
  {
    name: 'llama', arch: 'llama', hfClass: 'LlamaForCausalLM', modelType: 'llama', layer: LLAMA_LAYER,
    interleavedRope: true, looped: 'nanbeige', ropeScaling: ['llama3'],
    extras: (cfg) => ({
      kvs: [],
      tensors: cfg.ropeScaling?.type === 'llama3' ? [{ name: 'rope_freqs.weight', dtype: 'f32', shape: [cfg.rotaryDim / 2], data: llama3RopeFreqs(cfg) }] : [],
    }),
    hfFields: (f) => {
      const freqs = f.vector('rope_freqs.weight');
      const llama3 = freqs && llama3FromRopeFreqs(freqs, f.num('rope.freq_base', 10000), f.rotary, f.path);
      return { attention_bias: false, mlp_bias: false, ...(llama3 ? { rope_scaling: { rope_type: 'llama3', ...llama3 } } : {}) };
    },
  },
  {
    // per-head q/k RMSNorm ([head size])
    name: 'qwen3', arch: 'qwen3', hfClass: 'Qwen3ForCausalLM', modelType: 'qwen3',
    layer: { ...LLAMA_LAYER, 'qNorm.w': 'attn_q_norm', 'kNorm.w': 'attn_k_norm' },
    hfFields: () => ({ attention_bias: false }),
  },
  {
    // no norm before the sublayers; their outputs normed (post_attention_norm, post_ffw_norm); q/k RMSNorm over the whole projection
    name: 'olmo2', arch: 'olmo2', hfClass: 'Olmo2ForCausalLM', modelType: 'olmo2',
    layer: {
      'attnNorm.w': 'post_attention_norm', 'mlpNorm.w': 'post_ffw_norm', 'qNorm.w': 'attn_q_norm', 'kNorm.w': 'attn_k_norm',
      'q.w': 'attn_q', 'k.w': 'attn_k', 'v.w': 'attn_v', 'o.w': 'attn_output', 'gate.w': 'ffn_gate', 'up.w': 'ffn_up', 'down.w': 'ffn_down',
    },
    outputRequired: true, qIsHidden: true,
    hfFields: (f) => {
      if (f.num('attention.sliding_window', 0) > 0) throw new ConfigError('unsupported', `${f.path}: sliding-window attention layers (OLMo-3) are not supported`, 'olmo2.attention.sliding_window');
      return { attention_bias: false };
    },
  },
  {
    // fused attn_qkv [q; k; v] and ffn_up [gate; up] (llama.cpp's SWIGLU takes the first half as the gate)
    name: 'phi3', arch: 'phi3', hfClass: 'Phi3ForCausalLM', modelType: 'phi3',
    layer: { 'attnNorm.w': 'attn_norm', 'mlpNorm.w': 'ffn_norm', 'qkv.w': 'attn_qkv', 'o.w': 'attn_output', 'gateUp.w': 'ffn_up', 'down.w': 'ffn_down' },
    qIsHidden: true, partialRotary: true, ropeScaling: ['longrope'],
    extras: phi3Extras, hfFields: phi3Fields,
  },
];

/** The entry for a file's general.architecture (its own name or its looped form). */
export function ggufArchByName(name: string): GgufArch | undefined {
  return GGUF_ARCHS.find((a) => a.name === name || a.looped === name);
}

/** The entry rrt writes a model of architecture `arch` as. */
export function ggufArchFor(arch: Arch): GgufArch | undefined {
  return GGUF_ARCHS.find((a) => a.arch === arch);
}

/** "llama, qwen3, olmo2, phi3", for messages. */
export const GGUF_ARCH_NAMES = GGUF_ARCHS.map((a) => a.name).join(', ');
