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
  /** whether the file holds tensor `name` */
  has(name: string): boolean;
  /** embedding_length, head_count, block_count, key_length */
  hidden: number;
  heads: number;
  layers: number;
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
  /**
   * Norm weights are stored as w + normShift: the model's RMSNorm multiplies by 1 + w (Gemma),
   * llama.cpp's by the stored weight, so its converter adds 1 (subtracted again on import).
   */
  normShift?: number;
  /** llama.cpp sizes q and o [hidden, hidden]: heads × head size must equal hidden */
  qIsHidden?: boolean;
  /** llama.cpp rotates only rope.dimension_count dims of each head (others assert it equals the head size) */
  partialRotary?: boolean;
  /** llama.cpp runs the model's sliding windows (attention.sliding_window and its pattern); the others attend in full */
  windows?: boolean;
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
  // llama.cpp runs Phi-3 without its window: the context ends there, where the two agree
  if (window > 0) {
    out.sliding_window = window;
    out.max_position_embeddings = Math.min(f.num('context_length'), window);
  }
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

type GemmaArch = 'gemma2' | 'gemma3';

/**
 * The query_pre_attn_scalar llama.cpp runs a Gemma model at: its GGUF has no key for it, and its
 * loaders (gemma2.cpp, gemma3.cpp) take hidden / heads (integer division) for the 27B sizes,
 * which they know by the block count (46 for Gemma 2, 62 for Gemma 3), and the head size otherwise.
 */
export function gemmaQueryScalar(arch: GemmaArch, layers: number, hidden: number, heads: number, headDim: number): number {
  return layers === (arch === 'gemma2' ? 46 : 62) ? Math.floor(hidden / heads) : headDim;
}

/**
 * Why cfg's block is not the one llama.cpp runs for Gemma 2 / Gemma 3 (RMSNorm ·(1+w) before and
 * after each sublayer, GELU-tanh gated MLP, embeddings ×√hidden, rotate-half rotary, attention at
 * 1/√gemmaQueryScalar; Gemma 2 caps the attention scores and the logits, always; Gemma 3 norms q
 * and k per head and may cap the logits), or null.
 */
function gemmaBlock(arch: GemmaArch): (cfg: ModelConfig) => string | null {
  return (cfg) => {
    if (cfg.normKind !== 'rmsPlusOne') return `${cfg.normKind} norms (llama.cpp's ${arch} runs Gemma's RMSNorm, its weights stored as 1 + w)`;
    if (cfg.act !== 'geluTanh' || !cfg.gated) return `a ${cfg.gated ? 'gated ' : ''}${cfg.act} MLP (llama.cpp's ${arch} runs a GELU-tanh gated one; hidden_activation)`;
    if (cfg.normPlacement !== 'sandwich') return `${cfg.normPlacement ?? 'pre'} norms (llama.cpp's ${arch} norms each sublayer's input and output)`;
    if (cfg.parallelResidual || cfg.learnedPositions || cfg.ropeInterleaved) return 'a GPT-style block';
    if (cfg.embedScale !== Math.fround(Math.sqrt(cfg.hidden))) return `embeddings scaled by ${cfg.embedScale}, not √${cfg.hidden}`;
    if (arch === 'gemma3' && cfg.qkNorm !== 'perHead') return `${cfg.qkNorm ?? 'no'} q/k norms (llama.cpp's gemma3 norms q and k per head)`;
    const qpas = gemmaQueryScalar(arch, cfg.nLayers, cfg.hidden, cfg.nHeads, cfg.headDim);
    if (Math.abs(cfg.attnScale * Math.sqrt(qpas) - 1) > 1e-12) {
      const given = typeof cfg.hf.query_pre_attn_scalar === 'number' ? cfg.hf.query_pre_attn_scalar : Number((1 / cfg.attnScale ** 2).toPrecision(12));
      return `query_pre_attn_scalar ${given} (llama.cpp's ${arch} scales attention by 1/√${qpas} for ${cfg.nLayers} blocks of head size ${cfg.headDim}, and its GGUF has no key for it)`;
    }
    if (arch === 'gemma2' && cfg.attnSoftcap === undefined) return 'no attn_logit_softcapping (llama.cpp\'s gemma2 always caps the attention scores)';
    if (arch === 'gemma2' && cfg.finalSoftcap === undefined) return 'no final_logit_softcapping (llama.cpp\'s gemma2 always caps the logits)';
    if (arch === 'gemma3' && cfg.attnSoftcap !== undefined) return `attn_logit_softcapping ${cfg.attnSoftcap} (llama.cpp's gemma3 does not cap the attention scores)`;
    return null;
  };
}

