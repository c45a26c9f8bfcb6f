// Reference token embedding lookup (f32 or bf16 table) and its backward, a
// scatter-add into dtable (accumulated). Every id is checked against [0, V)
// before anything is written. The native kernels (native/kernels/embedding.cpp)
// must match these. Legend: ids (T); table, dtable (V, D); out, dout (T, D).

function checkIds(op: string, ids: Int32Array, T: number, V: number): void {
  for (let t = 0; t < T; t++)
    if (ids[t] < 0 || ids[t] >= V) throw new RangeError(`[${op}] ids[${t}] = ${ids[t]} is outside [0, V = ${V})`);
}

export function embedding_fwd_f32(out: Float32Array, table: Float32Array, ids: Int32Array, T: number, V: number, D: number): void {
  checkIds('embedding_fwd_f32', ids, T, V);
  for (let t = 0; t < T; t++) out.set(table.subarray(ids[t] * D, ids[t] * D + D), t * D);
}

/** The bf16 bit patterns widen exactly: they become the high 16 bits of each float. */
export function embedding_fwd_bf16(out: Float32Array, table: Uint16Array, ids: Int32Array, T: number, V: number, D: number): void {
  checkIds('embedding_fwd_bf16', ids, T, V);
  const bits = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let t = 0; t < T; t++) for (let j = 0; j < D; j++) bits[t * D + j] = table[ids[t] * D + j] << 16;
}

/** dtable[ids[t], :] += dout[t, :] */
export function embedding_bwd_f32(dtable: Float32Array, dout: Float32Array, ids: Int32Array, T: number, V: number, D: number): void {
  checkIds('embedding_bwd_f32', ids, T, V);
  for (let t = 0; t < T; t++) for (let j = 0; j < D; j++) dtable[ids[t] * D + j] += dout[t * D + j];
}
