// GGUF v2/v3 (llama.cpp's format): a bounded, defensive reader (F32/F16/BF16, the integer
// types, and the ggml block types of ggml-quants.ts, dequantised), an atomic v3 writer
// (F32/F16/BF16/Q8_0), and (from gguf-hf.ts) ggufToHf, which presents a file of an
// architecture rrt runs as an HF config plus HF-named tensors. Layout:
// 'GGUF', u32 version, u64 n_tensors, u64 n_kv, the key/values, the tensor infos (name,
// n_dims, ne[] fastest first, ggml type, offset), then aligned data. Checks follow ggml's gguf.cpp.
import { closeSync, fsyncSync, ftruncateSync, openSync, renameSync, unlinkSync } from 'node:fs';
import { FormatError, type FormatErrorCode } from '../errors.js';
import { type GgmlBlockType, blockLayout } from './ggml-quants.js';
import { QTYPE, quantizeBlock } from '../tensor/ref/quant.js';
import {
  type DType, type FileEntry, type LoadedTensor, type TensorData, type TensorInfo, type TensorSource,
  FileTensorSource, dtypeByteLength, encodeData, f32ToF16, openReadOnly, readExactly, shapeNumel, writeFully,
} from './tensor-source.js';

export type GgufValue = number | bigint | boolean | string | GgufValue[];
/** A metadata value's GGUF type; for an array, the type of its elements. 64-bit integers read as bigint. */
export type GgufType = 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'f32' | 'bool' | 'string' | 'u64' | 'i64' | 'f64';

const VALUE_TYPE_IDS: Record<GgufType, number> = { u8: 0, i8: 1, u16: 2, i16: 3, u32: 4, i32: 5, f32: 6, bool: 7, string: 8, u64: 10, i64: 11, f64: 12 };
const ARRAY_ID = 9;
const VALUE_TYPES = new Map<number, GgufType>(Object.entries(VALUE_TYPE_IDS).map(([k, v]) => [v, k as GgufType]));
const FIXED_BYTES: Partial<Record<GgufType, number>> = { u8: 1, i8: 1, bool: 1, u16: 2, i16: 2, u32: 4, i32: 4, f32: 4, u64: 8, i64: 8, f64: 8 };

/** ggml tensor types: block size, bytes per block, and the DType rrt reads it as (none: listed but not readable). */
interface GgmlType { name: string; block: number; bytes: number; dtype?: DType }
/** A block type rrt decodes: its geometry comes from ggml-quants.ts, its DType is its lowercase name. */
const blockType = (t: GgmlBlockType): GgmlType => ({ name: t.toUpperCase(), ...blockLayout(t), dtype: t });
const GGML_TYPES = new Map<number, GgmlType>([
  [0, { name: 'F32', block: 1, bytes: 4, dtype: 'f32' }], [1, { name: 'F16', block: 1, bytes: 2, dtype: 'f16' }],
  [2, blockType('q4_0')], [3, blockType('q4_1')], [6, blockType('q5_0')], [7, blockType('q5_1')],
  [8, blockType('q8_0')], [9, { name: 'Q8_1', block: 32, bytes: 36 }],
  [10, blockType('q2_k')], [11, blockType('q3_k')], [12, blockType('q4_k')], [13, blockType('q5_k')],
  [14, blockType('q6_k')], [15, { name: 'Q8_K', block: 256, bytes: 292 }],
  [16, { name: 'IQ2_XXS', block: 256, bytes: 66 }], [17, { name: 'IQ2_XS', block: 256, bytes: 74 }],
  [18, { name: 'IQ3_XXS', block: 256, bytes: 98 }], [19, { name: 'IQ1_S', block: 256, bytes: 50 }],
  [20, { name: 'IQ4_NL', block: 32, bytes: 18 }], [21, { name: 'IQ3_S', block: 256, bytes: 110 }],
  [22, { name: 'IQ2_S', block: 256, bytes: 82 }], [23, { name: 'IQ4_XS', block: 256, bytes: 136 }],
  [24, { name: 'I8', block: 1, bytes: 1, dtype: 'i8' }], [25, { name: 'I16', block: 1, bytes: 2, dtype: 'i16' }],
  [26, { name: 'I32', block: 1, bytes: 4, dtype: 'i32' }], [27, { name: 'I64', block: 1, bytes: 8, dtype: 'i64' }],
  [28, { name: 'F64', block: 1, bytes: 8, dtype: 'f64' }], [29, { name: 'IQ1_M', block: 256, bytes: 56 }],
  [30, { name: 'BF16', block: 1, bytes: 2, dtype: 'bf16' }], [34, { name: 'TQ1_0', block: 256, bytes: 54 }],
  [35, { name: 'TQ2_0', block: 256, bytes: 66 }], [39, { name: 'MXFP4', block: 32, bytes: 17 }],
]);
const READABLE = new Set([...GGML_TYPES.values()].filter((t) => t.dtype).map((t) => t.name));

