// Export of a model (plain or relaxed recursive) as one GGUF file llama.cpp loads, in one of the
// architectures of formats/gguf-archs.ts (llama, qwen3, olmo2, phi3, gemma2, gemma3): unrolled,
// adapters merged (mergedLayerTensor, as the HF export), llama's q/k rows permuted into the
// interleaved rotary order llama.cpp's converter writes (the other architectures rotate HF's halves
// as they are), Gemma's norm weights w written as 1 + w (what llama.cpp's RMSNorm multiplies by),
// matrices in F32, F16, Q8_0 or Q4_0 (norms stay F32; quantized files keep the token embedding /
// output in Q8_0, with the same blocks rrt's q8_0/q4_0 loading makes), and the tokenizer embedded
// as tokenizer.ggml.* metadata. A strictly recursive llama model may be written looped instead
// (llama.cpp's nanbeige). Other architectures are refused, naming the supported ones.
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { InputError } from '../errors.js';
import { GGUF_ARCH_NAMES, type GgufArch, type GgufKv, ggufArchFor, llamaBlock } from '../formats/gguf-archs.js';
import { ggufMetadataEntries, openGguf, writeGguf, type GgufTensorToWrite, type GgufValue } from '../formats/gguf.js';
import { tokenizerFromGgufMetadata, type Tokenizer } from '../formats/tokenizers/index.js';
import { PieceType } from '../formats/tokenizers/sentencepiece-bpe.js';
import type { ModelConfig } from '../models/config.js';
import { loadModel } from '../models/load.js';
import { profileForArch } from '../models/profiles/index.js';
import { expectedShape } from '../models/weights.js';
import { quantizable, quantize, toGgufBlocks } from '../tensor/quant.js';
import { Tensor } from '../tensor/tensor.js';
import { mergedLayerTensor } from './export.js';

export interface GgufExportOptions {
  /** matrix dtype; norms are always F32. @default 'f32' */
  dtype?: GgufExportDtype;
  /** quantized dtypes: the token embedding's and output's. @default 'q8_0' */
  headDtype?: GgufExportDtype;
  /**
   * 'looped': llama.cpp's looped architecture (nanbeige): the shared block once, run num_loops
   * times; only strictly recursive cycle models fit it (refused otherwise, naming why).
   * 'unrolled': every depth's layers (adapters merged), for any model. 'auto' (default): looped
   * where the model fits it, else unrolled with a warning saying why.
   */
  layout?: 'auto' | 'looped' | 'unrolled';
  force?: boolean;
  /** tokenizer to embed (llama2.c tokenizer.bin, tokenizer.json, a directory, or a .gguf); default: the model's own */
  tokenizer?: string;
  onProgress?: (done: number, total: number, label: string) => void;
}

export interface GgufExportSummary {
  dst: string;
  /** llama.cpp's architecture: 'llama', 'qwen3', 'olmo2', 'phi3', 'gemma2', 'gemma3', or 'nanbeige' (llama looped) */
  architecture: string;
  /** blocks written: the unrolled depth, or the shared slots of a looped file */
  layers: number;
  /** loops a looped file runs its blocks (1 when unrolled) */
  loops: number;
  tensors: number;
  /** 'llama' (SentencePiece) or 'gpt2' (byte-level BPE) */
  tokenizerModel: string;
  /** things llama.cpp may do differently from rrt (e.g. an unrecognised pre-tokenizer) */
  warnings: string[];
}

type Kv = GgufKv;
export type GgufExportDtype = 'f32' | 'f16' | 'q8_0' | 'q4_0';
export const GGUF_EXPORT_DTYPES: readonly GgufExportDtype[] = ['f32', 'f16', 'q8_0', 'q4_0'];

/** llama_ftype: LLAMA_FTYPE_ALL_F32, _MOSTLY_F16, _MOSTLY_Q8_0, _MOSTLY_Q4_0 */
const FILE_TYPE = { f32: 0, f16: 1, q8_0: 7, q4_0: 2 } as const;
/** Text the embedded tokenizer must encode exactly as the source tokenizer does (contractions, digit runs, newlines, non-ASCII). */
const PROBE = "Once upon a time, Tom's dog didn't bark. It's 2024: 12345 apples\n\n  and  ÄÖÜ 日本語 I'M here.\tDone";

/**
 * Meta/llama.cpp's interleaved rotary row order from HF's rotate-half order (the inverse of
 * interleavedToHalfSplit): llama.cpp's convert_hf_to_gguf permute(),
 * w.reshape(nHeads, 2, rows/nHeads/2, cols).swapaxes(1, 2).reshape(rows, cols).
 */
