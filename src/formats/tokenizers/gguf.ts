// Tokenizers from GGUF metadata (llama.cpp's tokenizer.ggml.* keys). 'llama': SentencePiece BPE
// from tokens, scores and token_type. 'gpt2': byte-level BPE; tokens and merges become a
// tokenizer.json (BPE model, ByteLevel pre-tokenizer and decoder) for hf.ts. The pre-tokenizer
// regex depends on tokenizer.ggml.pre (llama.cpp's names); unknown ones are refused rather than
// tokenized wrongly. Any other model throws ConfigError naming it.

import { ConfigError } from '../../errors.js';
import { HfTokenizer } from './hf.js';
import type { Tokenizer } from './index.js';
import { PieceType, SentencePieceBpe } from './sentencepiece-bpe.js';

const BYTE_PIECE = /^<0x[0-9A-Fa-f]{2}>$/;
/** Split regexes by tokenizer.ggml.pre, as in the models' own tokenizer.json; null: ByteLevel's built-in GPT-2 regex. */
const PRE_TOKENIZERS = new Map<string, { regex: string | null; ignoreMerges: boolean }>([
  ['default', { regex: null, ignoreMerges: false }],
  ['gpt-2', { regex: null, ignoreMerges: false }],
  // Llama 3: tiktoken's pattern; tiktoken looks a whole pre-token up before merging (ignore_merges).
  ['llama-bpe', {
    regex: "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    ignoreMerges: true,
  }],
]);

export function tokenizerFromGgufMetadata(meta: Map<string, unknown>): Tokenizer {
  const model = meta.get('tokenizer.ggml.model');
  if (model === undefined) throw new ConfigError('missing_field', 'GGUF metadata has no tokenizer.ggml.model, so it carries no tokenizer', 'tokenizer.ggml.model');
  const tokens = stringArray(meta, 'tokenizer.ggml.tokens');
  const bosId = optionalId(meta, 'tokenizer.ggml.bos_token_id', tokens.length);
  const eosId = optionalId(meta, 'tokenizer.ggml.eos_token_id', tokens.length);
  const chatTemplate = meta.get('tokenizer.chat_template');
  const template = typeof chatTemplate === 'string' ? chatTemplate : undefined;
  if (model === 'llama') {
    const scores = numberArray(meta, 'tokenizer.ggml.scores', tokens.length);
    const unkId = optionalId(meta, 'tokenizer.ggml.unknown_token_id', tokens.length);
    const types = meta.has('tokenizer.ggml.token_type')
      ? numberArray(meta, 'tokenizer.ggml.token_type', tokens.length)
      : tokens.map((t, id) =>
          id === unkId ? PieceType.unknown : id === bosId || id === eosId ? PieceType.control : BYTE_PIECE.test(t) ? PieceType.byte : PieceType.normal,
        );
    return new SentencePieceBpe({
      pieces: tokens, scores, types, bosId, eosId,
      addBos: optionalBool(meta, 'tokenizer.ggml.add_bos_token') ?? true,
      addEos: optionalBool(meta, 'tokenizer.ggml.add_eos_token') ?? false,
      addSpacePrefix: optionalBool(meta, 'tokenizer.ggml.add_space_prefix') ?? true,
      chatTemplate: template,
    });
  }
  if (model === 'gpt2') {
    const pre = meta.get('tokenizer.ggml.pre') ?? 'default';
    const split = typeof pre === 'string' ? PRE_TOKENIZERS.get(pre) : undefined;
    if (!split) {
      throw new ConfigError('unsupported', `tokenizer.ggml.pre = ${JSON.stringify(pre)}: rrt knows the pre-tokenizer regexes of ${[...PRE_TOKENIZERS.keys()].join(', ')}; load this model's tokenizer.json instead`, 'tokenizer.ggml.pre');
    }
    const merges = stringArray(meta, 'tokenizer.ggml.merges');
    const types = meta.has('tokenizer.ggml.token_type') ? numberArray(meta, 'tokenizer.ggml.token_type', tokens.length) : [];
    const vocab: Record<string, number> = {};
    tokens.forEach((t, id) => (vocab[t] = id));
    // Control tokens are special; user-defined ones are plain added tokens. Both match literally in text, as in llama.cpp.
    const added = tokens.flatMap((content, id) =>
      types[id] === PieceType.control || types[id] === PieceType.userDefined
        ? [{ id, content, special: types[id] === PieceType.control, normalized: false, lstrip: false, rstrip: false, single_word: false }]
        : [],
    );
    const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: split.regex === null };
    const preTokenizer = split.regex === null ? byteLevel : {
      type: 'Sequence',
      pretokenizers: [{ type: 'Split', pattern: { Regex: split.regex }, behavior: 'Isolated', invert: false }, byteLevel],
    };
    const json = {
      version: '1.0',
      added_tokens: added,
      normalizer: null,
      pre_tokenizer: preTokenizer,
      post_processor: null,
      decoder: byteLevel,
      model: {
        type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false,
        byte_fallback: false, ignore_merges: split.ignoreMerges, vocab, merges,
      },
    };
    const config = {
      add_bos_token: optionalBool(meta, 'tokenizer.ggml.add_bos_token') ?? false,
      add_eos_token: optionalBool(meta, 'tokenizer.ggml.add_eos_token') ?? false,
    };
    return new HfTokenizer(json, config, { bosId, eosId, chatTemplate: template, vocabSize: tokens.length }, 'GGUF metadata');
  }
  throw new ConfigError('unsupported', `tokenizer.ggml.model = ${JSON.stringify(model)}; rrt reads 'llama' (SentencePiece BPE) and 'gpt2' (byte-level BPE)`, 'tokenizer.ggml.model');
}

function stringArray(meta: Map<string, unknown>, key: string): string[] {
  const v = meta.get(key);
  if (v === undefined) throw new ConfigError('missing_field', `GGUF metadata has no ${key}`, key);
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new ConfigError('bad_value', `${key} must be an array of strings`, key);
  return v as string[];
}

function numberArray(meta: Map<string, unknown>, key: string, length: number): number[] {
  const v = meta.get(key);
  if (v === undefined) throw new ConfigError('missing_field', `GGUF metadata has no ${key}`, key);
  const arr = Array.isArray(v) ? v : ArrayBuffer.isView(v) ? Array.from(v as unknown as ArrayLike<number>) : null;
  if (!arr || !arr.every((x) => typeof x === 'number')) throw new ConfigError('bad_value', `${key} must be an array of numbers`, key);
  if (arr.length !== length) throw new ConfigError('bad_value', `${key} has ${arr.length} entries, tokenizer.ggml.tokens has ${length}`, key);
  return arr as number[];
}

function optionalId(meta: Map<string, unknown>, key: string, n: number): number | null {
  const v = meta.get(key);
  if (v === undefined) return null;
  const id = typeof v === 'bigint' ? Number(v) : v;
  if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= n) {
    throw new ConfigError('bad_value', `${key} = ${String(v)} is not a token id in [0, ${n})`, key);
  }
  return id;
}

function optionalBool(meta: Map<string, unknown>, key: string): boolean | undefined {
  const v = meta.get(key);
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw new ConfigError('bad_value', `${key} must be a bool, found ${typeof v}`, key);
  return v;
}
