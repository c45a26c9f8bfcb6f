// Safetensors: reader (one file, or a directory with a sharded model.safetensors.index.json)
// and writers (all at once, or streamed tensor by tensor). File layout: u64 LE header length
// n, n bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?}, then
// the data; offsets are relative to the end of the header. Every header field is checked
// before any tensor is handed out; writers go through `${path}.tmp-<pid>` and a rename.
import { closeSync, existsSync, fsyncSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { basename, join } from 'node:path';
import { FormatError, type FormatErrorCode } from '../errors.js';
import {
  type DType, type FileEntry, type LoadedTensor, type TensorData, type TensorInfo, type TensorSource,
  FileTensorSource, dtypeSize, encodeData, openReadOnly, readExactly, shapeNumel, writeFully,
} from './tensor-source.js';

const FROM_ST: Record<string, DType> = {
  F32: 'f32', F16: 'f16', BF16: 'bf16', F64: 'f64', I64: 'i64', I32: 'i32', I16: 'i16', I8: 'i8', U16: 'u16', U8: 'u8', BOOL: 'bool',
};
const TO_ST = Object.fromEntries(Object.entries(FROM_ST).map(([k, v]) => [v, k])) as Partial<Record<DType, string>>;
/** The reference implementation's limit; a header above it is corrupt, not big. */
const MAX_HEADER_BYTES = 100_000_000;

export class SafetensorsFile extends FileTensorSource {
  constructor(path: string, fd: number, entries: Map<string, FileEntry>, readonly metadata: Record<string, string>) {
    super(path, fd, entries);
  }
  /** A quantized matrix's GGUF blocks as stored (see QUANTIZED_KEY). */
  readRaw(name: string): Uint8Array {
    const { dtype } = this.info(name);
    if (dtype !== 'q8_0' && dtype !== 'q4_0') throw new FormatError('unknown_dtype', `tensor '${name}' is ${dtype}, not a quantized matrix`, { file: this.path, tensor: name });
    return this.readBytes(name);
  }
}

/**
 * __metadata__ key of rrt's quantized matrices: a JSON object mapping a tensor name to
 * {"type": "q8_0" | "q4_0", "shape": [rows, cols]}. Each such tensor is stored as U8 of shape
 * [rows, bytes per row], holding GGUF's blocks of the matrix row by row.
 */
export const QUANTIZED_KEY = 'rrt.quantized';
const QUANT_BLOCK_BYTES: Record<string, number> = { q8_0: 34, q4_0: 18 };

/** The logical shape and dtype of the tensors QUANTIZED_KEY names; a FormatError when any disagrees with its bytes. */
function applyQuantized(entries: Map<string, FileEntry>, metadata: Record<string, string>, file: string): void {
  const raw = metadata[QUANTIZED_KEY];
  if (raw === undefined) return;
  const bad = (msg: string, tensor?: string) => new FormatError('bad_header', `${QUANTIZED_KEY}: ${msg}`, { file, tensor });
  let table: unknown;
  try {
    table = JSON.parse(raw);
  } catch {
    throw bad('is not JSON');
  }
  if (typeof table !== 'object' || table === null || Array.isArray(table)) throw bad('is not a JSON object');
  for (const [name, v] of Object.entries(table)) {
    const e = entries.get(name);
    if (!e) throw bad(`names '${name}', which the file does not hold`, name);
    const { type, shape } = (v ?? {}) as { type?: unknown; shape?: unknown };
    const bb = typeof type === 'string' && Object.hasOwn(QUANT_BLOCK_BYTES, type) ? QUANT_BLOCK_BYTES[type] : 0;
    if (!bb) throw bad(`'${name}' has type ${JSON.stringify(type)}; rrt stores q8_0, q4_0`, name);
    if (!Array.isArray(shape) || shape.length !== 2 || !shape.every((d) => Number.isSafeInteger(d) && d > 0) || shape[1] % 32 !== 0)
      throw bad(`'${name}' has shape ${JSON.stringify(shape)}; expected [rows, cols] with cols a multiple of 32`, name);
    const stored = e.info.shape, rowBytes = (shape[1] / 32) * bb;
    if (e.info.dtype !== 'u8' || stored.length !== 2 || stored[0] !== shape[0] || stored[1] !== rowBytes)
      throw bad(`'${name}' is stored ${e.info.dtype} ${JSON.stringify(stored)}; ${type} ${JSON.stringify(shape)} needs U8 [${shape[0]}, ${rowBytes}]`, name);
    e.info = { ...e.info, dtype: type as 'q8_0' | 'q4_0', shape: [...shape] as number[] };
  }
}

export function openSafetensors(path: string): SafetensorsFile {
  const { fd, size } = openReadOnly(path, 'safetensors file');
  try {
    const { entries, metadata } = parseHeader(fd, size, path);
    return new SafetensorsFile(path, fd, entries, metadata);
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

function parseHeader(fd: number, size: number, file: string): { entries: Map<string, FileEntry>; metadata: Record<string, string> } {
  const bad = (code: FormatErrorCode, msg: string, tensor?: string) => new FormatError(code, msg, { file, tensor });
  if (size < 8) throw bad('truncated', `file has ${size} bytes; a safetensors file starts with an 8-byte header length`);
  const n = Buffer.from(readExactly(fd, 0, 8, file).buffer).readBigUInt64LE(0);
  if (n > BigInt(size - 8)) throw bad('truncated', `header length ${n} runs past the end of the file (${size} bytes, so at most ${size - 8})`);
  if (n > BigInt(MAX_HEADER_BYTES)) throw bad('bad_header', `header length ${n} is over the ${MAX_HEADER_BYTES}-byte limit`);
  const headerLen = Number(n);
  let json: unknown;
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(readExactly(fd, 8, headerLen, file));
    json = JSON.parse(text);
  } catch (e) {
    throw bad('bad_header', `header (${headerLen} bytes) is not valid UTF-8 JSON: ${(e as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw bad('bad_header', `header is JSON ${Array.isArray(json) ? 'array' : String(json === null ? 'null' : typeof json)}, expected an object`);
  }
  const dataStart = 8 + headerLen;
  const dataSize = size - dataStart;
  const entries = new Map<string, FileEntry>();
  const spans: { name: string; begin: number; end: number }[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, v] of Object.entries(json)) {
    if (name === '__metadata__') {
      metadata = checkMetadata(v, file);
      continue;
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad('bad_header', `tensor '${name}': entry is not an object`, name);
    const { dtype: st, shape, data_offsets: offs } = v as Record<string, unknown>;
    if (typeof st !== 'string') throw bad('bad_header', `tensor '${name}': dtype is missing or not a string`, name);
    const dtype = Object.hasOwn(FROM_ST, st) ? FROM_ST[st] : undefined;
    if (!dtype) throw bad('unknown_dtype', `tensor '${name}' has dtype '${st}'; rrt reads ${Object.keys(FROM_ST).join(', ')}`, name);
    if (!Array.isArray(shape)) throw bad('bad_header', `tensor '${name}': shape is missing or not an array`, name);
    const numel = shapeNumel(shape);
    if (numel < 0) throw bad('bad_header', `tensor '${name}': shape ${JSON.stringify(shape)} must list non-negative integers with a product below 2^53`, name);
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      throw bad('bad_header', `tensor '${name}': data_offsets ${JSON.stringify(offs)} must be two non-negative integers`, name);
    }
    const [begin, end] = offs as [number, number];
    if (begin > end || end > dataSize) {
      throw bad('offset_out_of_range', `tensor '${name}': data_offsets [${begin}, ${end}] outside the ${dataSize}-byte data section (begin ≤ end ≤ ${dataSize} required; is the file truncated?)`, name);
    }
    const want = numel * dtypeSize(dtype);
    if (end - begin !== want) {
      throw bad('shape_size_mismatch', `tensor '${name}': ${end - begin} bytes in data_offsets, but ${st} ${JSON.stringify(shape)} needs ${numel}·${dtypeSize(dtype)} = ${want}`, name);
    }
    const info: TensorInfo = { name, dtype, shape: shape as number[], byteLength: want };
    entries.set(name, { info, offset: dataStart + begin });
    spans.push({ name, begin, end });
  }
  spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let prev: (typeof spans)[number] | null = null;
  for (const s of spans) {
    if (s.begin === s.end) continue;
    if (prev && s.begin < prev.end) {
      throw bad('overlapping_tensors', `tensors '${prev.name}' [${prev.begin}, ${prev.end}) and '${s.name}' [${s.begin}, ${s.end}) overlap`, s.name);
    }
    prev = s;
  }
  applyQuantized(entries, metadata, file);
  return { entries, metadata };
}

function checkMetadata(v: unknown, file: string): Record<string, string> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new FormatError('bad_header', '__metadata__ is not an object', { file });
  const out: Record<string, string> = {};
  for (const [k, s] of Object.entries(v)) {
    if (typeof s !== 'string') throw new FormatError('bad_header', `__metadata__['${k}'] is ${typeof s}, expected a string`, { file });
    out[k] = s;
  }
  return out;
}

// ---- checkpoint directories ----

const INDEX_NAME = 'model.safetensors.index.json';
const SINGLE_NAME = 'model.safetensors';

/** A directory's weights: model.safetensors, else the shards its index lists (all checked up front). */
export function openCheckpointDir(dir: string): TensorSource {
  if (!isDir(dir)) throw new FormatError('not_found', 'checkpoint directory does not exist', { file: dir });
  if (isFile(join(dir, SINGLE_NAME))) return openSafetensors(join(dir, SINGLE_NAME));
  if (isFile(join(dir, INDEX_NAME))) return openShards(dir);
  const others = readdirSync(dir).filter((f) => /\.(bin|pt|pth|gguf|safetensors|ckpt)$/.test(f));
  const hint = others.length ? `; found ${others.slice(0, 5).join(', ')}, which rrt does not open as an HF checkpoint` : '';
  throw new FormatError('not_found', `looked for ${SINGLE_NAME} and ${INDEX_NAME}, found neither${hint}`, { file: dir });
}

function isFile(p: string): boolean {
  return existsSync(p) && statSync(p).isFile();
}
function isDir(p: string): boolean {
  return existsSync(p) && statSync(p).isDirectory();
}

function openShards(dir: string): TensorSource {
  const indexPath = join(dir, INDEX_NAME);
  if (statSync(indexPath).size > MAX_HEADER_BYTES) throw new FormatError('bad_header', `index is over ${MAX_HEADER_BYTES} bytes`, { file: indexPath });
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(indexPath, 'utf8'));
  } catch (e) {
    throw new FormatError('bad_header', `index is not valid JSON: ${(e as Error).message}`, { file: indexPath });
  }
  const map = (json as { weight_map?: unknown } | null)?.weight_map;
  if (typeof map !== 'object' || map === null || Array.isArray(map)) throw new FormatError('bad_header', 'index has no weight_map object', { file: indexPath });
  const where = new Map<string, string>();
  for (const [name, shard] of Object.entries(map)) {
    if (typeof shard !== 'string' || shard !== basename(shard) || shard === '..' || shard === '.' || shard.includes('\\')) {
      throw new FormatError('bad_header', `weight_map['${name}'] = ${JSON.stringify(shard)} is not a file name in the checkpoint directory`, { file: indexPath, tensor: name });
    }
    where.set(name, shard);
  }
  const shardNames = [...new Set(where.values())];
  const missing = shardNames.filter((s) => !isFile(join(dir, s)));
  if (missing.length) throw new FormatError('not_found', `index lists ${shardNames.length} shards; missing: ${missing.join(', ')}`, { file: indexPath });
  const shards = new Map<string, SafetensorsFile>();
  try {
    for (const s of shardNames) shards.set(s, openSafetensors(join(dir, s)));
    for (const [name, s] of where) {
      if (!shards.get(s)!.has(name)) {
        throw new FormatError('missing_tensor', `index puts '${name}' in ${s}, which has no such tensor`, { file: join(dir, s), tensor: name });
      }
    }
  } catch (e) {
    for (const f of shards.values()) f.close();
    throw e;
  }
  return new ShardedSource(dir, where, shards);
}

class ShardedSource implements TensorSource {
  constructor(readonly path: string, private readonly where: Map<string, string>, private readonly shards: Map<string, SafetensorsFile>) {}
  names(): string[] {
    return [...this.where.keys()];
  }
  info(name: string): TensorInfo {
    return this.shard(name).info(name);
  }
  read(name: string): LoadedTensor {
    return this.shard(name).read(name);
  }
  readF32(name: string): Float32Array {
    return this.shard(name).readF32(name);
  }
  close(): void {
    for (const f of this.shards.values()) f.close();
  }
  private shard(name: string): SafetensorsFile {
    const s = this.where.get(name);
    if (s === undefined) throw new FormatError('missing_tensor', `no tensor named '${name}' in the index (${this.where.size} tensors)`, { file: this.path, tensor: name });
    return this.shards.get(s)!;
  }
}

// ---- writers ----

export interface TensorPlan { name: string; dtype: DType; shape: number[] }
export interface TensorToWrite extends TensorPlan { data: TensorData }

/** Writes a whole checkpoint atomically (temp file, fsync, rename). f16/bf16 also accept Float32Array input. */
export function writeSafetensors(path: string, tensors: TensorToWrite[], metadata?: Record<string, string>): void {
  const w = new SafetensorsWriter(path, tensors.map(({ name, dtype, shape }) => ({ name, dtype, shape })), metadata);
  try {
    for (const t of tensors) w.write(t.name, t.data);
    w.finish();
  } catch (e) {
    w.abort();
    throw e;
  }
}

/**
 * Streams a checkpoint tensor by tensor with bounded memory: the header is fixed by the plan,
 * each write() lands at its own offset in any order, finish() checks that all were written,
 * fsyncs and renames the temp file into place. Until then `path` is untouched.
 */
export class SafetensorsWriter {
  private fd: number | null;
  private readonly tmp: string;
  private readonly slots = new Map<string, { plan: TensorPlan; offset: number; numel: number; written: boolean }>();
  constructor(readonly path: string, plan: TensorPlan[], metadata?: Record<string, string>) {
    const header: Record<string, unknown> = {};
    if (metadata) {
      for (const [k, v] of Object.entries(metadata)) {
        if (typeof v !== 'string') throw new TypeError(`[SafetensorsWriter] metadata['${k}'] is ${typeof v}; safetensors metadata values are strings`);
      }
      header.__metadata__ = metadata;
    }
    const sorted = [...plan].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const layout: { p: TensorPlan; begin: number; numel: number }[] = [];
    const seen = new Set<string>();
    let at = 0;
    for (const p of sorted) {
      if (typeof p.name !== 'string' || p.name === '' || p.name === '__metadata__') throw new TypeError(`[SafetensorsWriter] bad tensor name ${JSON.stringify(p.name)}`);
      if (seen.has(p.name)) throw new RangeError(`[SafetensorsWriter] tensor '${p.name}' is planned twice`);
      seen.add(p.name);
      const st = TO_ST[p.dtype];
      if (!st) throw new TypeError(`[SafetensorsWriter] tensor '${p.name}': dtype '${p.dtype}' has no safetensors encoding`);
      const numel = shapeNumel(p.shape);
      if (!Array.isArray(p.shape) || numel < 0) throw new RangeError(`[SafetensorsWriter] tensor '${p.name}': shape ${JSON.stringify(p.shape)} must list non-negative integers`);
      const bytes = numel * dtypeSize(p.dtype);
      header[p.name] = { dtype: st, shape: p.shape, data_offsets: [at, at + bytes] };
      layout.push({ p: { name: p.name, dtype: p.dtype, shape: [...p.shape] }, begin: at, numel });
      at += bytes;
    }
    let json = JSON.stringify(header);
    const pad = (8 - (Buffer.byteLength(json) % 8)) % 8;
    json += ' '.repeat(pad);
    const head = Buffer.alloc(8 + Buffer.byteLength(json));
    head.writeBigUInt64LE(BigInt(head.length - 8), 0);
    head.write(json, 8, 'utf8');
    for (const l of layout) this.slots.set(l.p.name, { plan: l.p, offset: head.length + l.begin, numel: l.numel, written: false });
    this.tmp = `${path}.tmp-${process.pid}`;
    this.fd = openSync(this.tmp, 'w');
    try {
      writeFully(this.fd, head, 0);
    } catch (e) {
      this.abort();
      throw e;
    }
  }

  /** Writes one planned tensor; f16/bf16 tensors may be given as Float32Array (rounded to nearest even). */
  write(name: string, data: TensorData): void {
    if (this.fd === null) throw new Error(`[SafetensorsWriter] ${this.path}: write('${name}') after finish() or abort()`);
    const slot = this.slots.get(name);
    if (!slot) throw new RangeError(`[SafetensorsWriter] tensor '${name}' is not in the plan`);
    if (slot.written) throw new RangeError(`[SafetensorsWriter] tensor '${name}' was already written`);
    const { dtype, shape } = slot.plan;
    const bytes = encodeData(dtype, data, `[SafetensorsWriter] tensor '${name}'`);
    if (bytes.length / dtypeSize(dtype) !== slot.numel) {
      throw new RangeError(`[SafetensorsWriter] tensor '${name}' has ${bytes.length / dtypeSize(dtype)} elements, expected ${JSON.stringify(shape)} = ${slot.numel}`);
    }
    writeFully(this.fd, bytes, slot.offset);
    slot.written = true;
  }

  finish(): void {
    if (this.fd === null) throw new Error(`[SafetensorsWriter] ${this.path}: finish() after finish() or abort()`);
    const missing = [...this.slots.values()].filter((s) => !s.written).map((s) => s.plan.name);
    if (missing.length) throw new RangeError(`[SafetensorsWriter] ${missing.length} planned tensors not written: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''}`);
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.fd = null;
    renameSync(this.tmp, this.path);
  }

  /** Drops the temp file; `path` is left as it was. Safe to call more than once. */
  abort(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
    try {
      unlinkSync(this.tmp);
    } catch {
      // already gone (renamed by finish, or never created)
    }
  }
}
