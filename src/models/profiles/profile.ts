// What an architecture profile provides: its config reader and its weight-name
// table (canonical key ↔ HF tensor name). Loading and exporting both read the table.
import { ConfigError } from '../../errors.js';
import type { Arch, ModelConfig, ProjName } from '../config.js';

export interface WeightEntry {
  /** canonical key: 'embed', 'pos', 'finalNorm.w', 'finalNorm.b', 'head', or per layer 'attnNorm.w', 'q.w', 'q.b', ... */
  key: string;
  /** the tensor's name in HF checkpoints */
  hf: string;
  /** stored [in, out] (GPT-2's Conv1D): transposed to [out, in] on load, back on export */
  transpose?: boolean;
}

export interface Profile {
  arch: Arch;
  /** HF model_type values this profile reads */
  modelTypes: readonly string[];
  /** reads sliding_window, use_sliding_window and layer_types into ModelConfig.windows itself */
  readsWindows?: boolean;
  configFromHf(json: Record<string, unknown>): ModelConfig;
  /** model-level tensors (the head is absent when tied) */
  globals(cfg: ModelConfig): WeightEntry[];
  /** tensors of layer i */
  layer(cfg: ModelConfig, i: number): WeightEntry[];
  /** HF module name of each projection this architecture has (for LoRA targets and messages) */
  modules: Partial<Record<ProjName, string>>;
}

/** The activation an HF config names; `field` is the config key it came from (for the error). */
export function actFromHf(name: string, what: string, field = 'hidden_act'): ModelConfig['act'] {
  switch (name) {
    case 'silu':
    case 'swish':
      return 'silu';
    case 'gelu_new':
    case 'gelu_pytorch_tanh':
    case 'gelu_fast':
      return 'geluTanh';
    case 'gelu':
      return 'geluErf';
    case 'relu':
      return 'relu';
  }
  throw new ConfigError('unsupported', `${what}: activation "${name}" is not supported (silu, gelu, gelu_new, gelu_pytorch_tanh, relu)`, field);
}

/** The fields every config.json may hold besides its class's own: transformers' generic ones and rrt's `recursive`. */
export const GENERIC_FIELDS = [
  'model_type', 'architectures', 'dtype', 'torch_dtype',
  'transformers_version', 'output_attentions', 'output_hidden_states', 'return_dict', 'use_return_dict', 'id2label', 'label2id',
  'problem_type', 'tokenizer_class', 'is_encoder_decoder', 'is_decoder', 'tie_encoder_decoder', 'chunk_size_feed_forward',
  'pruned_heads', 'torchscript', 'task_specific_params', 'finetuning_task', 'prefix', 'sep_token_id', 'decoder_start_token_id',
  'add_cross_attention', 'cross_attention_hidden_size', 'recursive',
];

/** Refuses, by name, a config field outside `known`: it may change the math. */
export function checkFields(arch: Arch, known: Set<string>, json: Record<string, unknown>): void {
  for (const key of Object.keys(json)) {
    if (key.startsWith('_') || known.has(key)) continue;
    throw new ConfigError('unsupported', `${arch}: config field "${key}" is not supported (rrt does not know how it changes the model)`, key);
  }
}