function gemmaUnsupported(arch: GemmaArch): (cfg: ModelConfig) => string | null {
  return (cfg) => {
    const windows = new Set(cfg.windows?.filter((w) => w > 0));
    if (windows.size > 1) return `sliding windows of ${[...windows].join(', ')} positions (llama.cpp's ${arch} has one sliding_window)`;
    if (arch === 'gemma2' && !cfg.tiedHead) return 'an untied lm_head (llama.cpp\'s gemma2 runs the token embedding as the output; tie_word_embeddings false)';
    return null;
  };
}

/** Soft-caps, the window and which layers slide (one bool per block, read by llama.cpp before its default pattern), Gemma 3's local rotary base. */
function gemmaExtras(arch: GemmaArch): (cfg: ModelConfig) => { kvs: GgufKv[]; tensors: GgufTensorToWrite[] } {
  return (cfg) => {
    const kvs: GgufKv[] = [];
    if (arch === 'gemma2') kvs.push([`${arch}.attn_logit_softcapping`, cfg.attnSoftcap!, 'f32']);
    if (cfg.finalSoftcap !== undefined) kvs.push([`${arch}.final_logit_softcapping`, cfg.finalSoftcap, 'f32']);
    const window = Math.max(0, ...(cfg.windows ?? []));
    if (window > 0) {
      kvs.push([`${arch}.attention.sliding_window`, window, 'u32'], [`${arch}.attention.sliding_window_pattern`, cfg.windows!.map((w) => w > 0), 'bool']);
    } else if (arch === 'gemma2') {
      // llama.cpp's gemma2 always slides (4096 when the key is absent); every window here covers the context
      const w = cfg.hf.sliding_window;
      kvs.push([`${arch}.attention.sliding_window`, typeof w === 'number' && w >= cfg.maxPositions ? w : cfg.maxPositions, 'u32']);
    }
    if (arch === 'gemma3' && cfg.localRopeTheta !== undefined) kvs.push([`${arch}.rope.freq_base_swa`, cfg.localRopeTheta, 'f32']);
    return { kvs, tensors: [] };
  };
}

/** The HF Gemma 2 / Gemma 3 fields of a file, as llama.cpp reads it (its defaults where a key is absent). */
function gemmaFields(arch: GemmaArch): (f: GgufArchFile) => Record<string, unknown> {
  return (f) => {
    const key = (k: string) => `${arch}.${k}`;
    const window = f.num('attention.sliding_window', arch === 'gemma2' ? 4096 : 0);
    if (arch === 'gemma2' && !(window > 0)) throw new ConfigError('bad_value', `${f.path}: ${key('attention.sliding_window')} is ${window}; llama.cpp's gemma2 slides every other layer and needs a positive window`, key('attention.sliding_window'));
    const sliding = window > 0 ? slidingLayers(f, arch === 'gemma2' ? 2 : 6, key('attention.sliding_window_pattern')) : new Array<boolean>(f.layers).fill(false);
    const out: Record<string, unknown> = {
      hidden_act: 'gelu_pytorch_tanh',
      hidden_activation: 'gelu_pytorch_tanh',
      attention_bias: false,
      query_pre_attn_scalar: gemmaQueryScalar(arch, f.layers, f.hidden, f.heads, f.headDim),
      layer_types: sliding.map((s) => (s ? 'sliding_attention' : 'full_attention')),
      ...(window > 0 ? { sliding_window: window } : {}),
    };
    if (arch === 'gemma2') {
      if (f.has('output.weight')) throw new ConfigError('unsupported', `${f.path}: output.weight in a gemma2 file (llama.cpp's gemma2 runs the token embedding as the output)`, 'output.weight');
      const base = f.num('rope.freq_base', 10000);
      if (f.num('rope.freq_base_swa', base) !== base)
        throw new ConfigError('unsupported', `${f.path}: ${key('rope.freq_base_swa')} ${f.num('rope.freq_base_swa')} ≠ rope.freq_base ${base} (a rotary base of the sliding layers' own is Gemma 3's)`, key('rope.freq_base_swa'));
      // llama.cpp's defaults when the keys are absent
      out.attn_logit_softcapping = f.num('attn_logit_softcapping', 50);
      out.final_logit_softcapping = f.num('final_logit_softcapping', 30);
    } else {
      // 0: no cap; llama.cpp's gemma3 never caps the attention scores, whatever the file says
      const cap = f.num('final_logit_softcapping', 0);
      if (cap > 0) out.final_logit_softcapping = cap;
      out.rope_local_base_freq = f.num('rope.freq_base_swa', 10000);
    }
    return out;
  };
}

