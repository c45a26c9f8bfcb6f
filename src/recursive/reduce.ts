// The paper's reduced-size baseline: a plain (non-recursive) model made of the source's first
// K layers — the same unique parameter budget as a K-layer shared block, without looping.
import { InputError } from '../errors.js';
import { loadModel } from '../models/load.js';
import { saveModel } from '../models/save.js';
import { layerCountKey } from './convert.js';

/**
 * @example
 * reduceModel('assets/stories260K/stories260K.bin', 'out/stories-first2', 2);
 */
export function reduceModel(src: string, dst: string, nLayers: number, opts: { force?: boolean; tokenizer?: string } = {}): void {
  const m = loadModel(src, { tokenizer: opts.tokenizer });
  if (m.config.recursive) throw new InputError('bad_option', `${src} is a recursive model; reduce its source instead`);
  if (!Number.isInteger(nLayers) || nLayers < 1 || nLayers >= m.config.nLayers)
    throw new InputError('bad_option', `keep between 1 and ${m.config.nLayers - 1} layers, got ${nLayers}`);
  const hf = { ...m.config.hf, [layerCountKey(m.config)]: nLayers };
  // per-layer attention types (Qwen2, Gemma 2/3) for the layers kept
  if (Array.isArray(hf.layer_types)) hf.layer_types = hf.layer_types.slice(0, nLayers);
  const cfg = { ...m.config, nLayers, windows: m.config.windows?.slice(0, nLayers), hf };
  const weights = { ...m.decoder.weights, layers: m.decoder.weights.layers.slice(0, nLayers) };
  saveModel(cfg, weights, dst, { force: opts.force, tokenizerFrom: m.tokenizerPath ?? undefined });
}
