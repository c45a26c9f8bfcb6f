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
