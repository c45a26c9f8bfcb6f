// The one interface every checkpoint reader (safetensors, GGUF, llama2.c) exposes, plus
// the dtype helpers they share. Contract: names are HF names, shapes are row-major; read()
// touches only that tensor's byte range and returns a fresh, aligned copy (f16/bf16 as
// Uint16Array bit patterns, ggml block types dequantised to f32); readF32() widens exactly;
// bad files throw FormatError naming the file, the tensor and the numbers.
import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { FormatError, RrtError } from '../errors.js';
// ggml-quants imports the f16 helpers below; the two modules use each other only inside
// functions, never while loading, so either may be imported first.
import { type GgmlBlockType, blockByteLength, blockLayout, dequantize, isGgmlBlockType } from './ggml-quants.js';

export type DType = 'f32' | 'f16' | 'bf16' | 'i32' | 'i64' | 'u8' | 'i8' | 'f64' | 'i16' | 'u16' | 'bool' | GgmlBlockType;
export interface TensorInfo {
  name: string;
  dtype: DType;
  /** row-major, HF order */
  shape: number[];
  /** bytes the tensor occupies in the file */
  byteLength: number;
}
export type TensorData = Float32Array | Uint16Array | Int32Array | BigInt64Array | Uint8Array | Int8Array | Float64Array | Int16Array;
/** f16/bf16 data are Uint16Array bit patterns; ggml block types (q8_0, q4_k, …) come back dequantised, as dtype 'f32'. */
export interface LoadedTensor { dtype: DType; shape: number[]; data: TensorData }
export interface TensorSource {
  readonly path: string;
  names(): string[];
  /** FormatError('missing_tensor') if absent */
  info(name: string): TensorInfo;
  /** reads only that tensor's byte range into a fresh buffer */
  read(name: string): LoadedTensor;
  /** a widened / dequantised f32 copy */
  readF32(name: string): Float32Array;
  /**
   * The tensor's bytes exactly as the file stores them (a fresh, aligned copy), for callers that
   * keep ggml blocks quantized; info(name).dtype says how to interpret them. Where offered.
   */
  readRaw?(name: string): Uint8Array;
  close(): void;
}

const SIZES: Record<Exclude<DType, GgmlBlockType>, number> = {
  f32: 4, f16: 2, bf16: 2, i32: 4, i64: 8, u8: 1, i8: 1, f64: 8, i16: 2, u16: 2, bool: 1,
};

/** Bytes per element; for a ggml block type the average, e.g. 34/32 for q8_0 (use dtypeByteLength for exact sizes). */
export function dtypeSize(d: DType): number {
  if (isGgmlBlockType(d)) {
    const { block, bytes } = blockLayout(d);
    return bytes / block;
  }
  return SIZES[d];
}

/** Exact bytes for n elements of d; a ggml block type needs n to be a whole number of blocks (RangeError otherwise). */
export function dtypeByteLength(d: DType, n: number): number {
  return isGgmlBlockType(d) ? blockByteLength(d, n) : n * SIZES[d];
}

const ARRAY_TYPES: Record<DType, abstract new (...args: never[]) => TensorData> = {
  f32: Float32Array, f16: Uint16Array, bf16: Uint16Array, u16: Uint16Array, i32: Int32Array,
  i64: BigInt64Array, u8: Uint8Array, bool: Uint8Array, i8: Int8Array, f64: Float64Array, i16: Int16Array,
  // block types are held dequantised
  q4_0: Float32Array, q4_1: Float32Array, q5_0: Float32Array, q5_1: Float32Array, q8_0: Float32Array,
  q2_k: Float32Array, q3_k: Float32Array, q4_k: Float32Array, q5_k: Float32Array, q6_k: Float32Array,
};

/** The typed array that holds dtype d in memory (ggml block types are held dequantised, as f32). */
export function arrayTypeFor(d: DType): string {
  return ARRAY_TYPES[d].name;
}

/** Whether `data` is the typed array that holds dtype d. */
export function dataMatches(d: DType, data: unknown): data is TensorData {
  return data instanceof ARRAY_TYPES[d];
}

/** Number of elements of a shape; -1 when it is not a list of non-negative safe integers or the product overflows. */
export function shapeNumel(shape: readonly unknown[]): number {
  let n = 1;
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) return -1;
    n *= d;
    if (!Number.isSafeInteger(n)) return -1;
  }
  return n;
}

// ---- f16 / bf16 scalar conversions (exact decode, round-to-nearest-even encode) ----

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) return mant ? NaN : sign * Infinity;
  return sign * (1024 + mant) * 2 ** (exp - 25);
}