/**
 * Which blocks slide, as llama.cpp's load_swa_pattern reads them: one bool (or integer) per block,
 * else a period n (the key as one integer, or the architecture's default) of which every n-th block is full.
 */
function slidingLayers(f: GgufArchFile, period: number, key: string): boolean[] {
  const p = f.get('attention.sliding_window_pattern');
  if (Array.isArray(p)) {
    if (p.length !== f.layers || p.some((x) => typeof x !== 'boolean' && typeof x !== 'number'))
      throw new ConfigError('bad_value', `${f.path}: ${key} must hold one bool per block (${f.layers}), got ${p.length} values`, key);
    return p.map((x) => x !== false && x !== 0);
  }
  const n = p === undefined ? period : f.num('attention.sliding_window_pattern');
  return Array.from({ length: f.layers }, (_, il) => n === 0 || il % n < n - 1);
}

const GEMMA_LAYER = {
  'attnNorm.w': 'attn_norm', 'postAttnNorm.w': 'post_attention_norm', 'mlpNorm.w': 'ffn_norm', 'postMlpNorm.w': 'post_ffw_norm',
  'q.w': 'attn_q', 'k.w': 'attn_k', 'v.w': 'attn_v', 'o.w': 'attn_output', 'gate.w': 'ffn_gate', 'up.w': 'ffn_up', 'down.w': 'ffn_down',
} as const;

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
  {
    // sandwich norms (post_attention_norm, post_ffw_norm after the sublayers), soft-caps; the head is always the token embedding
    name: 'gemma2', arch: 'gemma2', hfClass: 'Gemma2ForCausalLM', modelType: 'gemma2', layer: GEMMA_LAYER, normShift: 1, windows: true,
    block: gemmaBlock('gemma2'), unsupported: gemmaUnsupported('gemma2'), extras: gemmaExtras('gemma2'), hfFields: gemmaFields('gemma2'),
  },
  {
    // Gemma 2's block with per-head q/k norms; the sliding layers' rotary base is rope.freq_base_swa, their rotary unscaled
    name: 'gemma3', arch: 'gemma3', hfClass: 'Gemma3ForCausalLM', modelType: 'gemma3_text',
    layer: { ...GEMMA_LAYER, 'qNorm.w': 'attn_q_norm', 'kNorm.w': 'attn_k_norm' }, normShift: 1, windows: true,
    block: gemmaBlock('gemma3'), unsupported: gemmaUnsupported('gemma3'), extras: gemmaExtras('gemma3'), hfFields: gemmaFields('gemma3'),
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

/** "llama, qwen3, olmo2, phi3, gemma2, gemma3", for messages. */
export const GGUF_ARCH_NAMES = GGUF_ARCHS.map((a) => a.name).join(', ');