export function halfSplitToInterleaved(w: Float32Array, rows: number, cols: number, nHeads: number): Float32Array {
  const hd = rows / nHeads;
  if (!Number.isInteger(hd) || hd % 2 !== 0 || w.length !== rows * cols) {
    throw new RangeError(`cannot interleave ${rows}×${cols} rows (${w.length} values) over ${nHeads} heads: head size must be an even integer`);
  }
  const out = new Float32Array(w.length);
  const half = hd / 2;
  for (let h = 0; h < nHeads; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const src = (h * hd + j * half + i) * cols;
        out.set(w.subarray(src, src + cols), (h * hd + 2 * i + j) * cols);
      }
    }
  }
  return out;
}

/**
 * Why `cfg` cannot be written as llama.cpp's `spec` architecture, or null when it can: no biases,
 * every tensor named by the entry, rotary and query sizes its loader takes, the block its graph
 * runs, then the entry's own limits.
 */
function unsupportedReason(cfg: ModelConfig, spec: GgufArch): string | null {
  const keys = profileForArch(cfg.arch).layer(cfg, 0).map((e) => e.key);
  if (keys.some((k) => k.endsWith('.b'))) return 'projection biases';
  const stray = keys.filter((k) => !(k in spec.layer));
  if (stray.length) return `tensors ${stray.join(', ')}, which ${spec.name} has no place for`;
  if (cfg.rotaryDim !== cfg.headDim && !spec.partialRotary) return `partial rotary (${cfg.rotaryDim} of ${cfg.headDim} dims; llama.cpp's ${spec.name} rotates whole heads)`;
  const scaling = cfg.ropeScaling;
  if (scaling && scaling.type !== 'linear' && !spec.ropeScaling?.includes(scaling.type)) return `${scaling.type} rope scaling`;
  if (spec.qIsHidden && cfg.nHeads * cfg.headDim !== cfg.hidden)
    return `${cfg.nHeads} heads × ${cfg.headDim} = ${cfg.nHeads * cfg.headDim} query dims ≠ hidden ${cfg.hidden} (llama.cpp's ${spec.name} needs them equal)`;
  return (spec.block ?? llamaBlock)(cfg) ?? spec.unsupported?.(cfg) ?? null;
}

/** Why a recursive model cannot be written looped (llama.cpp's nanbeige), or null when it can. */
export function loopedReason(cfg: ModelConfig): string | null {
  const rec = cfg.recursive;
  if (!rec) return 'it is not recursive';
  const looped = ggufArchFor(cfg.arch)?.looped;
  if (!looped) return `llama.cpp's looped architecture runs llama blocks, not ${cfg.arch} ones`;
  if (rec.plan.strategy !== 'cycle') return `its ${rec.plan.strategy} sharing (llama.cpp loops the whole block: cycle only)`;
  if (rec.lora && Object.values(rec.lora.ranks).some((r) => (r ?? 0) > 0)) return 'it is relaxed (per-loop LoRA adapters, which llama.cpp\'s looped architecture has no place for)';
  if (!rec.sharedNorms) return 'its norms are untied per loop';
  if (rec.plan.unrolled.some((u, l) => u.unique || u.slot !== l % rec.plan.nShared)) return 'its depths do not run the slots in cycle order';
  return null;
}

/**
 * Writes `model` (HF directory, llama2.c .bin, GGUF, or a recursive checkpoint of one) as a GGUF
 * file of llama.cpp's architecture for it, atomically: looped (llama.cpp's nanbeige, the shared
 * block once) for a strictly recursive llama cycle model, else unrolled.
 * @example
 * exportGguf('out/tinyllama-rrt', 'out/tinyllama-rrt.gguf', { dtype: 'f16' });
 */
