// Elementwise kernels (add, mul, scale, axpy, add_bias, sum_rows): native against
// the TS reference (bit-identical where one fp32 rounding per element is promised),
// both against float64 arithmetic, sum_rows as the exact gradient of add_bias,
// in-place use, and argument validation of the native entry points.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { native, reference as ref } from '../../src/tensor/kernels.js';
import { ODD_SIZES, assertClose, randn, skipWithoutNative } from '../helpers.js';

const skip = skipWithoutNative(native);
const nat = native!;

/** Exact equality of two float arrays, NaN-free, with the first mismatch in the message. */
function assertSame(a: Float32Array, b: Float32Array, label: string): void {
  assert.equal(a.length, b.length, `${label}: lengths`);
  for (let i = 0; i < a.length; i++)
    if (!Object.is(a[i], b[i])) assert.fail(`${label}: [${i}] ${a[i]} !== ${b[i]}`);
}

test('add/mul/scale/axpy: native is bit-identical to the reference, which is fp32-rounded float64 arithmetic', { skip }, () => {
  for (const n of ODD_SIZES) {
    const a = randn(n, 1 + n), b = randn(n, 2 + n, 3);
    const s = 0.37, alpha = -1.9;
    const cases: [string, (k: typeof ref, out: Float32Array) => void, (i: number) => number][] = [
      ['add', (k, o) => k.add_f32(o, a, b, n), (i) => a[i] + b[i]],
      ['mul', (k, o) => k.mul_f32(o, a, b, n), (i) => a[i] * b[i]],
      ['scale', (k, o) => k.scale_f32(o, a, s, n), (i) => a[i] * Math.fround(s)],
      ['axpy', (k, o) => { o.set(b); k.axpy_f32(o, a, alpha, n); }, (i) => b[i] + Math.fround(Math.fround(alpha) * a[i])],
    ];
    for (const [name, run, f64] of cases) {
      const outN = new Float32Array(n), outR = new Float32Array(n);
      run(nat, outN);
      run(ref, outR);
      assertSame(outN, outR, `${name} n=${n} native vs ref`);
      assertSame(outR, Float32Array.from({ length: n }, (_, i) => f64(i)), `${name} n=${n} ref vs float64`);
    }
  }
});

test('add_bias: native is bit-identical to the reference for every rows × N in ODD_SIZES', { skip }, () => {
  for (const rows of ODD_SIZES)
    for (const N of ODD_SIZES) {
      const y0 = randn(rows * N, rows + N), b = randn(N, 7 * N);
      const yN = y0.slice(), yR = y0.slice();
      nat.add_bias_f32(yN, b, rows, N);
      ref.add_bias_f32(yR, b, rows, N);
      assertSame(yN, yR, `add_bias ${rows}x${N}`);
      assert.equal(yR[rows * N - 1], Math.fround(y0[rows * N - 1] + b[N - 1]));
    }
});

test('sum_rows: native matches the reference and float64 column sums within 1e-6, and accumulate=1 adds to out', { skip }, () => {
  for (const rows of ODD_SIZES)
    for (const N of ODD_SIZES) {
      const x = randn(rows * N, 3 * rows + N);
      const expect = new Float64Array(N);
      for (let r = 0; r < rows; r++) for (let c = 0; c < N; c++) expect[c] += x[r * N + c];
      const outN = new Float32Array(N).fill(NaN), outR = new Float32Array(N).fill(NaN);
      nat.sum_rows_f32(outN, x, rows, N, 0);
      ref.sum_rows_f32(outR, x, rows, N, 0);
      assertClose(outN, outR, { rel: 1e-6, label: `sum_rows ${rows}x${N} native vs ref` });
      assertClose(outR, expect, { rel: 1e-6, label: `sum_rows ${rows}x${N} ref vs float64` });
      const base = randn(N, 99);
      for (const k of [nat, ref]) {
        const acc = base.slice();
        k.sum_rows_f32(acc, x, rows, N, 1);
        assertClose(acc, Array.from(expect, (e, c) => e + base[c]), { rel: 1e-6, label: `sum_rows accumulate ${rows}x${N}` });
      }
    }
});

test('sum_rows of dy is the gradient of Σ add_bias(y, b)·dy with respect to b (finite differences)', () => {
  const rows = 5, N = 7;
  const y = randn(rows * N, 1), dy = randn(rows * N, 2), b = Float64Array.from(randn(N, 3));
  const loss = (bb: Float64Array): number => {
    let s = 0;
    for (let r = 0; r < rows; r++) for (let c = 0; c < N; c++) s += (y[r * N + c] + bb[c]) * dy[r * N + c];
    return s;
  };
  const h = 1e-6;
  const fd = Array.from(b, (_, c) => {
    const p = b.slice(), m = b.slice();
    p[c] += h;
    m[c] -= h;
    return (loss(p) - loss(m)) / (2 * h);
  });
  for (const k of native ? [nat, ref] : [ref]) {
    const db = new Float32Array(N);
    k.sum_rows_f32(db, dy, rows, N, 0);
    assertClose(db, fd, { rel: 1e-6, label: 'd bias' });
  }
});

