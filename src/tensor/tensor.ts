// Tensor: a shape, a dtype and a typed array over native (off-heap) memory.
// Storage is a plain typed array, so kernels read it without copies; bf16 and
// f16 travel as Uint16Array bit patterns; q8_0 and q4_0 matrices as the bytes of
// the packed block layout (native/quant/quant.h). Gradients are always f32.
import { ShapeError } from '../errors.js';
import type { Node } from './autograd.js';
import { QTYPE, packedBytes } from './ref/quant.js';

export type QuantDType = 'q8_0' | 'q4_0';
export type DType = 'f32' | 'bf16' | 'f16' | 'i32' | QuantDType;
export type Storage = Float32Array | Uint16Array | Int32Array | Uint8Array;

export function isQuantized(d: DType): d is QuantDType {
  return d === 'q8_0' || d === 'q4_0';
}

/** GGUF's type id of a quantized dtype, the `qtype` the kernels take. */
export function qtypeOf(d: QuantDType): number {
  return QTYPE[d];
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new ShapeError(`bad dimension ${d} in shape [${shape.join(', ')}]`);
    n *= d;
  }
  return n;
}

/** Elements of storage a tensor of this dtype and shape holds (bytes of the packed layout for quantized ones). */
export function storageLength(dtype: DType, shape: readonly number[]): number {
  const n = numel(shape);
  if (!isQuantized(dtype)) return n;
  if (shape.length !== 2 || shape[1] % 32 !== 0) throw new ShapeError(`${dtype} holds matrices whose rows are whole blocks of 32 values; got shape [${shape.join(', ')}]`);
  return packedBytes(qtypeOf(dtype), shape[0], shape[1]);
}

function storageFor(dtype: DType, shape: readonly number[]): Storage {
  const n = storageLength(dtype, shape);
  return dtype === 'f32' ? new Float32Array(n) : dtype === 'i32' ? new Int32Array(n) : isQuantized(dtype) ? new Uint8Array(n) : new Uint16Array(n);
}

function dtypeOf(data: Storage, hint?: DType): DType {
  if (data instanceof Float32Array) return 'f32';
  if (data instanceof Int32Array) return 'i32';
  if (data instanceof Uint8Array) {
    if (hint && isQuantized(hint)) return hint;
    throw new ShapeError('a Uint8Array tensor needs a quantized dtype (q8_0 or q4_0)');
  }
  if (hint === 'bf16' || hint === 'f16') return hint;
  throw new ShapeError('a Uint16Array tensor needs an explicit dtype (bf16 or f16)');
}

export class Tensor {
  readonly data: Storage;
  readonly shape: readonly number[];
  readonly dtype: DType;
  /** Leaf parameters set this; ops propagate it to their outputs while grad mode is on. */
  requiresGrad = false;
  /** Accumulated gradient of a leaf (f32, same size). */
  grad: Float32Array | null = null;
  /** The op that produced this tensor, for backward. */
  node: Node | null = null;
  name?: string;

  constructor(data: Storage, shape: readonly number[], dtype?: DType) {
    this.dtype = dtypeOf(data, dtype);
    this.shape = [...shape];
    const n = storageLength(this.dtype, shape);
    if (data.length !== n) throw new ShapeError(`data has ${data.length} ${isQuantized(this.dtype) ? 'bytes' : 'elements'}, ${this.dtype} shape [${shape.join(', ')}] needs ${n}`);
    this.data = data;
  }

  static zeros(shape: readonly number[], dtype: DType = 'f32'): Tensor {
    return new Tensor(storageFor(dtype, shape), shape, dtype);
  }

  /** A trainable leaf. */
  static param(data: Float32Array, shape: readonly number[], name?: string): Tensor {
    const t = new Tensor(data, shape);
    t.requiresGrad = true;
    t.name = name;
    return t;
  }

  /** Number of values (for quantized tensors, not their bytes). */
  get size(): number {
    return isQuantized(this.dtype) ? numel(this.shape) : this.data.length;
  }

  /** The f32 storage; throws for other dtypes. */
  get f32(): Float32Array {
    if (!(this.data instanceof Float32Array)) throw new ShapeError(`expected an f32 tensor, got ${this.dtype}`);
    return this.data;
  }

  /** Same storage under another shape (no copy; leaves only: use ops.reshape inside graphs). */
  view(shape: readonly number[]): Tensor {
    const t = new Tensor(this.data, shape, this.dtype);
    t.requiresGrad = this.requiresGrad;
    t.grad = this.grad;
    return t;
  }

  toString(): string {
    return `Tensor(${this.dtype}, [${this.shape.join(', ')}])`;
  }
}