/**
 * rrt's load policy for GGUF block types: Q8_0 and Q4_0 are kept as blocks (for the quantized
 * kernels, through readRaw), every other block type is dequantised to bf16 at load.
 */
export const GGML_KEPT_QUANTIZED: readonly string[] = ['Q8_0', 'Q4_0'];

/** What loading does with a tensor of a ggml type: keeps its blocks, dequantises them to bf16, reads it as stored (float and integer types), or cannot read it. */
export type GgmlLoadForm = 'kept quantized' | 'dequantized to bf16' | 'as stored' | 'not readable';
export function ggmlLoadForm(ggmlType: string): GgmlLoadForm {
  const t = [...GGML_TYPES.values()].find((x) => x.name === ggmlType);
  if (!t?.dtype) return 'not readable';
  if (t.block === 1) return 'as stored';
  return GGML_KEPT_QUANTIZED.includes(t.name) ? 'kept quantized' : 'dequantized to bf16';
}

/** How many tensors of each ggml type a file holds, in ggml type-id order, with what loading does with them. */
export function ggufTypeSummary(file: GgufFile): { type: string; tensors: number; load: GgmlLoadForm }[] {
  const counts = new Map<string, number>();
  for (const n of file.names()) {
    const t = file.info(n).ggmlType;
    counts.set(t, (counts.get(t) ?? 0) + 1);
  }
  return [...GGML_TYPES.values()].filter((t) => counts.has(t.name)).map((t) => ({ type: t.name, tensors: counts.get(t.name)!, load: ggmlLoadForm(t.name) }));
}

const WRITE_TYPE_IDS: Partial<Record<DType, number>> = { f32: 0, f16: 1, q4_0: 2, q8_0: 8, bf16: 30 };
const { block: Q8_0_BLOCK, bytes: Q8_0_BLOCK_BYTES } = blockLayout('q8_0');

// ggml's own limits (gguf.cpp): anything above them is corrupt, and we refuse before allocating.
const MAX_STRING_BYTES = 64 * 1024 * 1024;
const MAX_ARRAY_ELEMENTS = 64 * 1024 * 1024;
const MAX_ALIGNMENT = 1 << 20;
const MAX_DIMS = 4;
const MAX_NAME_BYTES = 63;
const DEFAULT_ALIGNMENT = 32;
const CHUNK = 1 << 20;

export interface GgufTensorInfo extends TensorInfo {
  /** the ggml type name, e.g. 'F16', 'Q4_K'. Types rrt cannot decode are listed with dtype 'u8' (raw blocks); read() throws, readRaw() works. */
  ggmlType: string;
  /** ne order: fastest-varying dimension first */
  ggmlShape: number[];
}

export interface GgufFile extends TensorSource {
  version: number;
  metadata: Map<string, GgufValue>;
  metadataTypes: Map<string, GgufType>;
  alignment: number;
  /** absolute file offset of the data section */
  dataOffset: number;
  info(name: string): GgufTensorInfo;
  ggmlShape(name: string): number[];
  /** the tensor's bytes as the file stores them (ggml blocks for quantized types), a fresh aligned copy */
  readRaw(name: string): Uint8Array;
}

// ---- reading ----

