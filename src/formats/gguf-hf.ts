// ggufToHf: a GGUF file of an architecture in gguf-archs.ts (or llama's looped 'nanbeige')
// presented as an HF checkpoint: a config.json object and the same tensors under the HF names
// rrt's profile of that architecture reads. llama's q/k rows go back to HF's rotate-half order,
// Gemma's norms (stored as 1 + w, as llama.cpp's converter writes them) to HF's w;
// a fused attn_qkv is split for architectures that read q, k, v apart, and separate ones are
// stacked for Phi-3's fused qkv_proj. Unmapped tensors, missing tensors and shapes that
// disagree with the metadata are errors, never silently dropped.
import { ConfigError, FormatError } from '../errors.js';
import type { ModelConfig } from '../models/config.js';
import { configFromHf, profileForArch } from '../models/profiles/index.js';
import { expectedShape } from '../models/weights.js';
import { GGUF_ARCH_NAMES, type GgufArch, type GgufArchFile, ggufArchByName } from './gguf-archs.js';
import type { GgufFile } from './gguf.js';
import { type DType, type LoadedTensor, type TensorData, type TensorInfo, type TensorSource, dtypeByteLength, interleavedToHalfSplit, shapeNumel, toF32 } from './tensor-source.js';

/** llama.cpp's LLAMA_MAX_LAYERS: a looped file may not unroll past it. */
const MAX_UNROLLED_LAYERS = 512;
/** The rows of q, k and v in a fused attn_qkv, in that order. */
const QKV = ['q.w', 'k.w', 'v.w'] as const;

/** The shortest decimal that rounds to the same f32 (GGUF stores eps 1e-5 as 9.99999974e-6). */
function shortestF32(x: number): number {
  for (let p = 1; p <= 9; p++) {
    const y = Number(x.toPrecision(p));
    if (Math.fround(y) === Math.fround(x)) return y;
  }
  return x;
}

/**
 * A looped ('nanbeige') file as a recursive rrt model: its block_count physical layers are the
 * slots, run num_loops times in order (cycle), each loop with its own KV cache; without
 * skip_loop_final_norm the output norm's weights norm the stream between loops (loopNorm).
 */
function loopedConfig(file: GgufFile, blocks: number, num: (key: string, fallback?: number) => number): Record<string, unknown> {
  const loops = num('nanbeige.num_loops');
  if (!Number.isSafeInteger(loops) || loops < 1) throw new ConfigError('bad_value', `${file.path}: nanbeige.num_loops is ${loops}, expected a positive integer`, 'nanbeige.num_loops');
  if (blocks * loops > MAX_UNROLLED_LAYERS)
    throw new ConfigError('bad_value', `${file.path}: ${blocks} blocks × ${loops} loops = ${blocks * loops} layers, more than the ${MAX_UNROLLED_LAYERS} a looped model may unroll to`, 'nanbeige.num_loops');
  const skip = file.metadata.get('nanbeige.skip_loop_final_norm');
  if (skip !== undefined && typeof skip !== 'boolean') throw new ConfigError('bad_value', `${file.path}: nanbeige.skip_loop_final_norm is ${typeof skip}, expected a bool`, 'nanbeige.skip_loop_final_norm');
  const unrolled = Array.from({ length: blocks * loops }, (_, l) => ({ slot: l % blocks, loop: Math.floor(l / blocks), unique: false, sourceLayer: l % blocks }));
  return {
    num_hidden_layers: blocks * loops,
    recursive: {
      version: 1,
      source: { model: file.path, modelType: 'llama', numHiddenLayers: blocks * loops, nonEmbeddingParameters: 0 },
      plan: { strategy: 'cycle', nLoops: loops, nShared: blocks, unrolled, init: 'pretrained looped model' },
      sharedNorms: true,
      lora: null,
      loopNorm: skip !== true,
    },
  };
}

/** An HF tensor as rows of GGUF tensors: one whole tensor, a row range of a fused one, or several stacked. */
interface View {
  parts: { name: string; start: number; rows: number }[];
  /** HF row-major shape */
  shape: number[];
  /** llama: un-interleave the rotary rows over this many heads */
  heads?: number;
  /** subtracted from every value (a norm stored as w + shift, Gemma's) */
  shift?: number;
}

/**
 * Presents a GGUF file (llama, qwen3, olmo2, phi3, gemma2, gemma3, or llama's looped nanbeige) as an HF checkpoint
 * of that architecture: the config.json object, and its tensors under HF names.
 */
