// Embedding lookup (f32 and bf16 tables) and its scatter-add backward: native
// against the TS reference (lookups bit-exact, backward within 1e-6) for T and D in
// ODD_SIZES with repeated ids; the backward against finite differences; accumulation;
// bf16 widening facts; out-of-range ids throw before anything is written; validation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { native, reference as ref, type Kernels } from '../../src/tensor/kernels.js';
import { ODD_SIZES, assertClose, randint, randn, skipWithoutNative } from '../helpers.js';

const skip = skipWithoutNative(native);
const nat = native!;
const impls: [string, Kernels][] = native ? [['native', native], ['ref', ref]] : [['ref', ref]];

/** bf16 bit patterns of a float array (truncation is fine for test data). */
const toBf16 = (f: Float32Array) => Uint16Array.from(new Uint32Array(f.buffer, f.byteOffset, f.length), (u) => u >>> 16);
const bits = (f: Float32Array) => new Uint32Array(f.buffer, f.byteOffset, f.length);

test('embedding lookups (f32, bf16) are bit-exact and the backward matches the reference, for T and D in ODD_SIZES', { skip }, () => {
  for (const T of ODD_SIZES)
    for (const D of ODD_SIZES)
      for (const V of [1, 50]) {
        const tag = `T=${T} D=${D} V=${V}`;
        const table = randn(V * D, T + D), ids = randint(T, V, T * D + V), dout = randn(T * D, T + 2 * D);
        const oN = new Float32Array(T * D), oR = new Float32Array(T * D);
        nat.embedding_fwd_f32(oN, table, ids, T, V, D);
        ref.embedding_fwd_f32(oR, table, ids, T, V, D);
        assert.deepEqual(bits(oN), bits(oR), `${tag} f32 lookup`);
        assert.deepEqual(oR.subarray((T - 1) * D), table.subarray(ids[T - 1] * D, ids[T - 1] * D + D), `${tag} last row is table[ids[T−1]]`);
        const t16 = toBf16(table);
        nat.embedding_fwd_bf16(oN, t16, ids, T, V, D);
        ref.embedding_fwd_bf16(oR, t16, ids, T, V, D);
        assert.deepEqual(bits(oN), bits(oR), `${tag} bf16 lookup`);
        const dN = randn(V * D, 5), dR = dN.slice();
        nat.embedding_bwd_f32(dN, dout, ids, T, V, D);
        ref.embedding_bwd_f32(dR, dout, ids, T, V, D);
        assertClose(dN, dR, { rel: 1e-6, label: `${tag} dtable` });
      }
});

test('bf16 table entries widen exactly: 0x3F80 → 1, 0xC000 → −2, 0x7F80 → +∞, 0x0001 → smallest bf16 subnormal', () => {
  const table = Uint16Array.from([0x3f80, 0xc000, 0x7f80, 0x0001]);
  for (const [name, k] of impls) {
    const out = new Float32Array(4);
    k.embedding_fwd_bf16(out, table, Int32Array.from([0, 1, 2, 3]), 4, 4, 1);
    assert.deepEqual(Array.from(out), [1, -2, Infinity, 2 ** -133], name);
  }
});

test('embedding backward equals finite differences of Σ embedding(table)[t]·dout[t] and accumulates (two calls double it)', () => {
  const T = 9, V = 4, D = 3, ids = Int32Array.from([0, 2, 2, 3, 0, 0, 1, 2, 3]);
  const table = randn(V * D, 1), dout = randn(T * D, 2);
  const f = (tb: Float64Array) => {
    let s = 0;
    for (let t = 0; t < T; t++) for (let j = 0; j < D; j++) s += tb[ids[t] * D + j] * dout[t * D + j];
    return s;
  };
  const tb = Float64Array.from(table), fd = new Float64Array(V * D), h = 1e-3;
  for (let i = 0; i < V * D; i++) {
    tb[i] += h;
    const fp = f(tb);
    tb[i] -= 2 * h;
    const fm = f(tb);
    tb[i] += h;
    fd[i] = (fp - fm) / (2 * h);
  }
  for (const [name, k] of impls) {
    const dtable = new Float32Array(V * D);
    k.embedding_bwd_f32(dtable, dout, ids, T, V, D);
    assertClose(dtable, fd, { rel: 1e-6, label: `${name} dtable` });
    k.embedding_bwd_f32(dtable, dout, ids, T, V, D);
    assertClose(dtable, Array.from(fd, (v) => 2 * v), { rel: 1e-6, label: `${name} dtable after two calls` });
  }
});

test('native embedding backward is deterministic across thread counts even with repeated ids', { skip }, () => {
  const T = 1000, V = 7, D = 1000, ids = randint(T, V, 3), dout = randn(T * D, 4);
  const runWith = (threads: number) => {
    const before = nat.get_threads();
    nat.set_threads(threads);
    const dtable = new Float32Array(V * D);
    nat.embedding_bwd_f32(dtable, dout, ids, T, V, D);
    nat.set_threads(before);
    return dtable;
  };
  assert.deepEqual(bits(runWith(2)), bits(runWith(1)));
});

