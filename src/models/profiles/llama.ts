// The Llama family: Llama, Mistral, SmolLM, TinyLlama (model_type llama/mistral),
// Qwen2 (q/k/v biases), Qwen3 (per-head RMSNorm of q and k, head_dim of its own), OLMo-2
// (RMSNorm of the whole q and k projections; each sublayer's output normed before its residual
// add, no norm before it), Phi-3 (fused qkv_proj [q; k; v] and gate_up_proj [gate; up]) and Gemma (RMSNorm ·(1+w), √D embedding scale, GeGLU). Mirrors
// transformers' models/llama/modeling_llama.py, qwen2/modeling_qwen2.py, qwen3/modeling_qwen3.py,
// olmo2/modeling_olmo2.py, phi3/modeling_phi3.py, gemma/modeling_gemma.py; Mistral's, Qwen2/3's and
// Phi-3's sliding windows as mistral/, qwen2/, qwen3/, phi3/ and masking_utils.py run them.
import { ConfigError } from '../../errors.js';
import { type Arch, HfFields, type ModelConfig } from '../config.js';
import { actFromHf, checkFields, GENERIC_FIELDS, type Profile, type WeightEntry } from './profile.js';

/** Every field a Qwen3 config.json may hold: Qwen3Config's own and the generic ones. */
const QWEN3_FIELDS = new Set([
  'vocab_size', 'hidden_size', 'intermediate_size', 'num_hidden_layers', 'num_attention_heads', 'num_key_value_heads', 'head_dim',
  'hidden_act', 'max_position_embeddings', 'initializer_range', 'rms_norm_eps', 'use_cache', 'tie_word_embeddings', 'rope_theta',
  'rope_scaling', 'rope_parameters', 'attention_bias', 'use_sliding_window', 'sliding_window', 'max_window_layers', 'layer_types',
  'attention_dropout', 'pad_token_id', 'bos_token_id', 'eos_token_id', ...GENERIC_FIELDS,
]);

/**
 * Every field an OLMo-2 config.json may hold: Olmo2Config's own (head_dim too, which
 * modeling_olmo2 reads when present), the legacy rope fields, and the generic ones.
 */
const OLMO2_FIELDS = new Set([
  'vocab_size', 'hidden_size', 'intermediate_size', 'num_hidden_layers', 'num_attention_heads', 'num_key_value_heads', 'head_dim',
  'hidden_act', 'max_position_embeddings', 'initializer_range', 'use_cache', 'pad_token_id', 'bos_token_id', 'eos_token_id',
  'tie_word_embeddings', 'rope_theta', 'rope_scaling', 'rope_parameters', 'attention_bias', 'attention_dropout', 'rms_norm_eps',
  ...GENERIC_FIELDS,
]);

/**
 * Every field a Phi-3 config.json may hold: Phi3Config's own (head_dim and partial_rotary_factor
 * too, which modeling_phi3 reads when present), the legacy rope fields, and the generic ones.
 */
const PHI3_FIELDS = new Set([
  'vocab_size', 'hidden_size', 'intermediate_size', 'num_hidden_layers', 'num_attention_heads', 'num_key_value_heads', 'head_dim',
  'resid_pdrop', 'embd_pdrop', 'attention_dropout', 'hidden_act', 'max_position_embeddings', 'original_max_position_embeddings',
  'initializer_range', 'rms_norm_eps', 'use_cache', 'tie_word_embeddings', 'rope_theta', 'rope_scaling', 'rope_parameters',
  'partial_rotary_factor', 'bos_token_id', 'eos_token_id', 'pad_token_id', 'sliding_window', ...GENERIC_FIELDS,
]);

/**
 * Per layer, the sliding window transformers 5.23 runs (0: full causal attention), for the members
 * that read one. Mistral and Phi-3 slide every layer when sliding_window is set (Mistral's default
 * is 4096, Phi-3's none). Qwen2/Qwen3 slide only with use_sliding_window, on the layers layer_types
 * names, by default layers max_window_layers (28) on; their window defaults to 4096. A query at q
 * sees keys q − window + 1 .. q (masking_utils' sliding_window_overlay: kv > q − window), as rrt's
 * kernels do. Windows that span the whole context are 0.
 */
