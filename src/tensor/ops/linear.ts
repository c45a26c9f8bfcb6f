// linear: y = x·Wᵀ + b, W stored [out, in] (the HF layout), x [..., in] → y [..., out].
// f32 weights go through the packed GEMM (or its GEMV path for few rows); bf16
// weights through linear_bf16w. Weight gradients need f32 weights.
import { ShapeError } from '../../errors.js';
import { record } from '../autograd.js';
import { kernels } from '../kernels.js';
import { Tensor } from '../tensor.js';

export function linear(x: Tensor, w: Tensor, b?: Tensor | null): Tensor {
  if (w.shape.length !== 2) throw new ShapeError(`linear: weight must be 2-D [out, in], got [${w.shape.join(', ')}]`);
  const [nOut, nIn] = w.shape;
  const lead = x.shape.slice(0, -1);
  if (x.shape[x.shape.length - 1] !== nIn) throw new ShapeError(`linear: x [${x.shape.join(', ')}] does not end in ${nIn} (weight [${nOut}, ${nIn}])`);
  if (b && b.size !== nOut) throw new ShapeError(`linear: bias has ${b.size} elements, expected ${nOut}`);
  const rows = x.size / nIn;
  const xs = x.f32;
  const y = new Float32Array(rows * nOut);
  if (w.dtype === 'bf16') kernels.linear_bf16w(y, xs, w.data as Uint16Array, rows, nOut, nIn, 0);
  else kernels.gemm_f32(y, xs, w.f32, rows, nOut, nIn, 0, 1, 0);
  if (b) kernels.add_bias_f32(y, b.f32, rows, nOut);
  const out = new Tensor(y, [...lead, nOut]);
  return record(out, 'linear', b ? [x, w, b] : [x, w], (g) => {
    let dx: Float32Array | null = null;
    if (x.requiresGrad) {
      dx = new Float32Array(rows * nIn);
      kernels.gemm_f32(dx, g, f32Weight(w), rows, nIn, nOut, 0, 0, 0);
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

function f32Weight(w: Tensor): Float32Array {
  if (w.dtype === 'f32') return w.f32;
  if (w.dtype !== 'bf16') throw new ShapeError(`linear: ${w.dtype} weights are not supported`);
  const out = new Float32Array(w.size);
  kernels.bf16_to_f32(out, w.data as Uint16Array, w.size);
  return out;
}
