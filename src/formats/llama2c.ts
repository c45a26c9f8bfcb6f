// llama2.c legacy checkpoints (export.py legacy_export / run.c): 7×int32 header (dim,
// hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len; a negative vocab_size means
// an unshared classifier), then float32 [out, in] weights: tok_emb, rms_att, wq, wk, wv, wo,
// rms_ffn, w1, w2, w3, rms_final, freq_cis real/imag, and the classifier when unshared. Exposed
// as an HF llama config plus HF-named tensors with wq/wk rows permuted to HF's rotate-half order.
import { closeSync } from 'node:fs';
import { FormatError } from '../errors.js';
import {
  type FileEntry, type LoadedTensor, type TensorInfo, type TensorSource,
  FileTensorSource, interleavedToHalfSplit, openReadOnly, readExactly,
} from './tensor-source.js';

const HEADER_BYTES = 28;
/** export.py's version 1/2 files start with this magic ("ak42") and a different layout. */
const MAGIC_V1 = 0x616b3432;
/** Far beyond any llama2.c model; keeps the size arithmetic exact and the messages sane. */
const MAX_DIM = 1 << 20;

export function openLlama2c(path: string): { config: Record<string, unknown>; source: TensorSource } {
  const { fd, size } = openReadOnly(path, 'llama2.c checkpoint');
  try {
    return parse(fd, size, path);
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

function parse(fd: number, size: number, file: string): { config: Record<string, unknown>; source: TensorSource } {
  if (size < HEADER_BYTES) throw new FormatError('truncated', `file has ${size} bytes; a llama2.c checkpoint starts with a ${HEADER_BYTES}-byte header`, { file });
  const h = new Int32Array(readExactly(fd, 0, HEADER_BYTES, file).buffer);
  if (h[0] === MAGIC_V1) throw new FormatError('bad_version', `llama2.c export version ${h[1]} (magic "ak42"); rrt reads the legacy 7-int header format (export.py --version 0)`, { file });
  const [dim, hidden, layers, heads, kvHeads, vocabSigned, seqLen] = h;
  const vocab = Math.abs(vocabSigned);
  const fields = { dim, hidden_dim: hidden, n_layers: layers, n_heads: heads, n_kv_heads: kvHeads, vocab_size: vocabSigned, seq_len: seqLen };
  const header = Object.entries(fields).map(([k, v]) => `${k}=${v}`).join(' ');
  for (const [k, v] of Object.entries(fields)) {
    const a = Math.abs(v);
    if (a === 0 || (k !== 'vocab_size' && v < 0) || a > MAX_DIM) {
      throw new FormatError('bad_header', `header ${k} = ${v} is not a plausible size (1..${MAX_DIM}${k === 'vocab_size' ? ', negative for an unshared classifier' : ''}); header: ${header}`, { file });
    }
  }
  const headSize = dim / heads;
  if (!Number.isInteger(headSize) || headSize % 2 !== 0 || kvHeads > heads || heads % kvHeads !== 0) {
    throw new FormatError('bad_header', `dim ${dim}, ${heads} heads and ${kvHeads} kv heads do not make a llama attention layout (head size must be an even integer, heads a multiple of kv heads); header: ${header}`, { file });
  }
  const shared = vocabSigned > 0;
  const kvDim = kvHeads * headSize;

  // [HF name (or layer suffix), shape, once per layer?] in file order
  const layout: [string, number[], boolean][] = [
    ['model.embed_tokens.weight', [vocab, dim], false],
    ['input_layernorm', [dim], true],
    ['self_attn.q_proj', [dim, dim], true],
    ['self_attn.k_proj', [kvDim, dim], true],
    ['self_attn.v_proj', [kvDim, dim], true],
    ['self_attn.o_proj', [dim, dim], true],
    ['post_attention_layernorm', [dim], true],
    ['mlp.gate_proj', [hidden, dim], true],
    ['mlp.down_proj', [dim, hidden], true],
    ['mlp.up_proj', [hidden, dim], true],
    ['model.norm.weight', [dim], false],
    ['freq_cis_real', [seqLen, headSize / 2], false],
    ['freq_cis_imag', [seqLen, headSize / 2], false],
  ];
  if (!shared) layout.push(['lm_head.weight', [vocab, dim], false]);
  let expected = HEADER_BYTES;
  for (const [, shape, perLayer] of layout) expected += (perLayer ? layers : 1) * shape.reduce((a, b) => a * b, 1) * 4;
  if (size !== expected) {
    const other = shared ? expected + vocab * dim * 4 : expected - vocab * dim * 4;
    const hint = size === other ? ` (that is the size with${shared ? '' : 'out'} a separate classifier: is the sign of vocab_size wrong?)` : '';
    throw new FormatError(size < expected ? 'truncated' : 'shape_size_mismatch',
      `file has ${size} bytes, the header implies ${expected} (${shared ? 'shared' : 'separate'} classifier)${hint}; header: ${header}`, { file });
  }

  const entries = new Map<string, FileEntry>();
  let at = HEADER_BYTES;
  for (const [name, shape, perLayer] of layout) {
    const bytes = shape.reduce((a, b) => a * b, 1) * 4;
    for (let l = 0; l < (perLayer ? layers : 1); l++) {
      const hf = perLayer ? `model.layers.${l}.${name}.weight` : name;
      const info: TensorInfo = { name: hf, dtype: 'f32', shape, byteLength: bytes };
      const nHeads = name === 'self_attn.q_proj' ? heads : name === 'self_attn.k_proj' ? kvHeads : 0;
      const decode = nHeads
        ? (b: Uint8Array): LoadedTensor => ({ dtype: 'f32', shape: [...shape], data: interleavedToHalfSplit(new Float32Array(b.buffer, b.byteOffset, b.length / 4), shape[0], shape[1], nHeads) })
        : undefined;
      if (!name.startsWith('freq_cis')) entries.set(hf, { info, offset: at, decode });
      at += bytes;
    }
  }

  const config: Record<string, unknown> = {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: dim,
    intermediate_size: hidden,
    num_hidden_layers: layers,
    num_attention_heads: heads,
    num_key_value_heads: kvHeads,
    head_dim: headSize,
    hidden_act: 'silu',
    vocab_size: vocab,
    max_position_embeddings: seqLen,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    tie_word_embeddings: shared,
    bos_token_id: 1,
    // llama2.c's run.c ends a generation when BOS comes up: its training data separates stories with BOS
    eos_token_id: [2, 1],
    attention_bias: false,
    mlp_bias: false,
  };
  return { config, source: new FileTensorSource(file, fd, entries) };
}
