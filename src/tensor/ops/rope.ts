// Rotary position embedding on x [N, H, Dh], one position per row.
// The backward of a rotation is the inverse rotation.
import { ShapeError } from '../../errors.js';
import { record } from '../autograd.js';
import { kernels } from '../kernels.js';
import { Tensor } from '../tensor.js';

export interface RopeSpec {
  /** inverse frequencies, rotDim/2 of them */
  invFreq: Float32Array;
  rotDim: number;
  interleaved: boolean;
}

export function rope(x: Tensor, pos: Int32Array, spec: RopeSpec): Tensor {
  if (x.shape.length !== 3) throw new ShapeError(`rope: x must be [N, H, Dh], got [${x.shape.join(', ')}]`);
  const [N, H, Dh] = x.shape;
  if (pos.length !== N) throw new ShapeError(`rope: ${pos.length} positions for ${N} rows`);
  const il = spec.interleaved ? 1 : 0;
  const y = x.f32.slice();
  kernels.rope_f32(y, pos, spec.invFreq, N, H, Dh, spec.rotDim, il, 0);
  return record(new Tensor(y, x.shape), 'rope', [x], (g) => {
    const dx = g.slice();
    kernels.rope_f32(dx, pos, spec.invFreq, N, H, Dh, spec.rotDim, il, 1);
    return [dx];
  });
}
