// linear: y = x·Wᵀ + b, W stored [out, in] (the HF layout), x [..., in] → y [..., out].
// f32 weights go through the packed GEMM (or its GEMV path for few rows); bf16
// weights through linear_bf16w; q8_0/q4_0 through linear_q. Weight gradients need
// f32 weights; input gradients (an adapter trained over a frozen quantized weight)
// dequantize the weight for the backward product.
import { ShapeError } from '../../errors.js';
import { record } from '../autograd.js';
import { kernels } from '../kernels.js';
import { weightValues } from '../quant.js';
import { Tensor, isQuantized, qtypeOf } from '../tensor.js';

/** y[rows, N] = x·Wᵀ (overwrites) for W [N, K] in any weight dtype. */
export function matmulWeight(y: Float32Array, x: Float32Array, w: Tensor, rows: number): void {
  const [N, K] = w.shape;
  if (w.dtype === 'bf16') kernels.linear_bf16w(y, x, w.data as Uint16Array, rows, N, K, 0);
  else if (isQuantized(w.dtype)) kernels.linear_q(y, x, w.data as Uint8Array, rows, N, K, qtypeOf(w.dtype), 0);
  else kernels.gemm_f32(y, x, w.f32, rows, N, K, 0, 1, 0);
}

export function linear(x: Tensor, w: Tensor, b?: Tensor | null): Tensor {
  if (w.shape.length !== 2) throw new ShapeError(`linear: weight must be 2-D [out, in], got [${w.shape.join(', ')}]`);
  const [nOut, nIn] = w.shape;
  const lead = x.shape.slice(0, -1);
  if (x.shape[x.shape.length - 1] !== nIn) throw new ShapeError(`linear: x [${x.shape.join(', ')}] does not end in ${nIn} (weight [${nOut}, ${nIn}])`);
  if (b && b.size !== nOut) throw new ShapeError(`linear: bias has ${b.size} elements, expected ${nOut}`);
  const rows = x.size / nIn;
  const xs = x.f32;
  if (w.requiresGrad && w.dtype !== 'f32') throw new ShapeError(`linear: a ${w.dtype} weight cannot be trained (weight gradients need f32 weights)`);
  const y = new Float32Array(rows * nOut);
  matmulWeight(y, xs, w, rows);
  if (b) kernels.add_bias_f32(y, b.f32, rows, nOut);
  const out = new Tensor(y, [...lead, nOut]);
  return record(out, 'linear', b ? [x, w, b] : [x, w], (g) => {
    let dx: Float32Array | null = null;
    if (x.requiresGrad) {
      dx = new Float32Array(rows * nIn);
      kernels.gemm_f32(dx, g, weightValues(w, 'linear'), rows, nIn, nOut, 0, 0, 0);
    }
    let dw: Float32Array | null = null;
    if (w.requiresGrad) {
      dw = new Float32Array(nOut * nIn);
      kernels.gemm_f32(dw, g, xs, nOut, nIn, rows, 1, 0, 0);
    }
    let db: Float32Array | null = null;
    if (b?.requiresGrad) {
      db = new Float32Array(nOut);
      kernels.sum_rows_f32(db, g, rows, nOut, 0);
    }
    return [dx, dw, db];
  });
}