export function ggufToHf(file: GgufFile): { config: Record<string, unknown>; source: TensorSource } {
  const md = file.metadata;
  const arch = md.get('general.architecture');
  const spec = typeof arch === 'string' ? ggufArchByName(arch) : undefined;
  if (!spec || typeof arch !== 'string')
    throw new ConfigError('unknown_architecture', `${file.path}: GGUF architecture ${JSON.stringify(arch)}; rrt reads ${GGUF_ARCH_NAMES} and llama's looped nanbeige`, 'general.architecture');
  const looped = arch !== spec.name;
  const num = (key: string, fallback?: number): number => {
    const v = md.get(key);
    if (v === undefined) {
      if (fallback !== undefined) return fallback;
      throw new ConfigError('missing_field', `${file.path}: GGUF key '${key}' is missing`, key);
    }
    if (typeof v !== 'number' && typeof v !== 'bigint') throw new ConfigError('bad_value', `${file.path}: GGUF key '${key}' is ${Array.isArray(v) ? 'an array' : typeof v}, expected a number`, key);
    return file.metadataTypes.get(key) === 'f32' ? shortestF32(Number(v)) : Number(v);
  };
  const hidden = num(`${arch}.embedding_length`);
  const layers = num(`${arch}.block_count`);
  const heads = num(`${arch}.attention.head_count`);
  const kvHeads = num(`${arch}.attention.head_count_kv`, heads);
  const headDim = num(`${arch}.attention.key_length`, hidden / heads);
  const ffn = num(`${arch}.feed_forward_length`);
  for (const [key, v] of [[`${arch}.embedding_length`, hidden], [`${arch}.block_count`, layers], [`${arch}.attention.head_count`, heads],
    [`${arch}.attention.head_count_kv`, kvHeads], [`${arch}.feed_forward_length`, ffn]] as const) {
    if (!Number.isSafeInteger(v) || v <= 0) throw new ConfigError('bad_value', `${file.path}: GGUF key '${key}' is ${v}, expected a positive integer`, key);
  }
  if (!Number.isInteger(headDim) || headDim % 2 !== 0 || heads % kvHeads !== 0) {
    throw new ConfigError('bad_value', `${file.path}: ${heads} heads, ${kvHeads} kv heads and head size ${headDim} do not make a ${spec.name} attention layout`, `${arch}.attention.head_count`);
  }
  if (num(`${arch}.attention.value_length`, headDim) !== headDim)
    throw new ConfigError('unsupported', `${file.path}: value head size ${num(`${arch}.attention.value_length`)} ≠ key head size ${headDim}`, `${arch}.attention.value_length`);
  const rotary = num(`${arch}.rope.dimension_count`, headDim);
  if (rotary !== headDim && !(spec.partialRotary && Number.isInteger(rotary) && rotary > 0 && rotary < headDim && rotary % 2 === 0))
    throw new ConfigError('unsupported', `${file.path}: rotary dims ${rotary} of head size ${headDim} (${spec.name} rotates whole heads)`, `${arch}.rope.dimension_count`);
  const scaling = md.get(`${arch}.rope.scaling.type`);
  if (scaling !== undefined && scaling !== 'none' && scaling !== 'linear' && !spec.ropeScaling?.includes(String(scaling))) {
    throw new ConfigError('unsupported', `${file.path}: rope scaling '${String(scaling)}' of a ${spec.name} model is not supported`, `${arch}.rope.scaling.type`);
  }

  // which block indices the file holds, so a block_count past them fails before anything loops over it
  const blocks = new Set<number>();
  for (const g of file.names()) {
    const m = /^blk\.(\d+)\./.exec(g);
    if (m) blocks.add(Number(m[1]));
  }
  const firstProj = spec.layer['q.w'] ?? spec.layer['qkv.w'];
  for (let l = 0; l < layers; l++) {
    if (!blocks.has(l)) throw new FormatError('missing_tensor', `${arch}.block_count is ${layers} but the file has only ${file.names().length} tensors; no tensor 'blk.${l}.${firstProj}.weight'`, { file: file.path, tensor: `blk.${l}.${firstProj}.weight` });
  }

  const present = new Set(file.names());
  if (!present.has('token_embd.weight')) throw new FormatError('missing_tensor', `${arch} GGUF has no token_embd.weight`, { file: file.path, tensor: 'token_embd.weight' });
  const used = new Set<string>();
  const archFile: GgufArchFile = {
    path: file.path,
    num: (key, fallback) => num(`${arch}.${key}`, fallback),
    get: (key) => md.get(`${arch}.${key}`),
    vector: (name) => {
      if (!present.has(name)) return null;
      used.add(name);
      return file.readF32(name);
    },
    has: (name) => present.has(name),
    hidden,
    heads,
    layers,
    headDim,
    rotary,
  };
  const config: Record<string, unknown> = {
    architectures: [spec.hfClass],
    model_type: spec.modelType,
    hidden_size: hidden,
    intermediate_size: ffn,
    num_hidden_layers: layers,
    num_attention_heads: heads,
    num_key_value_heads: kvHeads,
    head_dim: headDim,
    hidden_act: 'silu',
    rms_norm_eps: num(`${arch}.attention.layer_norm_rms_epsilon`),
    rope_theta: num(`${arch}.rope.freq_base`, 10000),
    max_position_embeddings: num(`${arch}.context_length`),
    vocab_size: file.info('token_embd.weight').shape[0],
    tie_word_embeddings: !present.has('output.weight'),
    ...spec.hfFields?.(archFile),
  };
  for (const [hf, key] of [['bos_token_id', 'bos_token_id'], ['eos_token_id', 'eos_token_id'], ['pad_token_id', 'padding_token_id']]) {
    if (md.has(`tokenizer.ggml.${key}`)) config[hf] = num(`tokenizer.ggml.${key}`);
  }
  if (scaling === 'linear') config.rope_scaling = { rope_type: 'linear', factor: num(`${arch}.rope.scaling.factor`) };
  if (looped) Object.assign(config, loopedConfig(file, layers, num));

  const cfg = configFromHf(config);
  const views = new Map<string, View>();
  const profile = profileForArch(cfg.arch);
  const top: Record<string, string> = { embed: 'token_embd.weight', 'finalNorm.w': 'output_norm.weight', head: 'output.weight' };
  const shifted = (key: string, v: View): View => (spec.normShift && key.endsWith('Norm.w') ? { ...v, shift: spec.normShift } : v);
  for (const e of profile.globals(cfg)) {
    if (!top[e.key]) throw new ConfigError('unsupported', `${file.path}: ${spec.name} has no GGUF name for ${e.key}`);
    views.set(e.hf, shifted(e.key, whole(file, present, top[e.key], expectedShape(cfg, e.key))));
  }
  for (let l = 0; l < layers; l++) {
    for (const e of profile.layer(cfg, l)) views.set(e.hf, shifted(e.key, layerView(file, present, spec, cfg, l, e.key)));
  }
  for (const v of views.values()) for (const p of v.parts) used.add(p.name);
  for (const g of file.names()) {
    if (!used.has(g)) throw new ConfigError('unsupported', `${file.path}: GGUF tensor '${g}' has no HF ${spec.modelType} equivalent (block_count ${layers})`);
  }
  return { config, source: new GgufHfSource(file, views) };
}