export function exportGguf(model: string, dst: string, opts: GgufExportOptions = {}): GgufExportSummary {
  const dtype = opts.dtype ?? 'f32';
  const headDtype = opts.headDtype ?? (dtype === 'q8_0' || dtype === 'q4_0' ? 'q8_0' : dtype);
  for (const d of [dtype, headDtype])
    if (!GGUF_EXPORT_DTYPES.includes(d)) throw new InputError('bad_option', `GGUF export writes ${GGUF_EXPORT_DTYPES.join(', ')}, got "${String(d)}"`);
  if (!dst.endsWith('.gguf')) throw new InputError('bad_option', `${dst}: a GGUF destination must end in .gguf`);
  if (existsSync(dst) && !opts.force) throw new InputError('exists', `${dst} already exists; pass --force to replace it`);
  if (existsSync(dst) && statSync(dst).isDirectory()) throw new InputError('exists', `${dst} is a directory; GGUF export writes one file`);
  const m = loadModel(model, { tokenizer: opts.tokenizer, hugePages: false });
  const cfg = m.config;
  const spec = ggufArchFor(cfg.arch);
  const supported = `GGUF export writes llama.cpp's ${GGUF_ARCH_NAMES} architectures (Llama, Mistral, SmolLM, TinyLlama, llama2.c, Qwen3, OLMo-2, Phi-3, Gemma 2, Gemma 3 text, and recursive models converted from them)`;
  if (!spec) throw new InputError('bad_option', `${model}: ${supported}; this one is ${cfg.arch}. Use \`rrt export\` to a directory for a Hugging Face checkpoint instead`);
  const why = unsupportedReason(cfg, spec);
  if (why) throw new InputError('bad_option', `${model}: ${supported}; this ${cfg.arch} model has ${why}. Use \`rrt export\` to a directory for a Hugging Face checkpoint instead`);
  if (!m.tokenizer) throw new InputError('not_found', `${model} has no tokenizer, and a GGUF file must carry one; pass --tokenizer (a tokenizer.json, llama2.c tokenizer.bin or .gguf)`);

  const warnings: string[] = [];
  const vocab = vocabularyMetadata(model, m.format, opts.tokenizer, m.tokenizerPath, m.tokenizer, cfg, warnings);
  const w = m.decoder.weights;
  const layout = opts.layout ?? 'auto';
  const notLooped = layout === 'unrolled' ? 'unrolled asked for' : loopedReason(cfg);
  if (layout === 'looped' && notLooped) throw new InputError('bad_option', `${model} cannot be exported looped: ${notLooped}; pass --unrolled to write every loop's layers`);
  if (layout === 'auto' && cfg.recursive && notLooped) warnings.push(`written unrolled (each loop's layers stored again, adapters merged): ${notLooped}`);
  const looped = !notLooped;
  const arch = looped ? spec.looped! : spec.name;
  const loops = looped ? cfg.recursive!.plan.nLoops : 1;
  // looped: the slots, which depths 0..K-1 use in order
  const layers = looped ? w.layers.slice(0, cfg.recursive!.plan.nShared) : w.layers;
  const layerKeys = profileForArch(cfg.arch).layer(cfg, 0).map((e) => e.key);

  const matrix = (name: string, shape: number[], data: Float32Array, want: GgufExportDtype = dtype): GgufTensorToWrite => {
    if (want !== 'q8_0' && want !== 'q4_0') return { name, dtype: want, shape, data };
    if (!quantizable(shape)) {
      warnings.push(`${name} [${shape.join(', ')}] is written F16: its rows are not whole 32-value blocks`);
      return { name, dtype: 'f16', shape, data };
    }
    return { name, dtype: want, shape, data: toGgufBlocks(quantize(new Tensor(data, shape), want)) };
  };
  const vector = (name: string, data: Float32Array): GgufTensorToWrite => ({ name, dtype: 'f32', shape: [data.length], data });
  // norms stored as w + normShift (Gemma: the 1 + w its RMSNorm multiplies by, in f32 as llama.cpp's converter adds it)
  const norm = (name: string, w: Float32Array): GgufTensorToWrite => vector(name, spec.normShift ? w.map((x) => x + spec.normShift!) : w);
  const extras = spec.extras?.(cfg) ?? { kvs: [], tensors: [] };
  const tensors: GgufTensorToWrite[] = [matrix('token_embd.weight', [...w.embed.shape], w.embed.f32, headDtype), ...extras.tensors];
  layers.forEach((layer, i) => {
    for (const key of layerKeys) {
      let t = mergedLayerTensor(layer, key);
      if (!t) throw new InputError('bad_option', `${model}: layer ${i} has no tensor ${key}`);
      const name = `blk.${i}.${spec.layer[key]}.weight`;
      const shape = expectedShape(cfg, key);
      if (shape.length === 1) {
        tensors.push(norm(name, t));
        continue;
      }
      if (spec.interleavedRope && (key === 'q.w' || key === 'k.w')) t = halfSplitToInterleaved(t, shape[0], shape[1], key === 'q.w' ? cfg.nHeads : cfg.nKvHeads);
      tensors.push(matrix(name, shape, t));
    }
    opts.onProgress?.(i + 1, layers.length, `blk.${i}`);
  });
  tensors.push(norm('output_norm.weight', w.finalNorm.w.f32));
  if (!cfg.tiedHead || spec.outputRequired) tensors.push(matrix('output.weight', [...w.head.shape], w.head.f32, headDtype));

  // llama.cpp's llama, qwen3 and phi3 attend without sliding windows, which equals the model's
  // attention only within its smallest window: the file's context ends there
  let context = cfg.maxPositions;
  const windows = (cfg.windows ?? []).filter((x) => x > 0);
  if (windows.length > 0 && !spec.windows) {
    context = Math.min(...windows);
    warnings.push(`context_length ${context} (the model's is ${cfg.maxPositions}): llama.cpp's ${arch} attends without the model's sliding window of ${context}, which agrees with it only within the window`);
  }
  const u32 = (k: string, v: number): Kv => [k, v, 'u32'];
  const f32 = (k: string, v: number): Kv => [k, v, 'f32'];
  const name = modelName(model, vocab.kvs, warnings);
  const meta: Kv[] = [
    ['general.architecture', arch, 'string'],
    ...(name === null ? [] : [['general.name', name, 'string'] as Kv]),
    u32('general.file_type', FILE_TYPE[dtype]),
    u32(`${arch}.vocab_size`, cfg.vocabSize),
    u32(`${arch}.context_length`, context),
    u32(`${arch}.embedding_length`, cfg.hidden),
    u32(`${arch}.block_count`, layers.length),
    u32(`${arch}.feed_forward_length`, cfg.intermediate),
    u32(`${arch}.attention.head_count`, cfg.nHeads),
    u32(`${arch}.attention.head_count_kv`, cfg.nKvHeads),
    f32(`${arch}.rope.freq_base`, cfg.ropeTheta),
    f32(`${arch}.attention.layer_norm_rms_epsilon`, cfg.normEps),
    u32(`${arch}.rope.dimension_count`, cfg.rotaryDim),
  ];
  // rrt's own recursion has no norm between loops; a model read from a looped file may
  if (looped) meta.push(u32(`${arch}.num_loops`, loops), [`${arch}.skip_loop_final_norm`, cfg.recursive!.loopNorm !== true, 'bool']);
  // always, as llama.cpp's converter writes them for Gemma (it takes hidden / heads when absent)
  meta.push(u32(`${arch}.attention.key_length`, cfg.headDim), u32(`${arch}.attention.value_length`, cfg.headDim));
  if (cfg.ropeScaling?.type === 'linear') meta.push([`${arch}.rope.scaling.type`, 'linear', 'string'], f32(`${arch}.rope.scaling.factor`, cfg.ropeScaling.factor));
  meta.push(...extras.kvs, ...vocab.kvs);

  mkdirSync(dirname(dst), { recursive: true });
  writeGguf(dst, meta, tensors);
  return { dst, architecture: arch, layers: layers.length, loops, tensors: tensors.length, tokenizerModel: vocab.model, warnings };
}

