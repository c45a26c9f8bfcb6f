// Quantized matrices as tensors: f32/bf16 → q8_0/q4_0 (llama.cpp's reference rounding), back to
// f32, and GGUF's block bytes ↔ the packed layout the kernels read. The packing happens once, when
// a weight is made; the kernels never repack.
import { ShapeError } from '../errors.js';
import { kernels } from './kernels.js';
import { ggmlBlockBytes } from './ref/quant.js';
import { type QuantDType, Tensor, isQuantized, qtypeOf } from './tensor.js';

export const QUANT_DTYPES: readonly QuantDType[] = ['q8_0', 'q4_0'];

function matrixShape(t: Tensor | readonly number[], what: string): [number, number] {
  const shape = t instanceof Tensor ? t.shape : t;
  if (shape.length !== 2) throw new ShapeError(`${what}: quantized tensors are matrices, got shape [${shape.join(', ')}]`);
  return [shape[0], shape[1]];
}

/** Whether a matrix of this shape can be stored as a block type (rows of whole 32-value blocks). */
export function quantizable(shape: readonly number[]): boolean {
  return shape.length === 2 && shape[1] % 32 === 0 && shape[1] > 0;
}

/** A weight's values in f32: the data itself, bf16 widened, or blocks dequantized; `who` names the caller in the error for other dtypes. */
export function weightValues(t: Tensor, who: string): Float32Array {
  if (t.dtype === 'f32') return t.data as Float32Array;
  if (isQuantized(t.dtype)) return dequantize(t).f32;
  if (t.dtype !== 'bf16') throw new ShapeError(`${who}: ${t.dtype} weights are not supported`);
  const out = new Float32Array(t.size);
  kernels.bf16_to_f32(out, t.data as Uint16Array, t.size);
  return out;
}

export function quantize(t: Tensor, dtype: QuantDType): Tensor {
  const [N, K] = matrixShape(t, 'quantize');
  if (t.dtype !== 'f32' && t.dtype !== 'bf16') throw new ShapeError(`quantize: expected an f32 or bf16 matrix, got ${t.dtype}`);
  if (!quantizable(t.shape)) throw new ShapeError(`quantize: ${dtype} needs rows of whole 32-value blocks; shape [${N}, ${K}]`);
  const out = Tensor.zeros([N, K], dtype);
  kernels.quantize_q(out.data as Uint8Array, weightValues(t, 'quantize'), N, K, qtypeOf(dtype));
  return out;
}

export function dequantize(t: Tensor): Tensor {
  if (!isQuantized(t.dtype)) throw new ShapeError(`dequantize: ${t.dtype} is not a quantized dtype`);
  const [N, K] = matrixShape(t, 'dequantize');
  const out = new Float32Array(N * K);
  kernels.dequantize_q(out, t.data as Uint8Array, N, K, qtypeOf(t.dtype));
  return new Tensor(out, [N, K]);
}

/** A tensor from GGUF's row-major blocks of a [N, K] matrix. */
export function fromGgufBlocks(blocks: Uint8Array, shape: readonly number[], dtype: QuantDType): Tensor {
  const [N, K] = matrixShape(shape, 'fromGgufBlocks');
  const want = N * (K / 32) * ggmlBlockBytes(qtypeOf(dtype));
  if (K % 32 !== 0 || blocks.length !== want) throw new ShapeError(`${dtype} [${N}, ${K}] needs ${want} bytes of blocks, got ${blocks.length}`);
  const out = Tensor.zeros([N, K], dtype);
  kernels.pack_q(out.data as Uint8Array, blocks, N, K, qtypeOf(dtype));
  return out;
}

/** GGUF's row-major blocks of a quantized matrix (what a GGUF or safetensors file stores). */
export function toGgufBlocks(t: Tensor): Uint8Array {
  if (!isQuantized(t.dtype)) throw new ShapeError(`toGgufBlocks: ${t.dtype} is not a quantized dtype`);
  const [N, K] = matrixShape(t, 'toGgufBlocks');
  const out = new Uint8Array(N * (K / 32) * ggmlBlockBytes(qtypeOf(t.dtype)));
  kernels.unpack_q(out, t.data as Uint8Array, N, K, qtypeOf(t.dtype));
  return out;
}
