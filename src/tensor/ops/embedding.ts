// Embedding lookup: table [V, D], ids [N] → [N, D]; the backward scatter-adds into the table.
import { ShapeError } from '../../errors.js';
import { record } from '../autograd.js';
import { kernels } from '../kernels.js';
import { Tensor, isQuantized, qtypeOf } from '../tensor.js';

/** y[N, D] = rows ids of table [V, D] (f32, bf16 or quantized), widened to f32. */
export function embeddingRows(y: Float32Array, table: Tensor, ids: Int32Array): void {
  const [V, D] = table.shape, N = ids.length;
  if (table.dtype === 'bf16') kernels.embedding_fwd_bf16(y, table.data as Uint16Array, ids, N, V, D);
  else if (isQuantized(table.dtype)) kernels.embedding_fwd_q(y, table.data as Uint8Array, ids, N, V, D, qtypeOf(table.dtype));
  else kernels.embedding_fwd_f32(y, table.f32, ids, N, V, D);
}

export function embedding(table: Tensor, ids: Int32Array): Tensor {
  if (table.shape.length !== 2) throw new ShapeError(`embedding: table must be [V, D], got [${table.shape.join(', ')}]`);
  const [V, D] = table.shape;
  const N = ids.length;
  const y = new Float32Array(N * D);
  embeddingRows(y, table, ids);
  return record(new Tensor(y, [N, D]), 'embedding', [table], (g) => {
    const dt = new Float32Array(V * D);
    kernels.embedding_bwd_f32(dt, g, ids, N, V, D);
    return [dt];
  });
}