/** Tokens llama.cpp looks up by text in a model whose general.name says Phi-3 (llama-vocab.cpp), failing to load without them. */
const PHI3_NAMED_TOKENS = ['<unk>', '<s>', '</s>', '<|endoftext|>'];

/** general.name from the model's file or directory name, or null where llama.cpp would refuse the vocabulary under it. */
function modelName(model: string, vocab: Kv[], warnings: string[]): string | null {
  const name = basename(model.replace(/\/+$/, '')).replace(/\.(gguf|bin)$/, '');
  if (!/phi-?3/i.test(name)) return name;
  const tokens = new Set(vocab.find(([k]) => k === 'tokenizer.ggml.tokens')?.[1] as string[]);
  const missing = PHI3_NAMED_TOKENS.filter((t) => !tokens.has(t));
  if (missing.length === 0) return name;
  warnings.push(`general.name "${name}" left out: llama.cpp treats a model named Phi-3 as having Phi-3's special tokens, and this vocabulary lacks ${missing.join(', ')}`);
  return null;
}

// ---- the vocabulary as tokenizer.ggml.* metadata ----

/**
 * The tokenizer.ggml.* keys for the model's tokenizer: copied from a GGUF source; a llama2.c
 * tokenizer.bin as 'llama' (SentencePiece pieces, '▁' for spaces); an HF byte-level BPE
 * tokenizer.json as 'gpt2' (tokens, merges, pre-tokenizer name). The result is checked by
 * rebuilding a tokenizer from it and encoding a probe text as the source tokenizer does.
 */