function shapeError(file: GgufFile, g: string, got: number[], want: number[]): FormatError {
  return new FormatError('shape_size_mismatch', `tensor '${g}' has shape ${JSON.stringify(got)} (row-major), the metadata implies ${JSON.stringify(want)}`, { file: file.path, tensor: g });
}

function whole(file: GgufFile, present: Set<string>, g: string, shape: number[]): View {
  if (!present.has(g)) throw new FormatError('missing_tensor', `${String(file.metadata.get('general.architecture'))} GGUF has no tensor '${g}'`, { file: file.path, tensor: g });
  const got = file.info(g).shape;
  if (got.length !== shape.length || got.some((d, i) => d !== shape[i])) throw shapeError(file, g, got, shape);
  return { parts: [{ name: g, start: 0, rows: shape[0] }], shape };
}

/** Canonical key `key` of block l: its own tensor, rows of a fused attn_qkv, or q, k, v stacked into Phi-3's fused one. */
function layerView(file: GgufFile, present: Set<string>, spec: GgufArch, cfg: ModelConfig, l: number, key: string): View {
  const gname = spec.layer[key];
  if (!gname) throw new ConfigError('unsupported', `${file.path}: ${spec.name} has no GGUF name for layer tensor ${key}`);
  const g = `blk.${l}.${gname}.weight`;
  const shape = expectedShape(cfg, key);
  const heads = spec.interleavedRope && (key === 'q.w' || key === 'k.w') ? (key === 'q.w' ? cfg.nHeads : cfg.nKvHeads) : undefined;
  const fused = `blk.${l}.attn_qkv.weight`;
  const qkvRows = QKV.map((k) => expectedShape(cfg, k)[0]);
  if (!present.has(g) && (QKV as readonly string[]).includes(key) && present.has(fused)) {
    const i = QKV.indexOf(key as (typeof QKV)[number]);
    whole(file, present, fused, [qkvRows[0] + qkvRows[1] + qkvRows[2], cfg.hidden]);
    return { parts: [{ name: fused, start: qkvRows.slice(0, i).reduce((a, b) => a + b, 0), rows: qkvRows[i] }], shape, heads };
  }
  if (!present.has(g) && key === 'qkv.w' && QKV.every((k) => present.has(`blk.${l}.${k === 'q.w' ? 'attn_q' : k === 'k.w' ? 'attn_k' : 'attn_v'}.weight`))) {
    const parts = (['attn_q', 'attn_k', 'attn_v'] as const).map((n, i) => whole(file, present, `blk.${l}.${n}.weight`, [qkvRows[i], cfg.hidden]).parts[0]);
    return { parts, shape };
  }
  return { ...whole(file, present, g, shape), heads };
}

