// Quantized weights (native/quant/): weight quantization, GGUF blocks ↔ packed layout and
// dequantization bit for bit against the TypeScript reference; the activation quantization bit for
// bit on every ISA level; linear_q against the reference (the scalar kernel to the bit, the SIMD
// ones up to their fused multiply-adds) and against fp32 math on the dequantized weights within
// the bound the activation rounding allows; thread splits; bad arguments.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { native, reference as ref, type NativeAddon } from '../../src/tensor/kernels.js';
import { QTYPE, packedBytes, quantizeBlock } from '../../src/tensor/ref/quant.js';
import { quantizeQ8_0 } from '../../src/formats/gguf.js';
import { assertClose, randn, skipWithoutNative, forEachIsa, withThreads } from '../helpers.js';

const skip = skipWithoutNative(native);
const k = native as NativeAddon;
const TYPES = [['q8_0', QTYPE.q8_0], ['q4_0', QTYPE.q4_0]] as const;

function quantized(x: Float32Array, N: number, K: number, qtype: number): Uint8Array {
  const w = new Uint8Array(packedBytes(qtype, N, K));
  k.quantize_q(w, x, N, K, qtype);
  return w;
}

function dequantized(w: Uint8Array, N: number, K: number, qtype: number): Float32Array {
  const out = new Float32Array(N * K);
  k.dequantize_q(out, w, N, K, qtype);
  return out;
}

/** Weights with a few blocks that test the rounding edges: all zero, one huge value, exact halves. */
function weights(N: number, K: number, seed: number): Float32Array {
  const x = randn(N * K, seed);
  x.fill(0, 0, Math.min(32, x.length));
  if (x.length >= 64) x[40] = -50;
  if (x.length >= 96) for (let i = 64; i < 96; i++) x[i] = (i - 80) * 0.5;
  return x;
}

test('quantize_q, pack_q, unpack_q, dequantize_q and embedding_fwd_q give the reference bytes and values', { skip }, () => {
  for (const [name, qt] of TYPES)
    for (const [N, K] of [[1, 32], [16, 96], [37, 64], [5, 320]]) {
      const x = weights(N, K, N * 7 + K);
      const want = new Uint8Array(packedBytes(qt, N, K));
      ref.quantize_q(want, x, N, K, qt);
      const got = quantized(x, N, K, qt);
      assert.deepEqual(got, want, `${name} ${N}×${K} quantize_q`);

      const blocks = new Uint8Array(N * (K / 32) * (qt === QTYPE.q8_0 ? 34 : 18));
      k.unpack_q(blocks, got, N, K, qt);
      const blocksRef = new Uint8Array(blocks.length);
      ref.unpack_q(blocksRef, got, N, K, qt);
      assert.deepEqual(blocks, blocksRef, `${name} unpack_q`);
      const repacked = new Uint8Array(got.length);
      k.pack_q(repacked, blocks, N, K, qt);
      assert.deepEqual(repacked, got, `${name} pack_q(unpack_q(w)) = w`);

      // GGUF's layout block by block: the reference block quantizer, in row order
      const g = new Uint8Array(blocks.length), bb = qt === QTYPE.q8_0 ? 34 : 18;
      for (let i = 0; i < N * K / 32; i++) quantizeBlock(g, i * bb, x, i * 32, qt);
      assert.deepEqual(blocks, g, `${name} unpacked bytes are GGUF blocks`);

      const deq = dequantized(got, N, K, qt), deqRef = new Float32Array(N * K);
      ref.dequantize_q(deqRef, got, N, K, qt);
      assert.deepEqual(deq, deqRef, `${name} dequantize_q`);

      const ids = Int32Array.from([N - 1, 0, Math.floor(N / 2)]);
      const rows = new Float32Array(3 * K), rowsRef = new Float32Array(3 * K);
      k.embedding_fwd_q(rows, got, ids, 3, N, K, qt);
      ref.embedding_fwd_q(rowsRef, got, ids, 3, N, K, qt);
      assert.deepEqual(rows, rowsRef, `${name} embedding_fwd_q`);
      assert.deepEqual(rows.subarray(0, K), deq.subarray((N - 1) * K, N * K));
    }
});