/** Sequential reads through a 1 MiB window; every read is bounded by the bytes left in the file. */
class Cursor {
  pos = 0;
  private buf: Buffer = Buffer.alloc(0);
  private bufStart = 0;
  constructor(private readonly fd: number, readonly size: number, private readonly file: string) {}
  left(): number {
    return this.size - this.pos;
  }
  /** Makes n bytes at pos available; returns their index in this.buf and advances. */
  take(n: number, what: string): number {
    if (n > this.left()) {
      throw new FormatError('truncated', `${what}: needs ${n} bytes at offset ${this.pos}, but the file ends at ${this.size}`, { file: this.file });
    }
    if (this.pos < this.bufStart || this.pos + n > this.bufStart + this.buf.length) {
      const len = Math.min(Math.max(n, CHUNK), this.left());
      const bytes = readExactly(this.fd, this.pos, len, this.file);
      this.buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
      this.bufStart = this.pos;
    }
    const at = this.pos - this.bufStart;
    this.pos += n;
    return at;
  }
  u32(what: string): number {
    return this.buf.readUInt32LE(this.take(4, what));
  }
  u64(what: string): bigint {
    return this.buf.readBigUInt64LE(this.take(8, what));
  }
  str(what: string): string {
    const lenAt = this.take(8, what);
    const len = this.buf.readUInt32LE(lenAt);
    if (this.buf.readUInt32LE(lenAt + 4) !== 0 || len > MAX_STRING_BYTES) {
      throw new FormatError('bad_header', `${what}: string length ${this.buf.readBigUInt64LE(lenAt)} at offset ${this.pos - 8} is over the ${MAX_STRING_BYTES}-byte limit`, { file: this.file });
    }
    const at = this.take(len, what);
    return this.buf.toString('utf8', at, at + len);
  }
  /** count elements of type t; numbers are read a window at a time */
  array(t: GgufType, count: number, what: string): GgufValue[] {
    const arr: GgufValue[] = new Array(count);
    const size = FIXED_BYTES[t];
    if (size === undefined) {
      for (let j = 0; j < count; j++) arr[j] = this.str(what);
      return arr;
    }
    const read = SCALAR_READERS[t as Exclude<GgufType, 'string'>];
    for (let j = 0; j < count;) {
      const n = Math.min(count - j, Math.floor(CHUNK / size));
      const at = this.take(n * size, what);
      for (let k = 0; k < n; k++) arr[j + k] = read(this.buf, at + k * size);
      j += n;
    }
    return arr;
  }
  bytes(n: number, what: string): Buffer {
    const at = this.take(n, what);
    return this.buf.subarray(at, at + n);
  }
  scalar(t: GgufType, what: string): GgufValue {
    if (t === 'string') return this.str(what);
    return SCALAR_READERS[t](this.buf, this.take(FIXED_BYTES[t]!, what));
  }
}

const SCALAR_READERS: Record<Exclude<GgufType, 'string'>, (b: Buffer, at: number) => GgufValue> = {
  u8: (b, at) => b.readUInt8(at), i8: (b, at) => b.readInt8(at), bool: (b, at) => b.readUInt8(at) !== 0,
  u16: (b, at) => b.readUInt16LE(at), i16: (b, at) => b.readInt16LE(at), u32: (b, at) => b.readUInt32LE(at),
  i32: (b, at) => b.readInt32LE(at), f32: (b, at) => b.readFloatLE(at), u64: (b, at) => b.readBigUInt64LE(at),
  i64: (b, at) => b.readBigInt64LE(at), f64: (b, at) => b.readDoubleLE(at),
};

function checkedCount(c: Cursor, n: bigint, minBytes: number, what: string, file: string): number {
  if (n * BigInt(minBytes) > BigInt(c.left())) {
    throw new FormatError('truncated', `header claims ${n} ${what} (at least ${minBytes} bytes each) but only ${c.left()} bytes remain after offset ${c.pos}`, { file });
  }
  return Number(n);
}

class GgufReader extends FileTensorSource implements GgufFile {
  constructor(
    path: string, fd: number, entries: Map<string, FileEntry>,
    readonly version: number, readonly metadata: Map<string, GgufValue>, readonly metadataTypes: Map<string, GgufType>,
    readonly alignment: number, readonly dataOffset: number,
  ) {
    super(path, fd, entries);
  }
  override info(name: string): GgufTensorInfo {
    const i = super.info(name) as GgufTensorInfo;
    return { ...i, ggmlShape: [...i.ggmlShape] };
  }
  ggmlShape(name: string): number[] {
    return this.info(name).ggmlShape;
  }
  override read(name: string): LoadedTensor {
    const i = this.info(name);
    if (!READABLE.has(i.ggmlType)) {
      throw new FormatError('unknown_dtype', `tensor '${name}' is ggml type ${i.ggmlType}; rrt reads ${[...READABLE].join(', ')}`, { file: this.path, tensor: name });
    }
    return super.read(name);
  }
  readRaw(name: string): Uint8Array {
    return this.readBytes(name);
  }
}