class GgufHfSource implements TensorSource {
  readonly path: string;
  constructor(private readonly file: GgufFile, private readonly views: Map<string, View>) {
    this.path = file.path;
  }
  names(): string[] {
    return [...this.views.keys()];
  }
  info(name: string): TensorInfo {
    const v = this.view(name);
    const dtypes = new Set(v.parts.map((p) => this.file.info(p.name).dtype));
    // stacked tensors of different types, and shifted norms, read as f32
    const dtype: DType = dtypes.size === 1 && !v.shift ? [...dtypes][0] : 'f32';
    return { name, dtype, shape: [...v.shape], byteLength: dtypeByteLength(dtype, shapeNumel(v.shape)) };
  }
  read(name: string): LoadedTensor {
    const v = this.view(name);
    const p0 = v.parts[0];
    if (v.shift) {
      // f32(w + 1) − 1 is exact, so the model's own 1 + w comes back bit for bit
      const w = toF32(this.file.read(p0.name)).slice();
      for (let i = 0; i < w.length; i++) w[i] -= v.shift;
      return { dtype: 'f32', shape: [...v.shape], data: w };
    }
    if (v.parts.length === 1 && p0.start === 0 && p0.rows === this.file.info(p0.name).shape[0] && !v.heads) return this.file.read(p0.name);
    const loaded = v.parts.map((p) => ({ p, t: this.file.read(p.name) }));
    const same = loaded.every(({ t }) => t.dtype === loaded[0].t.dtype);
    const pieces = loaded.map(({ p, t }) => {
      const data = same ? t.data : toF32(t);
      const perRow = data.length / t.shape[0];
      return data.subarray(p.start * perRow, (p.start + p.rows) * perRow) as TensorData;
    });
    const data = stacked(pieces);
    const rows = v.shape[0];
    return { dtype: same ? loaded[0].t.dtype : 'f32', shape: [...v.shape], data: v.heads ? interleavedToHalfSplit(data, rows, data.length / rows, v.heads) : data };
  }
  readF32(name: string): Float32Array {
    return toF32(this.read(name));
  }
  /** The file's bytes, rows cut, stacked and reordered like read()'s values (a row is a whole number of blocks). */
  readRaw(name: string): Uint8Array {
    const v = this.view(name);
    if (v.shift) throw new FormatError('unknown_dtype', `'${name}' is a shifted norm; read it as f32`, { file: this.path, tensor: name });
    const types = new Set(v.parts.map((p) => this.file.info(p.name).ggmlType));
    if (types.size > 1) throw new FormatError('unknown_dtype', `'${name}' stacks tensors of types ${[...types].join(', ')}; read it as f32`, { file: this.path, tensor: name });
    const data = stacked(v.parts.map((p) => {
      const raw = this.file.readRaw(p.name);
      const perRow = raw.length / this.file.info(p.name).shape[0];
      return raw.subarray(p.start * perRow, (p.start + p.rows) * perRow);
    }));
    const rows = v.shape[0];
    return v.heads ? interleavedToHalfSplit(data, rows, data.length / rows, v.heads) : data;
  }
  close(): void {
    this.file.close();
  }
  private view(name: string): View {
    const v = this.views.get(name);
    if (v === undefined) throw new FormatError('missing_tensor', `no tensor named '${name}' in the HF view of this GGUF`, { file: this.path, tensor: name });
    return v;
  }
}

/** Arrays of one type end to end (the one array itself when there is one). */
function stacked<T extends TensorData>(pieces: T[]): T {
  if (pieces.length === 1) return pieces[0].slice() as T;
  const out = new (pieces[0].constructor as new (n: number) => T)(pieces.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of pieces) {
    (out as Float32Array).set(p as Float32Array, at);
    at += p.length;
  }
  return out;
}
