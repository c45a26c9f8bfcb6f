// The Llama family: Llama, Mistral, SmolLM, TinyLlama (model_type llama/mistral),
// Qwen2 (q/k/v biases) and Gemma (RMSNorm ·(1+w), √D embedding scale, GeGLU).
// Mirrors transformers' models/llama/modeling_llama.py, qwen2/modeling_qwen2.py, gemma/modeling_gemma.py.
import { ConfigError } from '../../errors.js';
import { type Arch, HfFields, type ModelConfig } from '../config.js';
import { actFromHf, type Profile, type WeightEntry } from './profile.js';

function llamaConfig(arch: Arch, json: Record<string, unknown>): ModelConfig {
  const f = new HfFields(json, arch);
  const hidden = f.int('hidden_size');
  const nHeads = f.int('num_attention_heads');
  const nKvHeads = f.int('num_key_value_heads', nHeads);
  if (nHeads % nKvHeads !== 0) throw new ConfigError('bad_value', `${arch}: num_attention_heads ${nHeads} is not a multiple of num_key_value_heads ${nKvHeads}`, 'num_key_value_heads');
  const headDim = f.int('head_dim', Math.floor(hidden / nHeads));
  const rope = f.rope();
  const actName = arch === 'gemma' ? String(json.hidden_activation ?? json.hidden_act ?? 'gelu_pytorch_tanh') : String(json.hidden_act ?? 'silu');
  // transformers runs Gemma's "gelu" as the tanh approximation
  const act: ModelConfig['act'] = arch === 'gemma' && actName === 'gelu' ? 'geluTanh' : actFromHf(actName, arch);
  let maxPositions = f.int('max_position_embeddings', 2048);
  if (f.has('sliding_window') && f.bool('use_sliding_window', true)) maxPositions = Math.min(maxPositions, f.int('sliding_window'));
  const rotaryDim = Math.floor(headDim * rope.partial);
  return {
    arch,
    vocabSize: f.int('vocab_size'),
    hidden,
    intermediate: f.int('intermediate_size'),
    nLayers: f.int('num_hidden_layers'),
    nHeads,
    nKvHeads,
    headDim,
    maxPositions,
    normKind: arch === 'gemma' ? 'rmsPlusOne' : 'rms',
    normEps: f.num('rms_norm_eps', 1e-6),
    act,
    gated: true,
    parallelResidual: false,
    qkvLayout: 'separate',
    rotaryDim: rotaryDim - (rotaryDim % 2),
    ropeTheta: rope.theta,
    ropeScaling: rope.scaling,
    ropeInterleaved: false,
    ropeFreqDtype: f.checkpointDtype(),
    embedScale: arch === 'gemma' ? Math.fround(Math.sqrt(hidden)) : 1,
    tiedHead: f.bool('tie_word_embeddings', arch === 'gemma'),
    learnedPositions: false,
    attnScale: 1 / Math.sqrt(headDim),
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
  const e: WeightEntry[] = [
    { key: 'attnNorm.w', hf: `${p}.input_layernorm.weight` },
    { key: 'mlpNorm.w', hf: `${p}.post_attention_layernorm.weight` },
  ];
  for (const [k, m] of [['q', 'q_proj'], ['k', 'k_proj'], ['v', 'v_proj']]) {
    e.push({ key: `${k}.w`, hf: `${p}.self_attn.${m}.weight` });
    if (qkvBias) e.push({ key: `${k}.b`, hf: `${p}.self_attn.${m}.bias` });
  }
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

function familyMember(arch: Arch, modelTypes: string[]): Profile {
  return { arch, modelTypes, configFromHf: (json) => llamaConfig(arch, json), globals: llamaGlobals, layer: llamaLayer, modules };
}

export const llama = familyMember('llama', ['llama', 'mistral']);
export const qwen2 = familyMember('qwen2', ['qwen2']);
export const gemma = familyMember('gemma', ['gemma']);