test('an id outside [0, V) throws a RangeError naming its position and value, before anything is written', () => {
  const T = 8, V = 10, D = 4;
  const table = randn(V * D, 3), t16 = toBf16(table), dout = randn(T * D, 4);
  for (const [name, k] of impls)
    for (const [pos, bad] of [[5, -1], [0, V], [7, 2 ** 31 - 1]]) {
      const ids = randint(T, V, 9);
      ids[pos] = bad;
      const msg = new RegExp(`ids\\[${pos}\\] = ${bad} is outside \\[0, V = ${V}\\)`);
      const out = new Float32Array(T * D).fill(42), dtable = new Float32Array(V * D).fill(7);
      assert.throws(() => k.embedding_fwd_f32(out, table, ids, T, V, D), { name: 'RangeError', message: msg }, name);
      assert.throws(() => k.embedding_fwd_bf16(out, t16, ids, T, V, D), { name: 'RangeError', message: msg }, name);
      assert.throws(() => k.embedding_bwd_f32(dtable, dout, ids, T, V, D), { name: 'RangeError', message: msg }, name);
      assert.ok(out.every((v) => v === 42) && dtable.every((v) => v === 7), `${name}: nothing written`);
    }
});

test('native embedding kernels reject bad arguments', { skip }, () => {
  const out = new Float32Array(8), table = new Float32Array(12), ids = new Int32Array(2);
  const range = (fn: () => void, msg: RegExp) => assert.throws(fn, { name: 'RangeError', message: msg });
  const type = (fn: () => void, msg: RegExp) => assert.throws(fn, { name: 'TypeError', message: msg });
  range(() => nat.embedding_fwd_f32(out, table, ids, 2, 4, 4), /table has 12 elements, expected V·D = 16/);
  range(() => nat.embedding_fwd_f32(out, table, ids, 3, 3, 4), /out has 8 elements, expected T·D = 12/);
  range(() => nat.embedding_fwd_f32(out, table, new Int32Array(1), 2, 3, 4), /ids has 1 elements, expected T = 2/);
  type(() => nat.embedding_fwd_f32(out, table, Float32Array.of(0, 1) as unknown as Int32Array, 2, 3, 4), /ids must be a Int32Array/);
  type(() => nat.embedding_fwd_bf16(out, table as unknown as Uint16Array, ids, 2, 3, 4), /table must be a Uint16Array/);
  type(() => nat.embedding_fwd_f32(out, new Uint16Array(12) as unknown as Float32Array, ids, 2, 3, 4), /table must be a Float32Array/);
  range(() => nat.embedding_fwd_f32(out, table, ids, 2, -3, 4), /V must be a non-negative integer/);
  range(() => nat.embedding_fwd_f32(out, table, ids, 2, 3, 4.5), /D must be a non-negative integer/);
  range(() => nat.embedding_fwd_f32(out, table, ids, 2, 2 ** 30, 2 ** 30), /size overflow/);
  range(() => nat.embedding_fwd_f32(table.subarray(0, 8), table, ids, 2, 3, 4), /out and table must not overlap/);
  range(() => nat.embedding_bwd_f32(table, table.subarray(4), ids, 2, 3, 4), /dtable and dout must not overlap/);
});

test('scatter_rows_f32 puts src row t at dst row rowsAt[t] (the inverse of a lookup), leaves other rows alone, and a repeated index keeps the last row', () => {
  for (const [name, k] of impls)
    for (const D of ODD_SIZES) {
      const dstRows = 9, T = 5, src = randn(T * D, D), rowsAt = Int32Array.from([4, 0, 8, 2, 0]);
      const dst = new Float32Array(dstRows * D).fill(-3);
      k.scatter_rows_f32(dst, src, rowsAt, T, D);
      const row = (a: Float32Array, r: number) => bits(a.subarray(r * D, (r + 1) * D));
      for (const [t, r] of [[0, 4], [2, 8], [3, 2], [4, 0]]) assert.deepEqual(row(dst, r), row(src, t), `${name} D=${D}: dst row ${r} is src row ${t}`);
      for (const r of [1, 3, 5, 6, 7]) assert.ok(dst.subarray(r * D, (r + 1) * D).every((v) => v === -3), `${name} D=${D}: row ${r} untouched`);
    }
});

test('scatter_rows_f32 checks every destination before writing, and its arguments', () => {
  const D = 4, dst = new Float32Array(6 * D).fill(7), src = randn(3 * D, 1);
  for (const [name, k] of impls)
    for (const bad of [-1, 6, 2 ** 31 - 1]) {
      assert.throws(() => k.scatter_rows_f32(dst, src, Int32Array.of(0, 1, bad), 3, D), { name: 'RangeError', message: new RegExp(`rows_at\\[2\\] = ${bad} is outside dst's 6 rows`) }, name);
      assert.ok(dst.every((v) => v === 7), `${name}: nothing written`);
    }
  if (!native) return;
  const range = (fn: () => void, msg: RegExp) => assert.throws(fn, { name: 'RangeError', message: msg });
  range(() => nat.scatter_rows_f32(dst, src, Int32Array.of(0, 1), 3, D), /rows_at has 2 elements, expected rows = 3/);
  range(() => nat.scatter_rows_f32(dst, src, Int32Array.of(0, 1, 2, 3), 4, D), /src has 12 elements, expected rows·D = 16/);
  range(() => nat.scatter_rows_f32(dst, dst.subarray(0, 3 * D), Int32Array.of(3, 4, 5), 3, D), /dst and src must not overlap/);
  range(() => nat.scatter_rows_f32(dst, src, Int32Array.of(0, 1, 2), 3, -1), /D must be a non-negative integer/);
  assert.throws(() => nat.scatter_rows_f32(dst, src, Float32Array.of(0, 1, 2) as unknown as Int32Array, 3, D), { name: 'TypeError', message: /rows_at must be a Int32Array/ });
  assert.ok(dst.every((v) => v === 7), 'nothing written by a rejected call');
});
