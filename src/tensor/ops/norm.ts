// Normalisation over the last dimension: RMSNorm (Llama; Gemma's x·(1+w) form) and LayerNorm.
import { ShapeError } from '../../errors.js';
import { record } from '../autograd.js';
import { kernels } from '../kernels.js';
import { Tensor } from '../tensor.js';

function rowsOf(op: string, x: Tensor, w: Tensor): [number, number] {
  const D = x.shape[x.shape.length - 1];
  if (w.size !== D) throw new ShapeError(`${op}: weight has ${w.size} elements, x ends in ${D}`);
  return [x.size / D, D];
}

/** y = x / rms(x) · w   (plusOne: · (1 + w), as Gemma) */
export function rmsNorm(x: Tensor, w: Tensor, eps: number, plusOne = false): Tensor {
  const [rows, D] = rowsOf('rmsNorm', x, w);
  const y = new Float32Array(x.size);
  const rstd = new Float32Array(rows);
  const p = plusOne ? 1 : 0;
  kernels.rmsnorm_fwd_f32(y, rstd, x.f32, w.f32, rows, D, eps, p);
  return record(new Tensor(y, x.shape), 'rmsNorm', [x, w], (g) => {
    const dx = new Float32Array(x.size);
    const dw = w.requiresGrad ? new Float32Array(D) : null;
    kernels.rmsnorm_bwd_f32(dx, dw, g, x.f32, w.f32, rstd, rows, D, p);
    return [dx, dw];
  });
}

/** y = (x − mean) / std · w + b */
export function layerNorm(x: Tensor, w: Tensor, b: Tensor | null, eps: number): Tensor {
  const [rows, D] = rowsOf('layerNorm', x, w);
  if (b && b.size !== D) throw new ShapeError(`layerNorm: bias has ${b.size} elements, expected ${D}`);
  const y = new Float32Array(x.size);
  const mean = new Float32Array(rows);
  const rstd = new Float32Array(rows);
  kernels.layernorm_fwd_f32(y, mean, rstd, x.f32, w.f32, b ? b.f32 : null, rows, D, eps);
  return record(new Tensor(y, x.shape), 'layerNorm', b ? [x, w, b] : [x, w], (g) => {
    const dx = new Float32Array(x.size);
    const dw = w.requiresGrad ? new Float32Array(D) : null;
    const db = b?.requiresGrad ? new Float32Array(D) : null;
    kernels.layernorm_bwd_f32(dx, dw, db, g, x.f32, w.f32, mean, rstd, rows, D);
    return [dx, dw, db];
  });
}
