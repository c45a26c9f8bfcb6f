// Activations: plain (GELU for GPT-2/NeoX) and gated (SwiGLU, GeGLU).
import { ShapeError } from '../../errors.js';
import { record } from '../autograd.js';
import { type ActCode, kernels } from '../kernels.js';
import { Tensor } from '../tensor.js';

export function activation(x: Tensor, act: ActCode): Tensor {
  const y = new Float32Array(x.size);
  kernels.act_fwd_f32(y, x.f32, x.size, act);
  return record(new Tensor(y, x.shape), 'activation', [x], (g) => {
    const dx = new Float32Array(x.size);
    kernels.act_bwd_f32(dx, g, x.f32, x.size, act);
    return [dx];
  });
}

/** act(gate) · up */
export function glu(gate: Tensor, up: Tensor, act: ActCode): Tensor {
  if (gate.size !== up.size) throw new ShapeError(`glu: gate has ${gate.size} elements, up ${up.size}`);
  const y = new Float32Array(gate.size);
  kernels.glu_fwd_f32(y, gate.f32, up.f32, gate.size, act);
  return record(new Tensor(y, gate.shape), 'glu', [gate, up], (g) => {
    const dg = new Float32Array(gate.size);
    const du = new Float32Array(up.size);
    kernels.glu_bwd_f32(dg, du, g, gate.f32, up.f32, gate.size, act);
    return [dg, du];
  });
}
