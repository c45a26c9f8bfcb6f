// Random-weight models for benchmarks: speed does not depend on the weights.
import { Decoder } from '../src/models/decoder.js';
import type { ModelConfig, ProjName } from '../src/models/config.js';
import { configFromHf } from '../src/models/profiles/index.js';
import type { Layer, WeightDType, Weights } from '../src/models/weights.js';
import { castTo } from '../src/infer/throughput.js';
import { packTensors } from '../src/tensor/huge-pages.js';
import { Tensor } from '../src/tensor/tensor.js';
import { uniformArray as rand } from '../src/tensor/random.js';


/** A random-weight decoder; nShared < nLayers ties layer l to slot l mod nShared (cycle), with optional rank-r adapters. */
export function randomModel(hf: Record<string, unknown>, nShared?: number, rank = 0): { config: ModelConfig; decoder: Decoder } {
  const config = configFromHf(hf);
  const { hidden: D, intermediate: F, nHeads: H, nKvHeads: Hkv, headDim: Dh, vocabSize: V, nLayers: L } = config;
  let seed = 1;
  const mat = (o: number, i: number) => Tensor.param(rand(o * i, 1 / Math.sqrt(i), seed++), [o, i]);
  const ones = (n: number) => Tensor.param(new Float32Array(n).fill(1), [n]);
  const K = nShared ?? L;
  // q/k norms (Qwen3, Gemma 3: per head; OLMo-2: over the whole projection) and Gemma 2/3's norms after each sublayer
  const qkWidth = (heads: number) => (config.qkNorm === 'whole' ? heads * Dh : Dh);
  const norm = (n: number) => ({ w: ones(n), b: null });
  const slots = Array.from({ length: K }, () => ({
    w: {
      // Phi-3: one [q; k; v] and one [gate; up] weight
      ...(config.qkvLayout === 'fusedBlocks' ? { qkv: mat((H + 2 * Hkv) * Dh, D) } : { q: mat(H * Dh, D), k: mat(Hkv * Dh, D), v: mat(Hkv * Dh, D) }),
      ...(config.gateUpFused ? { gateUp: mat(2 * F, D) } : { gate: mat(F, D), up: mat(F, D) }),
      o: mat(D, H * Dh), down: mat(D, F),
    } as Partial<Record<ProjName, Tensor>>,
    n1: ones(D), n2: ones(D),
    extra: {
      ...(config.qkNorm ? { qNorm: norm(qkWidth(H)), kNorm: norm(qkWidth(Hkv)) } : {}),
      ...(config.normPlacement === 'sandwich' ? { postAttnNorm: norm(D), postMlpNorm: norm(D) } : {}),
    },
  }));
  const layers: Layer[] = Array.from({ length: L }, (_, l) => {
    const s = slots[l % K];
    const lin = (w: Tensor) => ({ w, b: null, lora: rank > 0 ? { a: mat(rank, w.shape[1]), b: Tensor.param(new Float32Array(w.shape[0] * rank), [w.shape[0], rank]) } : null });
    return { attnNorm: { w: s.n1, b: null }, mlpNorm: { w: s.n2, b: null }, ...s.extra, proj: Object.fromEntries(Object.entries(s.w).map(([p, w]) => [p, lin(w)])) };
  });
  const embed = mat(V, D);
  const weights: Weights = { embed, pos: null, layers, finalNorm: { w: ones(D), b: null }, head: config.tiedHead ? embed : mat(V, D) };
  return { config, decoder: new Decoder(config, packTensors(weights)) };
}

export const llama = (L: number, D: number, H: number, Hkv: number, F: number, V: number, tied: boolean) => ({
  model_type: 'llama', hidden_size: D, intermediate_size: F, num_hidden_layers: L, num_attention_heads: H, num_key_value_heads: Hkv,
  vocab_size: V, max_position_embeddings: 2048, rms_norm_eps: 1e-5, tie_word_embeddings: tied,
});

/** OLMo-2's config: norms after the sublayers, q/k norms over the whole projection. */
export const olmo2 = (L: number, D: number, H: number, Hkv: number, F: number, V: number, tied: boolean) => ({
  model_type: 'olmo2', hidden_size: D, intermediate_size: F, num_hidden_layers: L, num_attention_heads: H, num_key_value_heads: Hkv,
  vocab_size: V, max_position_embeddings: 2048, rms_norm_eps: 1e-6, tie_word_embeddings: tied,
});

/** Gemma 3's text config: norms before and after, per-head q/k norms, 5 sliding-window layers to 1 global. */
export const gemma3 = (L: number, D: number, H: number, Hkv: number, Dh: number, F: number, V: number, window: number) => ({
  model_type: 'gemma3_text', hidden_size: D, intermediate_size: F, num_hidden_layers: L, num_attention_heads: H, num_key_value_heads: Hkv, head_dim: Dh,
  vocab_size: V, max_position_embeddings: 2048, rms_norm_eps: 1e-6, sliding_window: window, query_pre_attn_scalar: Dh, tie_word_embeddings: true,
});

/** Phi-3's config: fused qkv and gate_up weights; partial < 1 rotates that share of each head (Phi-4-mini). */
export const phi3 = (L: number, D: number, H: number, Hkv: number, F: number, V: number, partial = 1) => ({
  model_type: 'phi3', hidden_size: D, intermediate_size: F, num_hidden_layers: L, num_attention_heads: H, num_key_value_heads: Hkv,
  vocab_size: V, max_position_embeddings: 4096, rms_norm_eps: 1e-5, partial_rotary_factor: partial, tie_word_embeddings: false,
});

/** Qwen3's config: per-head q/k norms, head_dim apart from hidden/heads. */
export const qwen3 = (L: number, D: number, H: number, Hkv: number, Dh: number, F: number, V: number, tied: boolean) => ({
  model_type: 'qwen3', hidden_size: D, intermediate_size: F, num_hidden_layers: L, num_attention_heads: H, num_key_value_heads: Hkv, head_dim: Dh,
  vocab_size: V, max_position_embeddings: 2048, rms_norm_eps: 1e-6, tie_word_embeddings: tied,
});


/**
 * The same model with its weight matrices in `dtype` (shared tensors stay shared; adapters as
 * they are): bf16, or q8_0/q4_0 with the embedding and head in q8_0, as loadModel does.
 */
export function toDtype(d: Decoder, dtype: WeightDType): Decoder {
  const cast = castTo(dtype);
  const w = d.weights;
  const layers = w.layers.map((l) => ({ ...l, proj: Object.fromEntries(Object.entries(l.proj).map(([k, p]) => [k, { ...p, w: cast(p.w) }])) }));
  return new Decoder(d.config, packTensors({ ...w, embed: cast(w.embed, 'head'), head: cast(w.head, 'head'), layers }));
}

/** The same model with every weight matrix stored as bf16. */
export const toBf16 = (d: Decoder): Decoder => toDtype(d, 'bf16');