test('q8_0 blocks equal the GGUF writer\'s own quantizer, and dequantized weights sit within half a step of the originals', { skip }, () => {
  const N = 24, K = 128, x = weights(N, K, 3);
  const blocks = new Uint8Array(N * (K / 32) * 34);
  k.unpack_q(blocks, quantized(x, N, K, QTYPE.q8_0), N, K, QTYPE.q8_0);
  assert.deepEqual(blocks, quantizeQ8_0(x));
  for (const [name, qt] of TYPES) {
    const deq = dequantized(quantized(x, N, K, qt), N, K, qt);
    for (let b = 0; b < N * K / 32; b++) {
      let amax = 0;
      for (let i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(x[b * 32 + i]));
      // q8_0: half a step of amax/127. q4_0: half a step of amax/8, but its 16 levels reach only
      // 7/8 of amax on the side opposite the largest value, so a whole step there. Plus the f16
      // rounding of the scale.
      const limit = qt === QTYPE.q8_0 ? amax / 254 : amax / 8;
      for (let i = 0; i < 32; i++) {
        const err = Math.abs(deq[b * 32 + i] - x[b * 32 + i]);
        assert.ok(err <= limit + amax * 2e-3 + 1e-12, `${name} block ${b} value ${i}: error ${err}, limit ${limit}`);
      }
    }
  }
});

test('activation quantization: the same bits on every ISA as the reference, ties to even, NaN and inf blocks', { skip }, () => {
  const M = 5, K = 160;
  const x = randn(M * K, 11, 3);
  for (let i = 0; i < 32; i++) x[32 + i] = i === 0 ? 127 : (i - 16) + 0.5; // d = 1: exact halves round to even
  x[70] = NaN;
  x[100] = Infinity;
  x.fill(0, 128, 160);
  const want = { q: new Int8Array(M * K), d: new Float32Array(M * K / 32), s: new Int32Array(M * K / 32) };
  ref.quantize_rows_q8(want.q, want.d, want.s, x, M, K);
  assert.equal(want.q[32 + 2], -14, '−13.5 rounds to −14 (even)');
  assert.equal(want.q[32 + 3], -12, '−12.5 rounds to −12 (even)');
  assert.ok(Number.isNaN(want.d[2]) && Number.isNaN(want.d[3]), 'NaN and inf blocks get a NaN scale');
  forEachIsa(k, (isa) => {
    const q = new Int8Array(M * K), d = new Float32Array(M * K / 32), s = new Int32Array(M * K / 32);
    k.quantize_rows_q8(q, d, s, x, M, K);
    assert.deepEqual(q, want.q, `${isa} q`);
    assert.deepEqual(d, want.d, `${isa} d`);
    assert.deepEqual(s, want.s, `${isa} s`);
  });
});

test('linear_q matches the reference on every ISA (scalar to the bit), accumulate on and off, M across the row tiles and chunks', { skip }, () => {
  let seed = 100;
  for (const [name, qt] of TYPES)
    for (const [M, N, K] of [[1, 1, 32], [1, 37, 64], [2, 16, 96], [3, 200, 32], [4, 33, 128], [5, 48, 576], [17, 20, 64], [70, 35, 96]]) {
      const w = quantized(weights(N, K, seed++), N, K, qt), a = randn(M * K, seed++), c0 = randn(M * N, seed++);
      for (const acc of [0, 1] as const) {
        const want = c0.slice();
        ref.linear_q(want, a, w, M, N, K, qt, acc);
        forEachIsa(k, (isa) => {
          const got = c0.slice();
          k.linear_q(got, a, w, M, N, K, qt, acc);
          if (isa === 'scalar') assert.deepEqual(got, want, `${name} scalar M=${M} N=${N} K=${K} acc=${acc}`);
          else assertClose(got, want, { rel: 1e-5, abs: 1e-5, label: `${name} ${isa} M=${M} N=${N} K=${K} acc=${acc}` });
        });
      }
    }
});

