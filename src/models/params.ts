// Parameter accounting as the paper's tables count it: embeddings (token table,
// learned positions, an untied LM head) apart from everything else.
import type { TensorSource } from '../formats/tensor-source.js';
import type { ModelConfig } from './config.js';
import { profileForArch } from './profiles/index.js';

export interface ParameterCount {
  embedding: number;
  nonEmbedding: number;
  total: number;
}

const EMBEDDING_KEYS = new Set(['embed', 'pos', 'head']);

export function countParameters(cfg: ModelConfig, source: TensorSource): ParameterCount {
  const profile = profileForArch(cfg.arch);
  let embedding = 0, nonEmbedding = 0;
  const size = (hf: string) => source.info(hf).shape.reduce((a, b) => a * b, 1);
  for (const e of profile.globals(cfg)) {
    if (EMBEDDING_KEYS.has(e.key)) embedding += size(e.hf);
    else nonEmbedding += size(e.hf);
  }
  for (let i = 0; i < cfg.nLayers; i++) for (const e of profile.layer(cfg, i)) nonEmbedding += size(e.hf);
  return { embedding, nonEmbedding, total: embedding + nonEmbedding };
}