export function openGguf(path: string): GgufFile {
  const { fd, size } = openReadOnly(path, 'GGUF file');
  try {
    return parse(fd, size, path);
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

function parse(fd: number, size: number, file: string): GgufReader {
  const err = (code: FormatErrorCode, msg: string, tensor?: string) => new FormatError(code, msg, { file, tensor });
  const c = new Cursor(fd, size, file);
  if (size < 4) throw err('truncated', `file has ${size} bytes; a GGUF file starts with the 4-byte magic 'GGUF'`);
  const magic = c.bytes(4, 'magic');
  if (magic.toString('latin1') !== 'GGUF') {
    throw err('bad_magic', `starts with bytes ${magic.toString('hex')} ('${magic.toString('latin1').replace(/[^\x20-\x7e]/g, '?')}'), expected 'GGUF'`);
  }
  const version = c.u32('version');
  if (version !== 2 && version !== 3) {
    const swapped = (version & 0xffff) === 0 && version !== 0 ? ' (byte-swapped: a big-endian file? rrt reads little-endian GGUF)' : '';
    throw err('bad_version', `GGUF version ${version}${swapped}; rrt reads versions 2–3`);
  }
  const nTensors = checkedCount(c, c.u64('tensor count'), 24, 'tensors', file);
  const nKv = checkedCount(c, c.u64('key/value count'), 13, 'key/value pairs', file);

  const metadata = new Map<string, GgufValue>();
  const metadataTypes = new Map<string, GgufType>();
  for (let i = 0; i < nKv; i++) {
    const key = c.str(`key ${i}`);
    if (metadata.has(key)) throw err('bad_header', `key '${key}' appears twice`);
    const typeId = c.u32(`type of '${key}'`);
    if (typeId === ARRAY_ID) {
      const elemId = c.u32(`element type of '${key}'`);
      const t = VALUE_TYPES.get(elemId);
      if (!t) throw err('bad_header', `key '${key}' is an array of value type ${elemId}; ${elemId === ARRAY_ID ? 'nested arrays are not supported' : 'GGUF defines types 0–12'}`);
      const n = c.u64(`length of '${key}'`);
      if (n > BigInt(MAX_ARRAY_ELEMENTS)) throw err('bad_header', `key '${key}' is an array of ${n} elements, over the ${MAX_ARRAY_ELEMENTS} limit`);
      const count = checkedCount(c, n, FIXED_BYTES[t] ?? 8, `elements in '${key}'`, file);
      metadata.set(key, c.array(t, count, `elements of '${key}'`));
      metadataTypes.set(key, t);
    } else {
      const t = VALUE_TYPES.get(typeId);
      if (!t) throw err('bad_header', `key '${key}' has value type ${typeId}; GGUF defines types 0–12`);
      metadata.set(key, c.scalar(t, `value of '${key}'`));
      metadataTypes.set(key, t);
    }
  }

  let alignment = DEFAULT_ALIGNMENT;
  if (metadata.has('general.alignment')) {
    const a = metadata.get('general.alignment');
    if (metadataTypes.get('general.alignment') !== 'u32' || typeof a !== 'number') throw err('bad_header', `general.alignment must be a u32, found ${metadataTypes.get('general.alignment')}${Array.isArray(a) ? ' array' : ''}`);
    if (a === 0 || (a & (a - 1)) !== 0 || a > MAX_ALIGNMENT) throw err('bad_header', `general.alignment is ${a}; it must be a power of two up to ${MAX_ALIGNMENT}`);
    alignment = a;
  }

  interface Raw { name: string; ne: number[]; type: GgmlType; offset: number; nbytes: number }
  const raws: Raw[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < nTensors; i++) {
    const name = c.str(`tensor ${i} name`);
    if (seen.has(name)) throw err('bad_header', `tensor name '${name}' appears twice`, name);
    seen.add(name);
    const nDims = c.u32(`tensor '${name}' n_dims`);
    if (nDims > MAX_DIMS) throw err('bad_header', `tensor '${name}' has ${nDims} dimensions; ggml allows at most ${MAX_DIMS}`, name);
    const ne: number[] = [];
    for (let d = 0; d < nDims; d++) {
      const v = c.u64(`tensor '${name}' ne[${d}]`);
      if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw err('bad_header', `tensor '${name}' ne[${d}] = ${v} is not a plausible size`, name);
      ne.push(Number(v));
    }
    const numel = shapeNumel(ne);
    if (numel < 0) throw err('bad_header', `tensor '${name}' shape ${JSON.stringify(ne)} has more than 2^53 elements`, name);
    const typeId = c.u32(`tensor '${name}' type`);
    const type = GGML_TYPES.get(typeId);
    if (!type) throw err('unknown_dtype', `tensor '${name}' has ggml type id ${typeId}, which rrt does not know (known: ${[...GGML_TYPES.values()].map((t) => t.name).join(', ')})`, name);
    if ((ne[0] ?? 1) % type.block !== 0) {
      throw err('shape_size_mismatch', `tensor '${name}' (${type.name}) has rows of ${ne[0]} values, not a multiple of its block size ${type.block}`, name);
    }
    const off = c.u64(`tensor '${name}' offset`);
    if (off > BigInt(Number.MAX_SAFE_INTEGER)) throw err('offset_out_of_range', `tensor '${name}' offset ${off} is past any plausible file size`, name);
    const offset = Number(off);
    if (offset % alignment !== 0) throw err('offset_out_of_range', `tensor '${name}' offset ${offset} is not a multiple of the alignment ${alignment}`, name);
    raws.push({ name, ne, type, offset, nbytes: (numel / type.block) * type.bytes });
  }

  const dataOffset = Math.ceil(c.pos / alignment) * alignment;
  const entries = new Map<string, FileEntry>();
  for (const r of raws) {
    const end = dataOffset + r.offset + r.nbytes;
    if (end > size) {
      throw err('offset_out_of_range', `tensor '${r.name}' data [${dataOffset + r.offset}, ${end}) lies past the end of the file (${size} bytes); is it truncated?`, r.name);
    }
    const info: GgufTensorInfo = { name: r.name, dtype: r.type.dtype ?? 'u8', shape: [...r.ne].reverse(), byteLength: r.nbytes, ggmlType: r.type.name, ggmlShape: r.ne };
    entries.set(r.name, { info, offset: dataOffset + r.offset });
  }
  const spans = [...raws].filter((r) => r.nbytes > 0).sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < spans.length; i++) {
    const p = spans[i - 1], s = spans[i];
    if (s.offset < p.offset + p.nbytes) {
      throw err('overlapping_tensors', `tensors '${p.name}' [${p.offset}, ${p.offset + p.nbytes}) and '${s.name}' [${s.offset}, ${s.offset + s.nbytes}) overlap`, s.name);
    }
  }
  return new GgufReader(file, fd, entries, version, metadata, metadataTypes, alignment, dataOffset);
}

/** A file's metadata as writeGguf input, types kept, so a file can be rewritten faithfully. */
export function ggufMetadataEntries(file: GgufFile): [string, GgufValue, GgufType][] {
  return [...file.metadata].map(([k, v]) => [k, v, file.metadataTypes.get(k)!]);
}

// ---- writing ----

export interface GgufTensorToWrite {
  name: string;
  dtype: 'f32' | 'f16' | 'bf16' | 'q8_0' | 'q4_0';
  /** row-major (HF order) */
  shape: number[];
  /**
   * f32: Float32Array; f16/bf16: Uint16Array bits or Float32Array; q8_0/q4_0: Float32Array
   * (quantised here with llama.cpp's reference rounding) or a Uint8Array of GGUF blocks as they are
   */
  data: Float32Array | Uint16Array | Uint8Array;
}

/** Growable little-endian byte buffer for the header. */
class Bytes {
  private buf = Buffer.alloc(1 << 16);
  length = 0;
  /** Reserves n bytes and returns the buffer to write them into (it may have been reallocated) and where. */
  private room(n: number): [Buffer, number] {
    if (this.length + n > this.buf.length) {
      const next = Buffer.alloc(Math.max(this.buf.length * 2, this.length + n));
      this.buf.copy(next, 0, 0, this.length);
      this.buf = next;
    }
    const at = this.length;
    this.length += n;
    return [this.buf, at];
  }
  u32(v: number): void {
    const [b, at] = this.room(4);
    b.writeUInt32LE(v, at);
  }
  u64(v: bigint | number): void {
    const [b, at] = this.room(8);
    b.writeBigUInt64LE(BigInt(v), at);
  }
  str(s: string): void {
    const n = Buffer.byteLength(s);
    this.u64(n);
    const [b, at] = this.room(n);
    b.write(s, at, 'utf8');
  }
  scalar(t: GgufType, v: GgufValue): void {
    if (t === 'string') return this.str(v as string);
    const [b, at] = this.room(FIXED_BYTES[t]!);
    switch (t) {
      case 'u8': b.writeUInt8(v as number, at); break;
      case 'i8': b.writeInt8(v as number, at); break;
      case 'bool': b.writeUInt8(v ? 1 : 0, at); break;
      case 'u16': b.writeUInt16LE(v as number, at); break;
      case 'i16': b.writeInt16LE(v as number, at); break;
      case 'u32': b.writeUInt32LE(v as number, at); break;
      case 'i32': b.writeInt32LE(v as number, at); break;
      case 'f32': b.writeFloatLE(v as number, at); break;
      case 'u64': b.writeBigUInt64LE(BigInt(v as number | bigint), at); break;
      case 'i64': b.writeBigInt64LE(BigInt(v as number | bigint), at); break;
      case 'f64': b.writeDoubleLE(v as number, at); break;
    }
  }
  pad(alignment: number): void {
    this.room((alignment - (this.length % alignment)) % alignment);
  }
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

const INT_RANGE: Partial<Record<GgufType, [number, number]>> = {
  u8: [0, 255], i8: [-128, 127], u16: [0, 65535], i16: [-32768, 32767], u32: [0, 0xffffffff], i32: [-(2 ** 31), 2 ** 31 - 1],
};

function inferType(v: GgufValue, key: string): GgufType {
  if (typeof v === 'string') return 'string';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'bigint') return v < 0n ? 'i64' : 'u64';
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) return 'f32';
    if (v >= 0) return v <= 0xffffffff ? 'u32' : 'u64';
    return v >= -(2 ** 31) ? 'i32' : 'i64';
  }
  if (Array.isArray(v)) {
    if (v.length === 0) return 'i32';
    if (v.every((x) => typeof x === 'string')) return 'string';
    if (v.every((x) => typeof x === 'boolean')) return 'bool';
    if (v.every((x) => typeof x === 'bigint')) return 'i64';
    if (v.every((x) => typeof x === 'number')) {
      if (!v.every((x) => Number.isInteger(x))) return 'f32';
      return v.every((x) => (x as number) >= -(2 ** 31) && (x as number) < 2 ** 31) ? 'i32' : 'i64';
    }
  }
  throw new TypeError(`[writeGguf] metadata '${key}': cannot infer a GGUF type for ${JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? `${x}n` : x))}; give one explicitly`);
}