test('linear_q is within the activation-rounding bound of fp32 math on the dequantized weights', { skip }, () => {
  for (const [name, qt] of TYPES) {
    const M = 3, N = 40, K = 256;
    const w = quantized(randn(N * K, 5), N, K, qt), a = randn(M * K, 6);
    const wd = dequantized(w, N, K, qt);
    const got = new Float32Array(M * N);
    k.linear_q(got, a, w, M, N, K, qt, 0);
    let errSq = 0, outSq = 0;
    for (let m = 0; m < M; m++)
      for (let n = 0; n < N; n++) {
        // |x − x̂| ≤ d_x/2 = max|x of the block|/254 for each activation: the error of the dot product
        // is at most Σ |w|·d_x/2 (plus fp32 rounding, far smaller)
        let exact = 0, bound = 0;
        for (let b = 0; b < K / 32; b++) {
          let amax = 0;
          for (let i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(a[m * K + b * 32 + i]));
          for (let i = 0; i < 32; i++) {
            exact += a[m * K + b * 32 + i] * wd[n * K + b * 32 + i];
            bound += (Math.abs(wd[n * K + b * 32 + i]) * amax) / 254;
          }
        }
        const err = Math.abs(got[m * N + n] - exact);
        assert.ok(err <= bound * 1.001 + 1e-5, `${name} [${m}, ${n}]: error ${err} > bound ${bound}`);
        errSq += err * err;
        outSq += exact * exact;
      }
    // typically ~0.6 % (rounding errors of d_x/√12 per product); one wrong block would be ~35 %
    assert.ok(Math.sqrt(errSq / outSq) < 0.02, `${name}: rms error ${Math.sqrt(errSq / outSq)} of the rms output`);
  }
});

test('linear_q gives the same bits on one and two threads (columns do not depend on the split)', { skip }, () => {
  for (const [name, qt] of TYPES) {
    const M = 9, N = 1000, K = 576;
    const w = quantized(randn(N * K, 8), N, K, qt), a = randn(M * K, 9);
    const one = new Float32Array(M * N), two = new Float32Array(M * N);
    withThreads(k, 1, () => k.linear_q(one, a, w, M, N, K, qt, 0));
    withThreads(k, 2, () => k.linear_q(two, a, w, M, N, K, qt, 0));
    assert.deepEqual(two, one, name);
  }
});

test('quantized kernels refuse bad arguments before writing anything', { skip }, () => {
  const N = 16, K = 64, qt = QTYPE.q8_0;
  const w = quantized(randn(N * K, 1), N, K, qt);
  const a = randn(2 * K, 2), c = new Float32Array(2 * N);
  assert.throws(() => k.linear_q(c, a, w, 2, N, K, 3, 0), /qtype must be 8 \(q8_0\) or 2 \(q4_0\), got 3/);
  assert.throws(() => k.linear_q(c, a.subarray(0, 33 * 2), w, 2, N, 33, qt, 0), /K = 33 is not a multiple of the block size 32/);
  assert.throws(() => k.linear_q(c, a, w.subarray(0, w.length - 1), 2, N, K, qt, 0), /w has \d+ elements, expected packed bytes = \d+/);
  assert.throws(() => k.linear_q(c, a, new Uint8Array(10), 2, N, K, QTYPE.q4_0, 0), /w has 10 elements, expected packed bytes = 576/);
  assert.throws(() => k.linear_q(a.subarray(0, 2 * N), a, w, 2, N, K, qt, 0), /c and a must not overlap/);
  assert.throws(() => k.linear_q(c, new Uint16Array(2 * K) as unknown as Float32Array, w, 2, N, K, qt, 0), /a must be a Float32Array/);
  const bad = randn(N * K, 3);
  bad[70] = NaN;
  const dst = new Uint8Array(packedBytes(qt, N, K));
  assert.throws(() => k.quantize_q(dst, bad, N, K, qt), /src\[70\] \(row 1\) is nan: only finite weights can be quantized/);
  assert.throws(() => ref.quantize_q(dst, bad, N, K, qt), /src\[70\] \(row 1\) is NaN/);
  assert.ok(dst.every((v) => v === 0), 'nothing written on a refusal');
  const out = new Float32Array(K);
  assert.throws(() => k.embedding_fwd_q(out, w, Int32Array.from([N]), 1, N, K, qt), /ids\[0\] = 16 is outside \[0, V = 16\)/);
  assert.throws(() => k.unpack_q(new Uint8Array(5), w, N, K, qt), /dst has 5 elements/);
});
