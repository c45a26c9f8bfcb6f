// A freshly initialised model to pretrain from scratch: a Llama-style checkpoint written from
// a Hugging Face config, with GPT-2's initialisation (normal(0, 0.02) everywhere, the residual
// output projections o and down scaled by 1/√(2L) so the residual stream's variance does not
// grow with depth; norms at 1). Seeded, so the same config and seed give the same bits.
import { InputError } from '../errors.js';
import type { ModelConfig } from '../models/config.js';
import { configFromHf } from '../models/profiles/index.js';
import { saveModel } from '../models/save.js';
import type { Layer, Weights } from '../models/weights.js';
import { mulberry32 } from '../tensor/random.js';
import { Tensor } from '../tensor/tensor.js';

export interface InitOptions {
  /** @default 0 */
  seed?: number;
  /** @default 0.02 */
  std?: number;
  /** a model directory, tokenizer.json or llama2.c tokenizer .bin to copy beside the weights */
  tokenizerFrom?: string;
  force?: boolean;
}

/** Normal(0, std) samples by Box–Muller over mulberry32. */
function normalArray(n: number, std: number, next: () => number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - next())) * std, t = 2 * Math.PI * next();
    out[i] = r * Math.cos(t);
    if (i + 1 < n) out[i + 1] = r * Math.sin(t);
  }
  return out;
}

/** The initial weights of a Llama-architecture config (no biases, separate q/k/v, gated MLP). */
export function initWeights(cfg: ModelConfig, opts: Pick<InitOptions, 'seed' | 'std'> = {}): Weights {
  if (cfg.arch !== 'llama') throw new InputError('bad_option', `initialisation supports llama-architecture configs (model_type llama/mistral/qwen2 without biases); got ${cfg.arch}`);
  const std = opts.std ?? 0.02;
  const next = mulberry32(opts.seed ?? 0);
  const { hidden: D, intermediate: F, nHeads: H, nKvHeads: Hkv, headDim: Dh, vocabSize: V, nLayers: L } = cfg;
  const mat = (o: number, i: number, s = std) => Tensor.param(normalArray(o * i, s, next), [o, i]);
  const ones = () => Tensor.param(new Float32Array(D).fill(1), [D]);
  const residual = std / Math.sqrt(2 * L);
  const layers: Layer[] = Array.from({ length: L }, () => ({
    attnNorm: { w: ones(), b: null },
    mlpNorm: { w: ones(), b: null },
    proj: {
      q: { w: mat(H * Dh, D), b: null },
      k: { w: mat(Hkv * Dh, D), b: null },
      v: { w: mat(Hkv * Dh, D), b: null },
      o: { w: mat(D, H * Dh, residual), b: null },
      gate: { w: mat(F, D), b: null },
      up: { w: mat(F, D), b: null },
      down: { w: mat(D, F, residual), b: null },
    },
  }));
  const embed = mat(V, D);
  return { embed, pos: null, layers, finalNorm: { w: ones(), b: null }, head: cfg.tiedHead ? embed : mat(V, D) };
}

/**
 * Writes a freshly initialised checkpoint for `hf` (a config.json object) to `dir`.
 * @example
 * initModel({ model_type: 'llama', hidden_size: 128, ... }, 'runs/base-init', { seed: 1, tokenizerFrom: 'assets/stories260K/tok512.bin' });
 */
export function initModel(hf: Record<string, unknown>, dir: string, opts: InitOptions = {}): ModelConfig {
  const cfg = configFromHf(hf);
  saveModel(cfg, initWeights(cfg, opts), dir, { force: opts.force, tokenizerFrom: opts.tokenizerFrom });
  return cfg;
}