function checkValue(t: GgufType, v: GgufValue, key: string): void {
  const bad = (why: string) => new TypeError(`[writeGguf] metadata '${key}': ${why}`);
  switch (t) {
    case 'string': if (typeof v !== 'string') throw bad(`type string needs a string, got ${typeof v}`); return;
    case 'bool': if (typeof v !== 'boolean') throw bad(`type bool needs a boolean, got ${typeof v}`); return;
    case 'f32': case 'f64': if (typeof v !== 'number') throw bad(`type ${t} needs a number, got ${typeof v}`); return;
    case 'u64': case 'i64': {
      if (typeof v !== 'bigint' && !Number.isSafeInteger(v)) throw bad(`type ${t} needs a bigint or safe integer, got ${String(v)}`);
      const b = BigInt(v as number | bigint);
      if (t === 'u64' ? b < 0n || b >= 2n ** 64n : b < -(2n ** 63n) || b >= 2n ** 63n) throw bad(`${b} is out of range for ${t}`);
      return;
    }
    default: {
      const [lo, hi] = INT_RANGE[t]!;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) throw bad(`${String(v)} is not a ${t} (integer in [${lo}, ${hi}])`);
    }
  }
}

/** ggml quantize_row_q8_0_ref, in f32 arithmetic step by step, so the blocks match llama.cpp's bit for bit. */
export function quantizeQ8_0(x: Float32Array): Uint8Array {
  if (x.length % Q8_0_BLOCK !== 0) throw new RangeError(`[quantizeQ8_0] ${x.length} values is not a whole number of ${Q8_0_BLOCK}-value blocks`);
  const nb = x.length / Q8_0_BLOCK;
  const out = new Uint8Array(nb * Q8_0_BLOCK_BYTES);
  const q = new Int8Array(out.buffer);
  for (let b = 0; b < nb; b++) {
    let amax = 0;
    for (let i = 0; i < Q8_0_BLOCK; i++) amax = Math.max(amax, Math.abs(x[b * Q8_0_BLOCK + i]));
    const d = Math.fround(amax / 127);
    const id = d ? Math.fround(1 / d) : 0;
    const h = f32ToF16(d);
    const o = b * Q8_0_BLOCK_BYTES;
    out[o] = h & 0xff;
    out[o + 1] = h >> 8;
    for (let i = 0; i < Q8_0_BLOCK; i++) {
      const v = Math.fround(x[b * Q8_0_BLOCK + i] * id);
      q[o + 2 + i] = Math.sign(v) * Math.round(Math.abs(v)); // roundf: halves away from zero
    }
  }
  return out;
}

