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

/** dst[rowsAt[t], :] = src[t, :], rows in order; every index is checked before anything is written. */
export function scatter_rows_f32(dst: Float32Array, src: Float32Array, rowsAt: Int32Array, rows: number, D: number): void {
  const dstRows = D === 0 ? 0 : Math.floor(dst.length / D);
  for (let t = 0; t < rows; t++)
    if (!(rowsAt[t] >= 0 && rowsAt[t] < dstRows)) throw new RangeError(`[scatter_rows_f32] rows_at[${t}] = ${rowsAt[t]} is outside dst's ${dstRows} rows of D = ${D}`);
  for (let t = 0; t < rows; t++) dst.set(src.subarray(t * D, t * D + D), rowsAt[t] * D);
}