export function f32ToF16(x: number): number {
  f32Scratch[0] = x;
  const b = u32Scratch[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 112; // rebias 127 → 15
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // below half the smallest subnormal
    const m = mant | 0x800000;
    const shift = 14 - e;
    let h = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++; // a carry into the exponent is still correct (up to inf)
  return sign | h;
}

export function bf16ToF32(h: number): number {
  u32Scratch[0] = (h & 0xffff) << 16;
  return f32Scratch[0];
}

export function f32ToBf16(x: number): number {
  f32Scratch[0] = x;
  const b = u32Scratch[0];
  if ((b & 0x7fffffff) > 0x7f800000) return ((b >>> 16) | 0x40) & 0xffff; // keep NaN a (quiet) NaN
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

let f16Table: Float32Array | null = null;
function f16Lookup(): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16ToF32(h);
  }
  return f16Table;
}

export function f16ArrayToF32(src: Uint16Array): Float32Array {
  const t = f16Lookup();
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = t[src[i]];
  return out;
}

export function bf16ArrayToF32(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < src.length; i++) bits[i] = src[i] << 16;
  return out;
}

export function f32ArrayToF16(src: Float32Array): Uint16Array {
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = f32ToF16(src[i]);
  return out;
}

export function f32ArrayToBf16(src: Float32Array): Uint16Array {
  const out = new Uint16Array(src.length);
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < src.length; i++) {
    const b = bits[i];
    out[i] = (b & 0x7fffffff) > 0x7f800000 ? (b >>> 16) | 0x40 : (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
  }
  return out;
}

/** An f32 copy of a loaded tensor (the array itself when it is already a fresh f32 read). */
export function toF32(t: LoadedTensor): Float32Array {
  const d = t.data;
  if (isGgmlBlockType(t.dtype)) return d as Float32Array;
  switch (t.dtype) {
    case 'f32': return d as Float32Array;
    case 'f16': return f16ArrayToF32(d as Uint16Array);
    case 'bf16': return bf16ArrayToF32(d as Uint16Array);
    case 'i64': {
      const src = d as BigInt64Array;
      const out = new Float32Array(src.length);
      for (let i = 0; i < src.length; i++) out[i] = Number(src[i]);
      return out;
    }
    default: return Float32Array.from(d as Exclude<TensorData, BigInt64Array>);
  }
}

/**
 * Meta's interleaved rotary row order → HF's rotate-half order, per head: row h·hd + 2i + j moves
 * to h·hd + j·hd/2 + i. This is transformers' convert_llama_weights_to_hf.py permute(), and the
 * inverse of llama.cpp's HF→GGUF permute. `w` is [rows, cols] row-major.
 */
export function interleavedToHalfSplit<T extends TensorData>(w: T, rows: number, cols: number, nHeads: number): T {
  const hd = rows / nHeads;
  if (!Number.isInteger(hd) || hd % 2 !== 0 || w.length !== rows * cols) {
    throw new RangeError(`cannot un-interleave ${rows}×${cols} rows (${w.length} values) over ${nHeads} heads: head size must be an even integer`);
  }
  const out = new (w.constructor as new (n: number) => T)(w.length);
  const half = hd / 2;
  for (let h = 0; h < nHeads; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const src = (h * hd + 2 * i + j) * cols;
        const dst = (h * hd + j * half + i) * cols;
        (out as Float32Array).set((w as Float32Array).subarray(src, src + cols), dst);
      }
    }
  }
  return out;
}

// ---- file access shared by the readers and writers ----

/** Opens a regular file read-only; a missing path or a directory is FormatError('not_found'). */
export function openReadOnly(path: string, what: string): { fd: number; size: number } {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new FormatError('not_found', `cannot open ${what}: ${(e as Error).message}`, { file: path });
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new FormatError('not_found', `${what} is not a regular file`, { file: path });
    return { fd, size: st.size };
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/** Reads exactly `length` bytes at `position` into a fresh (hence aligned) ArrayBuffer. */
export function readExactly(fd: number, position: number, length: number, file: string, tensor?: string): Uint8Array {
  const out = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, out, done, Math.min(length - done, 1 << 30), position + done);
    if (n === 0) {
      const what = tensor ? `tensor '${tensor}'` : 'header';
      throw new FormatError('truncated', `${what}: wanted ${length} bytes at offset ${position}, the file ended after ${done}`, { file, tensor });
    }
    done += n;
  }
  return out;
}