/** llama.cpp's quantize_row_q4_0_ref (rrt's reference block quantizer, the same rounding). */
function quantizeQ4_0(x: Float32Array): Uint8Array {
  const out = new Uint8Array((x.length / 32) * 18);
  for (let b = 0; b < x.length / 32; b++) quantizeBlock(out, b * 18, x, b * 32, QTYPE.q4_0);
  return out;
}

function encodeTensor(t: GgufTensorToWrite): Uint8Array {
  const who = `[writeGguf] tensor '${t.name}'`;
  if (t.dtype === 'q8_0' || t.dtype === 'q4_0') {
    if (t.data instanceof Uint8Array) return t.data;
    if (!(t.data instanceof Float32Array)) throw new TypeError(`${who}: ${t.dtype} takes a Float32Array to quantise or a Uint8Array of blocks, got ${(t.data as object)?.constructor?.name}`);
    return t.dtype === 'q8_0' ? quantizeQ8_0(t.data) : quantizeQ4_0(t.data);
  }
  return encodeData(t.dtype, t.data as TensorData, who);
}

/**
 * Writes a GGUF v3 file atomically (temp name, fsync, rename). Metadata types are inferred
 * unless given (integers → u32/i32, fractions → f32, integer arrays → i32); the alignment is
 * general.alignment when present (a u32 power of two), else 32.
 */