function layerWindows(arch: Arch, f: HfFields, nLayers: number, maxPositions: number): number[] {
  const json = f.json, qwen = arch === 'qwen2' || arch === 'qwen3', what = arch === 'llama' ? 'mistral' : arch;
  const given = json.sliding_window === undefined ? (arch === 'phi3' ? null : 4096) : json.sliding_window;
  let window = 0;
  // Qwen2Config / Qwen3Config drop the window unless use_sliding_window
  if (given !== null && (!qwen || f.bool('use_sliding_window', false))) {
    if (!(typeof given === 'number' && Number.isInteger(given) && given > 0))
      throw new ConfigError('bad_value', `${what}: "sliding_window" must be a positive integer or null, got ${JSON.stringify(given)}`, 'sliding_window');
    window = given;
  }
  let types: string[];
  if (f.has('layer_types')) {
    const t = json.layer_types;
    if (!Array.isArray(t) || t.length !== nLayers || t.some((x) => typeof x !== 'string'))
      throw new ConfigError('bad_value', `${what}: "layer_types" must list one attention type for each of the ${nLayers} layers`, 'layer_types');
    const other = [...new Set(t as string[])].filter((x) => x !== 'full_attention' && x !== 'sliding_attention');
    if (other.length > 0) throw new ConfigError('unsupported', `${what}: layer_types with ${other.join(', ')} layers is not supported`, 'layer_types');
    types = t as string[];
    // transformers cannot run these: its masks and caches would need a window
    if (window === 0 && types.includes('sliding_attention'))
      throw new ConfigError('bad_value', `${what}: layer_types names sliding_attention layers but there is no window (${qwen ? 'use_sliding_window false or ' : ''}sliding_window null)`, 'layer_types');
    // MistralModel slides every layer, while transformers' cache follows layer_types: they must agree
    if (arch === 'llama' && types.some((x) => x !== (window ? 'sliding_attention' : 'full_attention')))
      throw new ConfigError('unsupported', `${what}: layer_types with ${window ? 'full_attention' : 'sliding_attention'} layers is not supported (Mistral slides every layer or none)`, 'layer_types');
  } else {
    const from = qwen ? (json.max_window_layers ?? 28) : 0;
    if (!(typeof from === 'number' && Number.isInteger(from) && from >= 0))
      throw new ConfigError('bad_value', `${what}: "max_window_layers" must be a non-negative integer, got ${JSON.stringify(from)}`, 'max_window_layers');
    types = Array.from({ length: nLayers }, (_, i) => (window > 0 && i >= from ? 'sliding_attention' : 'full_attention'));
  }
  return types.map((t) => (t === 'sliding_attention' && window < maxPositions ? window : 0));
}

function llamaConfig(arch: Arch, json: Record<string, unknown>, readsWindows: boolean): ModelConfig {
  const f = new HfFields(json, arch);
  if (arch === 'qwen3') checkFields('qwen3', QWEN3_FIELDS, json);
  if (arch === 'olmo2') checkFields('olmo2', OLMO2_FIELDS, json);
  if (arch === 'phi3') checkFields('phi3', PHI3_FIELDS, json);
  const hidden = f.int('hidden_size');
  const nHeads = f.int('num_attention_heads');
  const nKvHeads = f.int('num_key_value_heads', nHeads);
  if (nHeads % nKvHeads !== 0) throw new ConfigError('bad_value', `${arch}: num_attention_heads ${nHeads} is not a multiple of num_key_value_heads ${nKvHeads}`, 'num_key_value_heads');
  const headDim = f.int('head_dim', Math.floor(hidden / nHeads));
  // Phi-3's longrope, within its original context (checked below)
  const rope = f.rope(10000, { longrope: arch === 'phi3' });
  const actName = arch === 'gemma' ? String(json.hidden_activation ?? json.hidden_act ?? 'gelu_pytorch_tanh') : String(json.hidden_act ?? 'silu');
  // transformers runs Gemma's "gelu" as the tanh approximation
  const act: ModelConfig['act'] = arch === 'gemma' && actName === 'gelu' ? 'geluTanh' : actFromHf(actName, arch);
  let maxPositions = f.int('max_position_embeddings', 2048);
  // Llama (and OLMo-2, Gemma) attend in full whatever sliding_window says, but transformers' cache
  // then keeps only the window: its forward pass and its generation agree within the window alone
  if (!readsWindows && f.has('sliding_window') && f.bool('use_sliding_window', true)) maxPositions = Math.min(maxPositions, f.int('sliding_window'));
  const rotaryDim = Math.floor(headDim * rope.partial);
  let attnScale = 1 / Math.sqrt(headDim);
  if (rope.scaling?.type === 'longrope') {
    const s = rope.scaling, field = f.has('rope_scaling') ? 'rope_scaling' : 'rope_parameters';
    if (s.shortFactor!.length !== rotaryDim / 2)
      throw new ConfigError('bad_value', `${arch}: longrope short_factor has ${s.shortFactor!.length} values, the rotary dims need ${rotaryDim / 2}`, field);
    // transformers multiplies cos and sin by attention_factor: q·k by its square where every dim rotates
    if (s.attentionFactor !== 1 && rotaryDim !== headDim)
      throw new ConfigError('unsupported', `${arch}: longrope with attention_factor ${s.attentionFactor} and partial rotary is not supported`, field);
    attnScale *= s.attentionFactor! * s.attentionFactor!;
    // long_factor takes over past original_max_position_embeddings: not implemented, so the context ends there
    maxPositions = Math.min(maxPositions, s.originalMaxPositions!);
  }
  const nLayers = f.int('num_hidden_layers');
  const windows = readsWindows ? layerWindows(arch, f, nLayers, maxPositions) : [];
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
    windows: windows.some((w) => w > 0) ? windows : undefined,
    normKind: arch === 'gemma' ? 'rmsPlusOne' : 'rms',
    normEps: f.num('rms_norm_eps', 1e-6),
    act,
    gated: true,
    parallelResidual: false,
    // Phi-3: qkv_proj's rows are [q; k; v], each block whole
    qkvLayout: arch === 'phi3' ? 'fusedBlocks' : 'separate',
    qkNorm: arch === 'qwen3' ? 'perHead' : arch === 'olmo2' ? 'whole' : undefined,
    normPlacement: arch === 'olmo2' ? 'post' : 'pre',
    gateUpFused: arch === 'phi3',
    rotaryDim: rotaryDim - (rotaryDim % 2),
    ropeTheta: rope.theta,
    ropeScaling: rope.scaling,
    ropeInterleaved: false,
    ropeFreqDtype: f.checkpointDtype(),
    embedScale: arch === 'gemma' ? Math.fround(Math.sqrt(hidden)) : 1,
    tiedHead: f.bool('tie_word_embeddings', arch === 'gemma'),
    learnedPositions: false,
    attnScale,
    bosId: f.tokenIds('bos_token_id')[0] ?? null,
    eosIds: f.tokenIds('eos_token_id'),
    hf: json,
  };
}

