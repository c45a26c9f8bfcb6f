// Gemma 2 and Gemma 3 (text): RMSNorm ·(1+w) before and after attention and the MLP ('sandwich'),
// √D embedding scale, GeGLU, attention scale query_pre_attn_scalar^-½, sliding-window attention
// on the layers layer_types names. Gemma 2 soft-caps the attention scores and the logits; Gemma 3
// norms q and k per head and gives its sliding layers a rotary base of their own. Mirrors
// transformers' models/gemma2/modeling_gemma2.py and gemma3/modeling_gemma3.py (Gemma3ForCausalLM).
import { ConfigError } from '../../errors.js';
import { type Arch, HfFields, type ModelConfig } from '../config.js';
import { actFromHf, checkFields, GENERIC_FIELDS, type Profile, type WeightEntry } from './profile.js';

/** Every field a Gemma 2 / Gemma 3 text config.json may hold (Gemma3TextConfig's legacy rope fields too). */
const FIELDS = new Set([
  'vocab_size', 'hidden_size', 'intermediate_size', 'num_hidden_layers', 'num_attention_heads', 'num_key_value_heads', 'head_dim',
  'hidden_activation', 'hidden_act', 'max_position_embeddings', 'initializer_range', 'rms_norm_eps', 'use_cache', 'pad_token_id',
  'eos_token_id', 'bos_token_id', 'tie_word_embeddings', 'rope_theta', 'rope_scaling', 'rope_parameters', 'rope_local_base_freq',
  'attention_bias', 'attention_dropout', 'query_pre_attn_scalar', 'sliding_window', 'sliding_window_pattern', 'layer_types',
  'final_logit_softcapping', 'attn_logit_softcapping', 'use_bidirectional_attention', 'cache_implementation', ...GENERIC_FIELDS,
]);

function optionalCap(f: HfFields, key: string): number | undefined {
  if (!f.has(key)) return undefined;
  const v = f.num(key);
  if (!(v > 0)) throw new ConfigError('bad_value', `${f.what}: "${key}" must be positive or null, got ${v}`, key);
  return v;
}

/** Per layer, sliding or full: layer_types, else the default pattern (Gemma 2 alternates; Gemma 3 every sliding_window_pattern-th is full). */
function layerTypes(arch: Arch, f: HfFields, nLayers: number): string[] {
  const json = f.json;
  if (f.has('layer_types')) {
    const t = json.layer_types;
    if (!Array.isArray(t) || t.length !== nLayers || t.some((x) => x !== 'full_attention' && x !== 'sliding_attention'))
      throw new ConfigError('bad_value', `${arch}: "layer_types" must list full_attention or sliding_attention for each of the ${nLayers} layers`, 'layer_types');
    return t as string[];
  }
  const period = arch === 'gemma2' ? 2 : f.int('sliding_window_pattern', 6);
  return Array.from({ length: nLayers }, (_, i) => ((i + 1) % period ? 'sliding_attention' : 'full_attention'));
}

/**
 * Gemma 3's rotary bases: rope_parameters per layer type ({ full_attention, sliding_attention }),
 * or the legacy rope_theta / rope_scaling (full layers) and rope_local_base_freq (sliding ones).
 * The sliding layers' rotary is unscaled.
 */
function gemma3Rope(f: HfFields): { full: ReturnType<HfFields['rope']>; localTheta: number } {
  const params = f.json.rope_parameters as Record<string, unknown> | null | undefined;
  const nested = params && typeof params === 'object' && ('full_attention' in params || 'sliding_attention' in params);
  if (!nested) return { full: f.rope(1_000_000), localTheta: f.num('rope_local_base_freq', 10_000) };
  const of = (type: string) => {
    const p = params[type] ?? {};
    return new HfFields({ ...f.json, rope_parameters: p, rope_scaling: null, rope_theta: undefined }, `${f.what} rope_parameters.${type}`);
  };
  const local = of('sliding_attention').rope(10_000);
  if (local.scaling) throw new ConfigError('unsupported', `${f.what}: rope scaling on the sliding-window layers is not supported`, 'rope_parameters');
  return { full: of('full_attention').rope(1_000_000), localTheta: local.theta };
}