export function writeGguf(
  path: string,
  metadata: [string, GgufValue, GgufType?][] | Map<string, GgufValue>,
  tensors: GgufTensorToWrite[],
): void {
  const kvs: [string, GgufValue, GgufType][] = [];
  const keys = new Set<string>();
  for (const [k, v, given] of metadata instanceof Map ? [...metadata].map(([k, v]) => [k, v, undefined] as const) : metadata) {
    if (typeof k !== 'string' || k === '') throw new TypeError(`[writeGguf] metadata key ${JSON.stringify(k)} must be a non-empty string`);
    if (keys.has(k)) throw new RangeError(`[writeGguf] metadata key '${k}' given twice`);
    keys.add(k);
    const t = given ?? inferType(v, k);
    if (VALUE_TYPE_IDS[t] === undefined) throw new TypeError(`[writeGguf] metadata '${k}': unknown GGUF type '${t}'`);
    if (Array.isArray(v)) {
      for (const x of v) {
        if (Array.isArray(x)) throw new TypeError(`[writeGguf] metadata '${k}': nested arrays are not supported`);
        checkValue(t, x, k);
      }
    } else checkValue(t, v, k);
    kvs.push([k, v, t]);
  }
  const alignKv = kvs.find(([k]) => k === 'general.alignment');
  const alignment = alignKv ? (alignKv[1] as number) : DEFAULT_ALIGNMENT;
  if (alignKv && (alignKv[2] !== 'u32' || alignment === 0 || (alignment & (alignment - 1)) !== 0 || alignment > MAX_ALIGNMENT)) {
    throw new RangeError(`[writeGguf] general.alignment must be a u32 power of two up to ${MAX_ALIGNMENT}, got ${String(alignKv[1])} (${alignKv[2]})`);
  }

  const names = new Set<string>();
  const plan: { t: GgufTensorToWrite; ne: number[]; offset: number; nbytes: number }[] = [];
  let at = 0;
  for (const t of tensors) {
    const who = `[writeGguf] tensor '${t.name}'`;
    if (typeof t.name !== 'string' || t.name === '' || Buffer.byteLength(t.name) > MAX_NAME_BYTES) throw new TypeError(`${who}: names must be 1–${MAX_NAME_BYTES} bytes (ggml's limit)`);
    if (names.has(t.name)) throw new RangeError(`${who} given twice`);
    names.add(t.name);
    if (WRITE_TYPE_IDS[t.dtype] === undefined) throw new TypeError(`${who}: dtype '${t.dtype}'; writeGguf writes f32, f16, bf16, q8_0, q4_0`);
    const numel = shapeNumel(t.shape);
    if (!Array.isArray(t.shape) || t.shape.length < 1 || t.shape.length > MAX_DIMS || numel < 0) {
      throw new RangeError(`${who}: shape ${JSON.stringify(t.shape)} must list 1–${MAX_DIMS} non-negative integers`);
    }
    const blocks = (t.dtype === 'q8_0' || t.dtype === 'q4_0') && t.data instanceof Uint8Array;
    const ne = [...t.shape].reverse();
    if ((t.dtype === 'q8_0' || t.dtype === 'q4_0') && ne[0] % Q8_0_BLOCK !== 0) throw new RangeError(`${who}: ${t.dtype} rows must be a multiple of ${Q8_0_BLOCK} values, got ${ne[0]}`);
    const nbytes = dtypeByteLength(t.dtype, numel);
    if (blocks ? t.data.length !== nbytes : t.data.length !== numel)
      throw new RangeError(`${who} has ${t.data.length} ${blocks ? 'bytes of blocks' : 'values'}, expected ${JSON.stringify(t.shape)} = ${blocks ? `${nbytes} bytes` : numel}`);
    plan.push({ t, ne, offset: at, nbytes });
    at += Math.ceil(nbytes / alignment) * alignment;
  }

  const h = new Bytes();
  h.u32(0x46554747); // 'GGUF'
  h.u32(3);
  h.u64(plan.length);
  h.u64(kvs.length);
  for (const [k, v, t] of kvs) {
    h.str(k);
    if (Array.isArray(v)) {
      h.u32(ARRAY_ID);
      h.u32(VALUE_TYPE_IDS[t]);
      h.u64(v.length);
      for (const x of v) h.scalar(t, x);
    } else {
      h.u32(VALUE_TYPE_IDS[t]);
      h.scalar(t, v);
    }
  }
  for (const p of plan) {
    h.str(p.t.name);
    h.u32(p.ne.length);
    for (const d of p.ne) h.u64(d);
    h.u32(WRITE_TYPE_IDS[p.t.dtype]!);
    h.u64(p.offset);
  }
  h.pad(alignment);
  const dataStart = h.length;

  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    writeFully(fd, h.bytes(), 0);
    for (const p of plan) writeFully(fd, encodeTensor(p.t), dataStart + p.offset);
    ftruncateSync(fd, dataStart + at); // ggml pads every tensor, the last one included, to the alignment
    fsyncSync(fd);
    closeSync(fd);
  } catch (e) {
    closeSync(fd);
    unlinkSync(tmp);
    throw e;
  }
  renameSync(tmp, path);
}

// ---- GGUF → HF (gguf-hf.ts; the architectures in gguf-archs.ts) ----

export { ggufToHf } from './gguf-hf.js';