function llamaLayer(cfg: ModelConfig, i: number): WeightEntry[] {
  const p = `model.layers.${i}`;
  const json = cfg.hf;
  const qkvBias = cfg.arch === 'qwen2' || json.attention_bias === true;
  const oBias = cfg.arch !== 'qwen2' && json.attention_bias === true;
  const mlpBias = json.mlp_bias === true;
  // OLMo-2 norms each sublayer's output: post_attention_layernorm is its attention norm
  const e: WeightEntry[] = cfg.normPlacement === 'post'
    ? [
        { key: 'attnNorm.w', hf: `${p}.post_attention_layernorm.weight` },
        { key: 'mlpNorm.w', hf: `${p}.post_feedforward_layernorm.weight` },
      ]
    : [
        { key: 'attnNorm.w', hf: `${p}.input_layernorm.weight` },
        { key: 'mlpNorm.w', hf: `${p}.post_attention_layernorm.weight` },
      ];
  if (cfg.arch === 'phi3') {
    // no biases: Phi3Attention and Phi3MLP build their linears with bias=False
    e.push(
      { key: 'qkv.w', hf: `${p}.self_attn.qkv_proj.weight` },
      { key: 'o.w', hf: `${p}.self_attn.o_proj.weight` },
      { key: 'gateUp.w', hf: `${p}.mlp.gate_up_proj.weight` },
      { key: 'down.w', hf: `${p}.mlp.down_proj.weight` },
    );
    return e;
  }
  for (const [k, m] of [['q', 'q_proj'], ['k', 'k_proj'], ['v', 'v_proj']]) {
    e.push({ key: `${k}.w`, hf: `${p}.self_attn.${m}.weight` });
    if (qkvBias) e.push({ key: `${k}.b`, hf: `${p}.self_attn.${m}.bias` });
  }
  if (cfg.qkNorm) e.push({ key: 'qNorm.w', hf: `${p}.self_attn.q_norm.weight` }, { key: 'kNorm.w', hf: `${p}.self_attn.k_norm.weight` });
  e.push({ key: 'o.w', hf: `${p}.self_attn.o_proj.weight` });
  if (oBias) e.push({ key: 'o.b', hf: `${p}.self_attn.o_proj.bias` });
  for (const [k, m] of [['gate', 'gate_proj'], ['up', 'up_proj'], ['down', 'down_proj']]) {
    e.push({ key: `${k}.w`, hf: `${p}.mlp.${m}.weight` });
    if (mlpBias) e.push({ key: `${k}.b`, hf: `${p}.mlp.${m}.bias` });
  }
  return e;
}

function llamaGlobals(cfg: ModelConfig): WeightEntry[] {
  const e: WeightEntry[] = [
    { key: 'embed', hf: 'model.embed_tokens.weight' },
    { key: 'finalNorm.w', hf: 'model.norm.weight' },
  ];
  if (!cfg.tiedHead) e.push({ key: 'head', hf: 'lm_head.weight' });
  return e;
}

const modules = { q: 'q_proj', k: 'k_proj', v: 'v_proj', o: 'o_proj', gate: 'gate_proj', up: 'up_proj', down: 'down_proj' } as const;

function familyMember(arch: Arch, modelTypes: string[], readsWindows = false, mods: Profile['modules'] = modules): Profile {
  return { arch, modelTypes, readsWindows, configFromHf: (json) => llamaConfig(arch, json, readsWindows), globals: llamaGlobals, layer: llamaLayer, modules: mods };
}

export const llama = familyMember('llama', ['llama']);
// Mistral: Llama's weights, with a sliding window on every layer
export const mistral = familyMember('llama', ['mistral'], true);
export const qwen2 = familyMember('qwen2', ['qwen2'], true);
export const qwen3 = familyMember('qwen3', ['qwen3'], true);
export const olmo2 = familyMember('olmo2', ['olmo2']);
export const phi3 = familyMember('phi3', ['phi3'], true, { qkv: 'qkv_proj', o: 'o_proj', gateUp: 'gate_up_proj', down: 'down_proj' });
export const gemma = familyMember('gemma', ['gemma']);
