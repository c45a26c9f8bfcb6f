// Gemma 3's multimodal checkpoints (model_type "gemma3", Gemma3ForConditionalGeneration: the 4B, 12B
// and 27B releases) read as their text model. On text-only input transformers runs the language
// model exactly as Gemma3ForCausalLM (the bidirectional image-token mask needs token_type_ids, the
// image features need pixel_values), so rrt unnests text_config into a gemma3_text config and
// renames the language model's tensors to Gemma3ForCausalLM's; the vision tower and projector are
// not read. Everything written from such a checkpoint (convert, export, save) is a text model.
import { ConfigError, FormatError } from '../../errors.js';
import type { LoadedTensor, TensorInfo, TensorSource } from '../../formats/tensor-source.js';
import { GENERIC_FIELDS } from './profile.js';

export const MULTIMODAL_TYPE = 'gemma3';

/** Gemma3Config's own fields besides text_config: image-side only, none of them changes the text math. */
const IMAGE_FIELDS = ['vision_config', 'mm_tokens_per_image', 'boi_token_index', 'eoi_token_index', 'image_token_index', 'boi_token_id', 'eoi_token_id', 'image_token_id', 'initializer_range'];
/** Top-level fields that apply to the text model and win over text_config's (the head is tied by the top-level flag). */
const CARRIED = ['tie_word_embeddings', 'bos_token_id', 'eos_token_id', 'pad_token_id', 'dtype', 'torch_dtype', 'transformers_version', 'recursive'];

/**
 * Gemma3TextConfig's defaults (transformers 5.23) for the fields rrt reads: the Hub's configs omit
 * what equals them (gemma-3-4b-it's text_config names six fields).
 */
const TEXT_DEFAULTS: Record<string, unknown> = {
  vocab_size: 262_208, hidden_size: 2304, intermediate_size: 9216, num_hidden_layers: 26, num_attention_heads: 8,
  num_key_value_heads: 4, head_dim: 256, hidden_activation: 'gelu_pytorch_tanh', max_position_embeddings: 131_072,
  rms_norm_eps: 1e-6, pad_token_id: 0, eos_token_id: 1, bos_token_id: 2, query_pre_attn_scalar: 256, sliding_window: 4096,
};

/** The gemma3_text config.json a Gemma3ForConditionalGeneration config holds. */
export function textConfigOf(json: Record<string, unknown>): Record<string, unknown> {
  const text = json.text_config;
  if (typeof text !== 'object' || text === null || Array.isArray(text))
    throw new ConfigError('missing_field', 'gemma3: a multimodal config needs a "text_config" object', 'text_config');
  const t = text as Record<string, unknown>;
  if (t.model_type !== undefined && t.model_type !== 'gemma3_text')
    throw new ConfigError('unsupported', `gemma3: text_config.model_type "${String(t.model_type)}" is not supported (gemma3_text)`, 'text_config');
  const known = new Set(['text_config', ...IMAGE_FIELDS, ...CARRIED, ...GENERIC_FIELDS]);
  for (const key of Object.keys(json))
    if (!key.startsWith('_') && !known.has(key))
      throw new ConfigError('unsupported', `gemma3: config field "${key}" is not supported (rrt does not know how it changes the model)`, key);
  const out: Record<string, unknown> = { ...TEXT_DEFAULTS, ...t, model_type: 'gemma3_text', architectures: ['Gemma3ForCausalLM'] };
  for (const key of CARRIED) if (key in json) out[key] = json[key];
  // Gemma3Config ties the head unless told not to, whatever text_config says
  out.tie_word_embeddings = json.tie_word_embeddings ?? true;
  return out;
}

/** Where the language model's tensors sit: transformers' save format (and the Hub's), and its module names. */
const TEXT_PREFIXES: [string, string][] = [
  ['language_model.model.', 'model.'],
  ['model.language_model.', 'model.'],
  ['language_model.lm_head.', 'lm_head.'],
  ['lm_head.', 'lm_head.'],
];
const SKIPPED_PREFIXES = ['vision_tower.', 'multi_modal_projector.', 'model.vision_tower.', 'model.multi_modal_projector.'];

/** A multimodal checkpoint's tensors as Gemma3ForCausalLM names them; the vision tower's are left out, anything else refused. */
export class TextModelSource implements TensorSource {
  readonly path: string;
  /** tensors of the vision tower and projector, not read */
  readonly skipped: number;
  readonly readRaw?: (name: string) => Uint8Array;
  private readonly stored = new Map<string, string>();
  constructor(private readonly inner: TensorSource) {
    this.path = inner.path;
    if (inner.readRaw) this.readRaw = (n) => inner.readRaw!(this.name(n));
    let skipped = 0;
    for (const name of inner.names()) {
      const p = TEXT_PREFIXES.find(([from]) => name.startsWith(from));
      if (p) this.stored.set(p[1] + name.slice(p[0].length), name);
      else if (SKIPPED_PREFIXES.some((s) => name.startsWith(s))) skipped++;
      else throw new FormatError('bad_header', `gemma3: tensor '${name}' is neither the language model's nor the vision tower's`, { file: inner.path, tensor: name });
    }
    this.skipped = skipped;
  }
  names(): string[] {
    return [...this.stored.keys()];
  }
  private name(n: string): string {
    const s = this.stored.get(n);
    if (s === undefined) throw new FormatError('missing_tensor', `no tensor for the language model's '${n}'`, { file: this.path, tensor: n });
    return s;
  }
  info(n: string): TensorInfo {
    return { ...this.inner.info(this.name(n)), name: n };
  }
  read(n: string): LoadedTensor {
    return this.inner.read(this.name(n));
  }
  readF32(n: string): Float32Array {
    return this.inner.readF32(this.name(n));
  }
  close(): void {
    this.inner.close();
  }
}