function vocabularyMetadata(
  model: string, format: string, explicit: string | undefined, tokenizerPath: string | null, tok: Tokenizer, cfg: ModelConfig, warnings: string[],
): { model: string; kvs: Kv[] } {
  let path = explicit ?? (format === 'gguf' ? model : tokenizerPath);
  if (!path) throw new InputError('not_found', `${model}: cannot find the tokenizer file to embed; pass --tokenizer`);
  if (statSync(path).isDirectory()) {
    const f = ['tokenizer.json', 'tokenizer.bin'].map((n) => join(path!, n)).find((p) => existsSync(p));
    if (!f) throw new InputError('not_found', `${path} holds neither tokenizer.json nor tokenizer.bin; pass --tokenizer`);
    path = f;
  }
  let kvs: Kv[];
  if (isGguf(path)) {
    const file = openGguf(path);
    file.close();
    kvs = ggufMetadataEntries(file).filter(([k]) => k.startsWith('tokenizer.'));
  } else if (path.endsWith('.json')) {
    kvs = byteLevelBpe(path, tok, cfg.vocabSize, warnings);
  } else {
    kvs = llama2cVocabulary(path, tok, cfg.vocabSize);
  }
  const meta = new Map<string, GgufValue>(kvs.map(([k, v]) => [k, v]));
  const tokens = meta.get('tokenizer.ggml.tokens');
  if (!Array.isArray(tokens) || tokens.length !== cfg.vocabSize) {
    throw new InputError('bad_option', `${path}: the tokenizer has ${Array.isArray(tokens) ? tokens.length : 0} tokens but the model's vocabulary is ${cfg.vocabSize}; llama.cpp needs them equal`);
  }
  const rebuilt = tokenizerFromGgufMetadata(meta);
  const want = tok.encode(PROBE), got = rebuilt.encode(PROBE);
  if (want.length !== got.length || want.some((id, i) => id !== got[i])) {
    warnings.push(`the embedded tokenizer encodes a probe text differently from ${path} (${got.length} vs ${want.length} tokens)`);
  }
  return { model: String(meta.get('tokenizer.ggml.model')), kvs };
}

/** By its magic, as loadTokenizer tells a GGUF tokenizer from a llama2.c one. */
function isGguf(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const magic = Buffer.alloc(4);
    return readSync(fd, magic, 0, 4, 0) === 4 && magic.toString('latin1') === 'GGUF';
  } finally {
    closeSync(fd);
  }
}

/** BOS/EOS ids and whether encode() adds them, read off the loaded tokenizer. */
function specialKvs(tok: Tokenizer): Kv[] {
  const kvs: Kv[] = [];
  if (tok.bosId !== null) kvs.push(['tokenizer.ggml.bos_token_id', tok.bosId, 'u32']);
  if (tok.eosId !== null) kvs.push(['tokenizer.ggml.eos_token_id', tok.eosId, 'u32']);
  const plain = tok.encode('a', { addSpecialTokens: false });
  const framed = tok.encode('a', { addSpecialTokens: true });
  kvs.push(['tokenizer.ggml.add_bos_token', tok.bosId !== null && framed[0] === tok.bosId && plain[0] !== tok.bosId, 'bool']);
  kvs.push(['tokenizer.ggml.add_eos_token', tok.eosId !== null && framed.at(-1) === tok.eosId && plain.at(-1) !== tok.eosId, 'bool']);
  return kvs;
}

/** Pads a vocabulary to the model's row count with unused '[PADn]' tokens, as llama.cpp's converter does. */
function pad(tokens: string[], scores: number[] | null, types: number[], vocabSize: number, path: string): void {
  if (tokens.length > vocabSize) throw new InputError('bad_option', `${path}: the tokenizer has ${tokens.length} tokens, more than the model's ${vocabSize} embedding rows`);
  for (let id = tokens.length; id < vocabSize; id++) {
    tokens.push(`[PAD${id}]`);
    scores?.push(-1000);
    types.push(PieceType.unused);
  }
}

