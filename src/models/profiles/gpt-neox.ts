// GPT-NeoX / Pythia: LayerNorm, partial rotary (rotate-half on the first rotary_pct of each head),
// parallel residual, fused query_key_value laid out per head [H, 3, Dh], GELU (erf).
// Mirrors transformers' models/gpt_neox/modeling_gpt_neox.py.
import { ConfigError } from '../../errors.js';
import { HfFields, type ModelConfig } from '../config.js';
import { actFromHf, type Profile, type WeightEntry } from './profile.js';

function configFromHf(json: Record<string, unknown>): ModelConfig {
  const f = new HfFields(json, 'gpt-neox');
  const hidden = f.int('hidden_size');
  const nHeads = f.int('num_attention_heads');
  if (hidden % nHeads !== 0) throw new ConfigError('bad_value', `gpt-neox: hidden_size ${hidden} is not a multiple of num_attention_heads ${nHeads}`, 'num_attention_heads');
  const headDim = hidden / nHeads;
  const rope = f.rope();
  const act = actFromHf(String(json.hidden_act ?? 'gelu'), 'gpt-neox');
  const rotaryDim = Math.floor(headDim * rope.partial);
  return {
    arch: 'gpt-neox',
    vocabSize: f.int('vocab_size'),
    hidden,
    intermediate: f.int('intermediate_size'),
    nLayers: f.int('num_hidden_layers'),
    nHeads,
    nKvHeads: nHeads,
    headDim,
    maxPositions: f.int('max_position_embeddings', 2048),
    normKind: 'layer',
    normEps: f.num('layer_norm_eps', 1e-5),
    act,
    gated: false,
    parallelResidual: f.bool('use_parallel_residual', true),
    qkvLayout: 'fusedPerHead',
    rotaryDim: rotaryDim - (rotaryDim % 2),
    ropeTheta: rope.theta,
    ropeScaling: rope.scaling,
    ropeInterleaved: false,
    ropeFreqDtype: f.checkpointDtype(),
    embedScale: 1,
    tiedHead: f.bool('tie_word_embeddings', false),
    learnedPositions: false,
    attnScale: 1 / Math.sqrt(headDim),
    bosId: f.tokenIds('bos_token_id')[0] ?? null,
    eosIds: f.tokenIds('eos_token_id'),
    hf: json,
  };
}

function layer(cfg: ModelConfig, i: number): WeightEntry[] {
  const p = `gpt_neox.layers.${i}`;
  const attnBias = cfg.hf.attention_bias !== false;
  const e: WeightEntry[] = [
    { key: 'attnNorm.w', hf: `${p}.input_layernorm.weight` },
    { key: 'attnNorm.b', hf: `${p}.input_layernorm.bias` },
    { key: 'mlpNorm.w', hf: `${p}.post_attention_layernorm.weight` },
    { key: 'mlpNorm.b', hf: `${p}.post_attention_layernorm.bias` },
    { key: 'qkv.w', hf: `${p}.attention.query_key_value.weight` },
    { key: 'o.w', hf: `${p}.attention.dense.weight` },
    { key: 'up.w', hf: `${p}.mlp.dense_h_to_4h.weight` },
    { key: 'up.b', hf: `${p}.mlp.dense_h_to_4h.bias` },
    { key: 'down.w', hf: `${p}.mlp.dense_4h_to_h.weight` },
    { key: 'down.b', hf: `${p}.mlp.dense_4h_to_h.bias` },
  ];
  if (attnBias) e.push({ key: 'qkv.b', hf: `${p}.attention.query_key_value.bias` }, { key: 'o.b', hf: `${p}.attention.dense.bias` });
  return e;
}

function globals(cfg: ModelConfig): WeightEntry[] {
  const e: WeightEntry[] = [
    { key: 'embed', hf: 'gpt_neox.embed_in.weight' },
    { key: 'finalNorm.w', hf: 'gpt_neox.final_layer_norm.weight' },
    { key: 'finalNorm.b', hf: 'gpt_neox.final_layer_norm.bias' },
  ];
  if (!cfg.tiedHead) e.push({ key: 'head', hf: 'embed_out.weight' });
  return e;
}

export const gptNeox: Profile = {
  arch: 'gpt-neox',
  modelTypes: ['gpt_neox'],
  configFromHf,
  globals,
  layer,
  modules: { qkv: 'query_key_value', o: 'dense', up: 'dense_h_to_4h', down: 'dense_4h_to_h' },
};
