// Embedding lookup: table [V, D], ids [N] → [N, D]; the backward scatter-adds into the table.
import { ShapeError } from '../../errors.js';
import { record } from '../autograd.js';
import { kernels } from '../kernels.js';
import { Tensor } from '../tensor.js';

export function embedding(table: Tensor, ids: Int32Array): Tensor {
  if (table.shape.length !== 2) throw new ShapeError(`embedding: table must be [V, D], got [${table.shape.join(', ')}]`);
  const [V, D] = table.shape;
  const N = ids.length;
  const y = new Float32Array(N * D);
  if (table.dtype === 'bf16') kernels.embedding_fwd_bf16(y, table.data as Uint16Array, ids, N, V, D);
  else kernels.embedding_fwd_f32(y, table.f32, ids, N, V, D);
  return record(new Tensor(y, [N, D]), 'embedding', [table], (g) => {
    const dt = new Float32Array(V * D);
    kernels.embedding_bwd_f32(dt, g, ids, N, V, D);
    return [dt];
  });
}