test('add, mul, scale and axpy run in place (out === input)', { skip }, () => {
  const n = 1000, a = randn(n, 5), b = randn(n, 6);
  for (const k of [nat, ref]) {
    const expect = new Float32Array(n);
    k.mul_f32(expect, a, b, n);
    const inPlace = a.slice();
    k.mul_f32(inPlace, inPlace, b, n);
    assertSame(inPlace, expect, 'mul in place');
    const sq = a.slice();
    k.add_f32(sq, sq, sq, n);
    k.scale_f32(expect, a, 2, n);
    assertSame(sq, expect, 'a + a = 2a in place');
    const yy = a.slice();
    k.axpy_f32(yy, yy, 1, n);
    assertSame(yy, expect, 'a += 1·a in place');
  }
});

test('argmax: native equals the reference (first maximum wins, NaN ignored, 0 when nothing beats -inf) at every length and offset, at every ISA level', { skip }, () => {
  const cases: [string, Float32Array][] = [['random', randn(300, 5)], ['ties', Float32Array.from({ length: 300 }, (_, i) => (i * 7) % 5)]];
  const nan = randn(300, 6);
  for (let i = 0; i < 300; i += 3) nan[i] = NaN;
  cases.push(['NaNs', nan], ['all NaN', new Float32Array(40).fill(NaN)], ['all -inf', new Float32Array(40).fill(-Infinity)]);
  const zeros = new Float32Array(40).fill(-1);
  zeros[7] = -0;
  zeros[9] = 0;
  cases.push(['signed zeros', zeros], ['inf', Float32Array.of(1, Infinity, 3, Infinity, NaN)]);
  const late = new Float32Array(49152).fill(-3);
  late[49151] = 2; // the maximum in the last lane of the last block
  late[30000] = NaN;
  cases.push(['vocabulary, max last', late]);
  const { best, active } = nat.isa_info();
  const levels = ['scalar', 'avx2', 'avx512', 'avx512bf16'];
  try {
    for (const isa of levels.slice(0, levels.indexOf(best) + 1)) {
      nat.set_isa(isa as 'scalar');
      for (const [name, x] of cases)
        for (const offset of [0, 1, 5])
          for (let n = 0; offset + n <= x.length; n += n < 40 ? 1 : n < 300 ? 37 : 24571)
            assert.equal(nat.argmax_f32(x, offset, n), ref.argmax_f32(x, offset, n), `${isa}: ${name} offset ${offset} n ${n}`);
    }
  } finally {
    nat.set_isa(active as 'scalar');
  }
  assert.equal(ref.argmax_f32(Float32Array.of(2, 5, 1, 5), 0, 4), 1);
  assert.equal(ref.argmax_f32(Float32Array.of(NaN, -Infinity, -Infinity), 0, 3), 0);
});

test('native elementwise kernels reject bad arguments', { skip }, () => {
  const f = new Float32Array(8), g = new Float32Array(8);
  const range = (fn: () => void, msg: RegExp) => assert.throws(fn, { name: 'RangeError', message: msg });
  const type = (fn: () => void, msg: RegExp) => assert.throws(fn, { name: 'TypeError', message: msg });
  range(() => nat.add_f32(f, g, new Float32Array(7), 8), /\[add_f32\] b has 7 elements, expected n = 8/);
  range(() => nat.mul_f32(new Float32Array(3), f, g, 8), /out has 3 elements/);
  type(() => nat.add_f32(f, new Float64Array(8) as unknown as Float32Array, g, 8), /a must be a Float32Array/);
  type(() => nat.scale_f32(f, g, '2' as unknown as number, 8), /s must be a number/);
  range(() => nat.scale_f32(f, g, NaN, 8), /s must be finite/);
  range(() => nat.add_f32(f, g, g, -1), /n must be a non-negative integer/);
  range(() => nat.add_f32(f, g, g, 2.5), /n must be a non-negative integer/);
  type(() => (nat.add_f32 as unknown as (...a: unknown[]) => void)(f, g, g), /expected 4 arguments, got 3/);
  range(() => nat.add_f32(f.subarray(1), f, g, 7), /out and a must not overlap/);
  range(() => nat.axpy_f32(f.subarray(0, 4), f.subarray(2, 6), 1, 4), /y and x must not overlap/);
  range(() => nat.add_bias_f32(f, f.subarray(4), 2, 4), /y and b must not overlap/);
  range(() => nat.add_bias_f32(f, g, 3, 4), /y has 8 elements, expected rows·N = 12/);
  range(() => nat.add_bias_f32(f, g, 2 ** 30, 2 ** 30), /size overflow/);
  range(() => nat.sum_rows_f32(g, f, 2, 4, 2 as 0), /accumulate must be an integer in \[0, 1\]/);
  range(() => nat.sum_rows_f32(f.subarray(0, 4), f, 2, 4, 0), /out and x must not overlap/);
  range(() => nat.argmax_f32(f, 3, 6), /\[argmax_f32\] x has 8 elements, expected offset \+ n = 9/);
  range(() => nat.argmax_f32(f, -1, 2), /offset must be a non-negative integer/);
  nat.add_f32(f, f, f, 8); // exact aliasing is allowed
  nat.add_f32(new Float32Array(0), new Float32Array(0), new Float32Array(0), 0); // empty is fine
});