/** A typed view of dtype d over a fresh byte copy (f16/bf16/u16 → Uint16Array, bool → Uint8Array, ggml blocks → dequantised f32). */
export function viewAs(d: DType, bytes: Uint8Array): TensorData {
  if (isGgmlBlockType(d)) {
    const { block, bytes: blockBytes } = blockLayout(d);
    if (bytes.length % blockBytes !== 0) throw new RangeError(`${d}: ${bytes.length} bytes is not a whole number of ${blockBytes}-byte blocks`);
    return dequantize(d, bytes, (bytes.length / blockBytes) * block);
  }
  const { buffer, byteOffset, byteLength } = bytes;
  switch (d) {
    case 'f32': return new Float32Array(buffer, byteOffset, byteLength / 4);
    case 'f16': case 'bf16': case 'u16': return new Uint16Array(buffer, byteOffset, byteLength / 2);
    case 'i32': return new Int32Array(buffer, byteOffset, byteLength / 4);
    case 'i64': return new BigInt64Array(buffer, byteOffset, byteLength / 8);
    case 'u8': case 'bool': return bytes;
    case 'i8': return new Int8Array(buffer, byteOffset, byteLength);
    case 'f64': return new Float64Array(buffer, byteOffset, byteLength / 8);
    case 'i16': return new Int16Array(buffer, byteOffset, byteLength / 2);
  }
}

/** One tensor of a file-backed source: where its bytes are, and how to turn them into a tensor. */
export interface FileEntry {
  info: TensorInfo;
  /** absolute file offset of the first byte */
  offset: number;
  /** defaults to viewAs(info.dtype) with info.shape */
  decode?: (bytes: Uint8Array) => LoadedTensor;
}

/** A TensorSource over one open file descriptor and a validated table of byte ranges. */
export class FileTensorSource implements TensorSource {
  private fd: number | null;
  constructor(readonly path: string, fd: number, private readonly entries: Map<string, FileEntry>) {
    this.fd = fd;
  }
  names(): string[] {
    return [...this.entries.keys()];
  }
  has(name: string): boolean {
    return this.entries.has(name);
  }
  info(name: string): TensorInfo {
    const { info } = this.entry(name);
    return { ...info, shape: [...info.shape] };
  }
  read(name: string): LoadedTensor {
    const e = this.entry(name);
    const bytes = this.readBytes(name);
    if (e.decode) return e.decode(bytes);
    const { dtype, shape } = e.info;
    if (isGgmlBlockType(dtype)) return { dtype: 'f32', shape: [...shape], data: this.dequantizeEntry(e, bytes) };
    return { dtype, shape: [...shape], data: viewAs(dtype, bytes) };
  }
  /** The tensor's bytes exactly as stored, in a fresh (hence aligned) buffer. */
  protected readBytes(name: string): Uint8Array {
    const e = this.entry(name);
    if (this.fd === null) throw new RrtError('closed', `${this.path}: read('${name}') after close()`);
    return readExactly(this.fd, e.offset, e.info.byteLength, this.path, name);
  }
  /** Blocks → f32; a byte range that does not hold exactly the shape's blocks is a bad file, not a crash. */
  private dequantizeEntry(e: FileEntry, bytes: Uint8Array): Float32Array {
    const { name, dtype, shape } = e.info;
    try {
      return dequantize(dtype, bytes, shapeNumel(shape));
    } catch (err) {
      if (!(err instanceof RangeError)) throw err;
      throw new FormatError('shape_size_mismatch', `tensor '${name}' (${dtype}, shape ${JSON.stringify(shape)}): ${err.message}`, { file: this.path, tensor: name });
    }
  }
  readF32(name: string): Float32Array {
    return toF32(this.read(name));
  }
  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
  private entry(name: string): FileEntry {
    const e = this.entries.get(name);
    if (!e) throw new FormatError('missing_tensor', `no tensor named '${name}' (${this.entries.size} tensors in the file)`, { file: this.path, tensor: name });
    return e;
  }
}

/** The little-endian bytes of `data` as dtype d (a view, no copy, unless f32 → f16/bf16 rounding is needed). */
export function encodeData(d: DType, data: TensorData, who: string): Uint8Array {
  let arr = data;
  if ((d === 'f16' || d === 'bf16') && data instanceof Float32Array) arr = d === 'f16' ? f32ArrayToF16(data) : f32ArrayToBf16(data);
  if (!dataMatches(d, arr)) {
    throw new TypeError(`${who}: dtype ${d} needs a ${arrayTypeFor(d)}${d === 'f16' || d === 'bf16' ? ' (or Float32Array)' : ''}, got ${(data as object)?.constructor?.name ?? typeof data}`);
  }
  return new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength);
}

export function writeFully(fd: number, bytes: Uint8Array, position: number): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, Math.min(bytes.length - done, 1 << 30), position + done);
}