/** llama2.c tokenizer.bin (int32 max length; per token f32 score, int32 length, bytes) as a SentencePiece 'llama' vocabulary. */
function llama2cVocabulary(path: string, tok: Tokenizer, vocabSize: number): Kv[] {
  const bytes = readFileSync(path);
  const tokens: string[] = [], scores: number[] = [], types: number[] = [];
  const text = new TextDecoder('utf-8');
  // the loader (parseLlama2cTokenizer) has validated the file's structure already
  for (let off = 4; off + 8 <= bytes.length;) {
    const len = bytes.readInt32LE(off + 4);
    const id = tokens.length;
    const piece = text.decode(bytes.subarray(off + 8, off + 8 + len));
    scores.push(bytes.readFloatLE(off));
    // ids 0-2 are <unk>, BOS, EOS (stored as "\n<s>\n" for printing), as in llama2.c
    tokens.push(id <= 2 ? piece.trim() : piece.replaceAll(' ', '\u2581'));
    types.push(id === 0 ? PieceType.unknown : id <= 2 ? PieceType.control : /^<0x[0-9A-Fa-f]{2}>$/.test(piece) ? PieceType.byte : PieceType.normal);
    off += 8 + len;
  }
  pad(tokens, scores, types, vocabSize, path);
  return [
    ['tokenizer.ggml.model', 'llama', 'string'],
    ['tokenizer.ggml.tokens', tokens, 'string'],
    ['tokenizer.ggml.scores', scores, 'f32'],
    ['tokenizer.ggml.token_type', types, 'i32'],
    ['tokenizer.ggml.unknown_token_id', 0, 'u32'],
    ...specialKvs(tok),
  ];
}

interface TokenizerJson {
  added_tokens?: { id: number; content: string; special?: boolean }[];
  pre_tokenizer?: { type?: string; pretokenizers?: { type?: string }[] } | null;
  model?: { type?: string; byte_fallback?: boolean; vocab?: Record<string, number>; merges?: (string | [string, string])[] };
}

/** An HF tokenizer.json byte-level BPE as a 'gpt2' vocabulary; the pre-tokenizer name is the one whose regex reproduces the source's encoding. */
function byteLevelBpe(path: string, tok: Tokenizer, vocabSize: number, warnings: string[]): Kv[] {
  const json = JSON.parse(readFileSync(path, 'utf8')) as TokenizerJson;
  const pre = json.pre_tokenizer;
  const byteLevel = pre?.type === 'ByteLevel' || (pre?.type === 'Sequence' && !!pre.pretokenizers?.some((p) => p.type === 'ByteLevel'));
  if (json.model?.type !== 'BPE' || !byteLevel || !json.model.vocab || !json.model.merges) {
    throw new InputError('bad_option', `${path}: GGUF export embeds byte-level BPE tokenizer.json files (GPT-2, Llama 3, SmolLM style) and llama2.c/GGUF SentencePiece vocabularies; this one is ${json.model?.type ?? 'unknown'} with a ${pre?.type ?? 'no'} pre-tokenizer`);
  }
  const tokens: string[] = [], types: number[] = [];
  for (const [t, id] of Object.entries(json.model.vocab)) {
    tokens[id] = t;
    types[id] = PieceType.normal;
  }
  for (const a of json.added_tokens ?? []) {
    tokens[a.id] = a.content;
    types[a.id] = a.special ? PieceType.control : PieceType.userDefined;
  }
  const n = tokens.length;
  for (let id = 0; id < n; id++) {
    if (tokens[id] === undefined) {
      tokens[id] = `[PAD${id}]`;
      types[id] = PieceType.unused;
    }
  }
  pad(tokens, null, types, vocabSize, path);
  const merges = json.model.merges.map((m) => (Array.isArray(m) ? m.join(' ') : m));
  const kvs = (preName: string): Kv[] => [
    ['tokenizer.ggml.model', 'gpt2', 'string'],
    ['tokenizer.ggml.pre', preName, 'string'],
    ['tokenizer.ggml.tokens', tokens, 'string'],
    ['tokenizer.ggml.token_type', types, 'i32'],
    ['tokenizer.ggml.merges', merges, 'string'],
    ...specialKvs(tok),
  ];
  const want = tok.encode(PROBE, { addSpecialTokens: false }).join();
  for (const preName of ['gpt-2', 'llama-bpe']) {
    const candidate = kvs(preName);
    if (tokenizerFromGgufMetadata(new Map(candidate.map(([k, v]) => [k, v]))).encode(PROBE, { addSpecialTokens: false }).join() === want) return candidate;
  }
  warnings.push(`${path}: its pre-tokenizer matches neither llama.cpp's 'gpt-2' nor 'llama-bpe'; wrote tokenizer.ggml.pre = 'default', so llama.cpp may split text differently`);
  return kvs('default');
}
