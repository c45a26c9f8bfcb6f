// The study's synthetic pretraining corpus: stories sampled from the bundled stories260K with
// rrt's own batched decoder. `rows` sequences decode together, each from BOS; a row whose story
// ends (EOS or BOS sampled, or maxLen tokens) is stored and restarts from BOS at once, so no row
// idles. Each document is BOS + story, the layout `rrt data prepare` writes for text.
import { loadModel } from '../../src/models/load.js';
import { KvCache } from '../../src/models/kv-cache.js';
import { Sampler } from '../../src/models/sampler.js';
import { noGrad } from '../../src/tensor/autograd.js';

export interface CorpusOptions {
  model: string;
  tokens: number;
  rows: number;
  maxLen: number;
  temperature: number;
  seed: number;
  onProgress?: (tokens: number, total: number) => void;
}

/** Samples documents until `tokens` tokens (BOS included) are stored; returns them in completion order. */
export function sampleStories(o: CorpusOptions): number[][] {
  const m = loadModel(o.model);
  const { config, decoder } = m;
  const bos = config.bosId ?? 1;
  const stop = new Set([...config.eosIds, bos]);
  const V = config.vocabSize;
  const caches = Array.from({ length: o.rows }, () => new KvCache(config, o.maxLen + 1, decoder.nLayers));
  const stories: number[][] = Array.from({ length: o.rows }, () => [bos]);
  const sampler = new Sampler({ temperature: o.temperature, seed: o.seed });
  const docs: number[][] = [];
  let stored = 0;
  const ids = new Int32Array(o.rows).fill(bos);
  while (stored < o.tokens) {
    const logits = noGrad(() => decoder.forward(ids, o.rows, 1, { caches }).logits.f32);
    for (let r = 0; r < o.rows; r++) {
      const next = sampler.sample(logits, r * V, V);
      const story = stories[r];
      const ended = stop.has(next);
      if (!ended) story.push(next);
      if (ended || story.length >= o.maxLen) {
        if (story.length > 1 && stored < o.tokens) {
          docs.push(story);
          stored += story.length;
        }
        stories[r] = [bos];
        caches[r].truncate(0);
        ids[r] = bos;
      } else ids[r] = next;
    }
    o.onProgress?.(Math.min(stored, o.tokens), o.tokens);
  }
  return docs;
}
