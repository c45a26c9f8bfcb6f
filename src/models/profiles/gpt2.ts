// GPT-2: learned positions, LayerNorm, GELU (tanh), fused c_attn, Conv1D weights stored [in, out].
// Mirrors transformers' models/gpt2/modeling_gpt2.py.
import { ConfigError } from '../../errors.js';
import { HfFields, type ModelConfig } from '../config.js';
import { actFromHf, type Profile, type WeightEntry } from './profile.js';

function configFromHf(json: Record<string, unknown>): ModelConfig {
  const f = new HfFields(json, 'gpt2');
  if (f.bool('scale_attn_by_inverse_layer_idx', false))
    throw new ConfigError('unsupported', 'gpt2: scale_attn_by_inverse_layer_idx is not supported', 'scale_attn_by_inverse_layer_idx');
  const hidden = f.int('n_embd');
  const nHeads = f.int('n_head');
  if (hidden % nHeads !== 0) throw new ConfigError('bad_value', `gpt2: n_embd ${hidden} is not a multiple of n_head ${nHeads}`, 'n_head');
  const headDim = hidden / nHeads;
  const act = actFromHf(String(json.activation_function ?? 'gelu_new'), 'gpt2', 'activation_function');
  return {
    arch: 'gpt2',
    vocabSize: f.int('vocab_size'),
    hidden,
    intermediate: f.has('n_inner') ? f.int('n_inner') : 4 * hidden,
    nLayers: f.int('n_layer'),
    nHeads,
    nKvHeads: nHeads,
    headDim,
    maxPositions: f.int('n_positions'),
    normKind: 'layer',
    normEps: f.num('layer_norm_epsilon', 1e-5),
    act,
    gated: false,
    parallelResidual: false,
    qkvLayout: 'fusedBlocks',
    rotaryDim: 0,
    ropeTheta: 0,
    ropeScaling: null,
    ropeInterleaved: false,
    ropeFreqDtype: 'f32',
    embedScale: 1,
    tiedHead: f.bool('tie_word_embeddings', true),
    learnedPositions: true,
    attnScale: f.bool('scale_attn_weights', true) ? 1 / Math.sqrt(headDim) : 1,
    bosId: f.tokenIds('bos_token_id')[0] ?? null,
    eosIds: f.tokenIds('eos_token_id'),
    hf: json,
  };
}

function layer(_cfg: ModelConfig, i: number): WeightEntry[] {
  const p = `transformer.h.${i}`;
  return [
    { key: 'attnNorm.w', hf: `${p}.ln_1.weight` },
    { key: 'attnNorm.b', hf: `${p}.ln_1.bias` },
    { key: 'qkv.w', hf: `${p}.attn.c_attn.weight`, transpose: true },
    { key: 'qkv.b', hf: `${p}.attn.c_attn.bias` },
    { key: 'o.w', hf: `${p}.attn.c_proj.weight`, transpose: true },
    { key: 'o.b', hf: `${p}.attn.c_proj.bias` },
    { key: 'mlpNorm.w', hf: `${p}.ln_2.weight` },
    { key: 'mlpNorm.b', hf: `${p}.ln_2.bias` },
    { key: 'up.w', hf: `${p}.mlp.c_fc.weight`, transpose: true },
    { key: 'up.b', hf: `${p}.mlp.c_fc.bias` },
    { key: 'down.w', hf: `${p}.mlp.c_proj.weight`, transpose: true },
    { key: 'down.b', hf: `${p}.mlp.c_proj.bias` },
  ];
}

function globals(cfg: ModelConfig): WeightEntry[] {
  const e: WeightEntry[] = [
    { key: 'embed', hf: 'transformer.wte.weight' },
    { key: 'pos', hf: 'transformer.wpe.weight' },
    { key: 'finalNorm.w', hf: 'transformer.ln_f.weight' },
    { key: 'finalNorm.b', hf: 'transformer.ln_f.bias' },
  ];
  if (!cfg.tiedHead) e.push({ key: 'head', hf: 'lm_head.weight' });
  return e;
}

export const gpt2: Profile = {
  arch: 'gpt2',
  modelTypes: ['gpt2'],
  configFromHf,
  globals,
  layer,
  modules: { qkv: 'c_attn', o: 'attn.c_proj', up: 'c_fc', down: 'mlp.c_proj' },
};
