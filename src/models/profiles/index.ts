import { ConfigError } from '../../errors.js';
import { type Arch, type ModelConfig, refuseUnimplemented } from '../config.js';
import { gpt2 } from './gpt2.js';
import { gptNeox } from './gpt-neox.js';
import { gemma2, gemma3 } from './gemma2.js';
import { MULTIMODAL_TYPE, textConfigOf } from './gemma3-mm.js';
import { gemma, llama, mistral, olmo2, phi3, qwen2, qwen3 } from './llama.js';
import type { Profile } from './profile.js';
import { parseRecursiveSpec } from '../recursive-spec.js';

export type { Profile, WeightEntry } from './profile.js';

export const profiles: readonly Profile[] = [llama, mistral, qwen2, qwen3, olmo2, phi3, gemma, gemma2, gemma3, gpt2, gptNeox];

export function profileForArch(arch: Arch): Profile {
  return profiles.find((p) => p.arch === arch)!;
}

/** Reads an HF config.json object into a ModelConfig, naming what is missing or unknown. */
export function configFromHf(json: unknown): ModelConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new ConfigError('bad_value', 'config.json must hold a JSON object');
  let obj = json as Record<string, unknown>;
  // a multimodal Gemma 3 is read as its text model (profiles/gemma3-mm.ts)
  if (obj.model_type === MULTIMODAL_TYPE) obj = textConfigOf(obj);
  const type = obj.model_type;
  if (typeof type !== 'string') throw new ConfigError('missing_field', 'config.json has no "model_type"', 'model_type');
  const profile = profiles.find((p) => p.modelTypes.includes(type));
  if (!profile) {
    const known = [...profiles.flatMap((p) => p.modelTypes), `${MULTIMODAL_TYPE} (text model)`].join(', ');
    throw new ConfigError('unknown_architecture', `model_type "${type}" is not supported (supported: ${known})`, 'model_type');
  }
  const cfg = profile.configFromHf(obj);
  refuseUnimplemented(obj, cfg, profile.readsWindows === true);
  if (obj.recursive !== undefined) cfg.recursive = parseRecursiveSpec(obj.recursive, cfg.nLayers);
  return cfg;
}