function configFromHf(arch: 'gemma2' | 'gemma3', json: Record<string, unknown>): ModelConfig {
  const f = new HfFields(json, arch);
  checkFields(arch, FIELDS, json);
  if (f.bool('use_bidirectional_attention', false))
    throw new ConfigError('unsupported', `${arch}: use_bidirectional_attention (non-causal attention) is not supported`, 'use_bidirectional_attention');
  if (f.bool('attention_bias', false)) throw new ConfigError('unsupported', `${arch}: attention_bias is not supported`, 'attention_bias');
  const hidden = f.int('hidden_size');
  const nHeads = f.int('num_attention_heads');
  const nKvHeads = f.int('num_key_value_heads', nHeads);
  if (nHeads % nKvHeads !== 0) throw new ConfigError('bad_value', `${arch}: num_attention_heads ${nHeads} is not a multiple of num_key_value_heads ${nKvHeads}`, 'num_key_value_heads');
  const headDim = f.int('head_dim', 256);
  const nLayers = f.int('num_hidden_layers');
  const rope = arch === 'gemma3' ? gemma3Rope(f) : { full: f.rope(10_000), localTheta: undefined };
  if (rope.full.partial !== 1) throw new ConfigError('unsupported', `${arch}: partial rotary is not supported`, 'partial_rotary_factor');
  const window = f.int('sliding_window', 4096);
  const windows = layerTypes(arch, f, nLayers).map((t) => (t === 'sliding_attention' ? window : 0));
  const maxPositions = f.int('max_position_embeddings', 8192);
  return {
    arch,
    vocabSize: f.int('vocab_size'),
    hidden,
    intermediate: f.int('intermediate_size'),
    nLayers,
    nHeads,
    nKvHeads,
    headDim,
    maxPositions,
    normKind: 'rmsPlusOne',
    normEps: f.num('rms_norm_eps', 1e-6),
    act: actFromHf(String(json.hidden_activation ?? json.hidden_act ?? 'gelu_pytorch_tanh'), arch, 'hidden_activation'),
    gated: true,
    parallelResidual: false,
    qkvLayout: 'separate',
    qkNorm: arch === 'gemma3' ? 'perHead' : undefined,
    normPlacement: 'sandwich',
    attnSoftcap: optionalCap(f, 'attn_logit_softcapping'),
    finalSoftcap: optionalCap(f, 'final_logit_softcapping'),
    // kept even when a window spans the whole context: a sliding layer still takes Gemma 3's local rotary base
    windows: windows.some((w) => w > 0) ? windows : undefined,
    localRopeTheta: rope.localTheta,
    rotaryDim: headDim,
    ropeTheta: rope.full.theta,
    ropeScaling: rope.full.scaling,
    ropeInterleaved: false,
    ropeFreqDtype: f.checkpointDtype(),
    embedScale: Math.fround(Math.sqrt(hidden)),
    tiedHead: f.bool('tie_word_embeddings', true),
    learnedPositions: false,
    attnScale: 1 / Math.sqrt(f.num('query_pre_attn_scalar', 256)),
    bosId: f.tokenIds('bos_token_id')[0] ?? null,
    eosIds: f.tokenIds('eos_token_id'),
    hf: json,
  };
}

function layer(cfg: ModelConfig, i: number): WeightEntry[] {
  const p = `model.layers.${i}`;
  const e: WeightEntry[] = [
    { key: 'attnNorm.w', hf: `${p}.input_layernorm.weight` },
    { key: 'postAttnNorm.w', hf: `${p}.post_attention_layernorm.weight` },
    { key: 'mlpNorm.w', hf: `${p}.pre_feedforward_layernorm.weight` },
    { key: 'postMlpNorm.w', hf: `${p}.post_feedforward_layernorm.weight` },
  ];
  for (const k of ['q', 'k', 'v', 'o']) e.push({ key: `${k}.w`, hf: `${p}.self_attn.${k}_proj.weight` });
  if (cfg.qkNorm) e.push({ key: 'qNorm.w', hf: `${p}.self_attn.q_norm.weight` }, { key: 'kNorm.w', hf: `${p}.self_attn.k_norm.weight` });
  for (const k of ['gate', 'up', 'down']) e.push({ key: `${k}.w`, hf: `${p}.mlp.${k}_proj.weight` });
  return e;
}

function globals(cfg: ModelConfig): WeightEntry[] {
  const e: WeightEntry[] = [
    { key: 'embed', hf: 'model.embed_tokens.weight' },
    { key: 'finalNorm.w', hf: 'model.norm.weight' },
  ];
  if (!cfg.tiedHead) e.push({ key: 'head', hf: 'lm_head.weight' });
  return e;
}

const modules = { q: 'q_proj', k: 'k_proj', v: 'v_proj', o: 'o_proj', gate: 'gate_proj', up: 'up_proj', down: 'down_proj' } as const;

export const gemma2: Profile = { arch: 'gemma2', modelTypes: ['gemma2'], readsWindows: true, configFromHf: (json) => configFromHf('gemma2', json), globals, layer, modules };
export const gemma3: Profile = { arch: 'gemma3', modelTypes: ['gemma3_text'], readsWindows: true, configFromHf: (json) => configFromHf('gemma3', json), globals, layer, modules };
