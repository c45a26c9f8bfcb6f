// GEMM family (gemm_f32, linear_bf16w, gemm_bf16) and dtype conversions: the native kernels
// against the TypeScript reference on every ISA level this CPU supports, all four layouts, odd
// sizes, accumulate on and off, the M ≤ 16 GEMV paths and several thread counts; conversions
// bit for bit on edge values; and every kind of bad argument.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { native, reference as ref, type NativeAddon } from '../../src/tensor/kernels.js';
import { assertClose, randn, rng, ODD_SIZES, skipWithoutNative, forEachIsa, withThreads } from '../helpers.js';

type Flag = 0 | 1;
const skip = skipWithoutNative(native);
const k = native as NativeAddon;

/** fp32 summation error grows with K; a dropped or doubled k-term is ~1/√K of max|C|, far above this. */
const gemmTol = (K: number) => ({ rel: 2e-7 * K + 1e-6, abs: 1e-6 });

const toBf16 = (x: Float32Array): Uint16Array => {
  const out = new Uint16Array(x.length);
  ref.f32_to_bf16(out, x, x.length);
  return out;
};

// Shapes: every {1,7,33}³ combination, plus bigger ones crossing the cache blocks (K > KC = 512,
// M > MC = 144, N > NC = 4096) and the 1000 of ODD_SIZES. Products above 2^22 multiply-adds run
// on several threads; the thread-count test below covers those.
const SMALL = [1, 7, 33];
const SHAPES: [number, number, number][] = [];
for (const M of SMALL) for (const N of SMALL) for (const K of SMALL) SHAPES.push([M, N, K]);
SHAPES.push([100, 77, 300], [257, 129, 65], [13, 4100, 5], [ODD_SIZES[3], 9, 33], [24, ODD_SIZES[3], 40], [9, 33, 1000]);

test('gemm_f32 matches the reference for all four layouts, accumulate on/off, odd sizes, every ISA', { skip }, () => {
  let seed = 1;
  for (const [M, N, K] of SHAPES) {
    for (const ta of [0, 1] as Flag[]) {
      for (const tb of [0, 1] as Flag[]) {
        const a = randn(M * K, seed++), b = randn(K * N, seed++), c0 = randn(M * N, seed++);
        for (const acc of [0, 1] as Flag[]) {
          const want = c0.slice();
          ref.gemm_f32(want, a, b, M, N, K, ta, tb, acc);
          forEachIsa(k, (isa) => {
            const got = c0.slice();
            k.gemm_f32(got, a, b, M, N, K, ta, tb, acc);
            assertClose(got, want, { ...gemmTol(K), label: `${isa} M=${M} N=${N} K=${K} tA=${ta} tB=${tb} acc=${acc}` });
          });
        }
      }
    }
  }
});

// the GEMV paths' row limits (native/gemm/gemm.h: kGemvMaxRowsF32, kGemvMaxRowsBf16); one more row takes the packing GEMM
const GEMV_ROWS_F32 = 32, GEMV_ROWS_BF16 = 64;

test('gemm_f32 small-M GEMV paths (transB, and transA+transB) match the reference on every ISA and thread count', { skip }, () => {
  let seed = 500;
  for (const M of [1, 2, 3, 5, 7, 8, 9, 13, 16, 17, 23, GEMV_ROWS_F32, GEMV_ROWS_F32 + 1]) {
    for (const [N, K] of [[37, 45], [1000, 33], [ODD_SIZES[3], 100], [16, 1]] as [number, number][]) {
      const a = randn(M * K, seed++), w = randn(N * K, seed++), c0 = randn(M * N, seed++);
      for (const ta of [0, 1] as Flag[]) {
        for (const acc of [0, 1] as Flag[]) {
          const want = c0.slice();
          ref.gemm_f32(want, a, w, M, N, K, ta, 1, acc);
          for (const threads of [1, 2, 3]) {
            withThreads(k, threads, () =>
              forEachIsa(k, (isa) => {
                const got = c0.slice();
                k.gemm_f32(got, a, w, M, N, K, ta, 1, acc);
                assertClose(got, want, { ...gemmTol(K), label: `${isa} threads=${threads} M=${M} N=${N} K=${K} tA=${ta} acc=${acc}` });
              }),
            );
          }
        }
      }
    }
  }
});

test('a row gets the same bits from the small-M GEMV whatever the batch around it (fp32 and bf16 weights, every ISA, 1-3 threads)', { skip }, () => {
  // batched decoding must equal serial decoding bit for bit: row r of an M-row product equals the M = 1 product of row r
  const f32Rows = [2, 3, 4, 5, 6, 7, 8, 9, 12, 14, 16, 17, 25, GEMV_ROWS_F32];
  const bf16Rows = [...f32Rows, 33, 47, GEMV_ROWS_BF16];
  for (const [N, K] of [[83, 45], [600, 577], [1000, 33]] as [number, number][]) {
    const a = randn(GEMV_ROWS_BF16 * K, 41), w = randn(N * K, 42), wb = toBf16(w);
    const one = new Float32Array(N), oneB = new Float32Array(N);
    for (const threads of [1, 2, 3])
      withThreads(k, threads, () =>
        forEachIsa(k, (isa) => {
          for (const M of bf16Rows) {
            const f32 = M <= GEMV_ROWS_F32;
            const got = new Float32Array(M * N), gotB = new Float32Array(M * N);
            if (f32) k.gemm_f32(got, a.subarray(0, M * K), w, M, N, K, 0, 1, 0);
            k.linear_bf16w(gotB, a.subarray(0, M * K), wb, M, N, K, 0);
            for (let r = 0; r < M; r++) {
              k.gemm_f32(one, a.subarray(r * K, (r + 1) * K), w, 1, N, K, 0, 1, 0);
              k.linear_bf16w(oneB, a.subarray(r * K, (r + 1) * K), wb, 1, N, K, 0);
              if (f32) assert.deepEqual(got.subarray(r * N, (r + 1) * N), one, `${isa} fp32 threads=${threads} M=${M} row ${r} N=${N} K=${K}`);
              assert.deepEqual(gotB.subarray(r * N, (r + 1) * N), oneB, `${isa} bf16 threads=${threads} M=${M} row ${r} N=${N} K=${K}`);
            }
          }
        }),
      );
  }
});

test('gemm_f32 results do not depend on the thread count (1, 2, 3 threads; M split, N split, idle threads)', { skip }, () => {
  const cases: [number, number, number, Flag, Flag][] = [
    [150, 200, 300, 0, 0], [150, 200, 300, 0, 1], [150, 200, 300, 1, 0], [30, 400, 400, 0, 0], [20, 16, 14000, 1, 1], [100, 64, 2000, 0, 1],
  ];
  for (const [M, N, K, ta, tb] of cases) {
    const a = randn(M * K, 900 + ta), b = randn(K * N, 910 + tb);
    const want = new Float32Array(M * N);
    ref.gemm_f32(want, a, b, M, N, K, ta, tb, 0);
    for (const threads of [1, 2, 3]) {
      withThreads(k, threads, () => {
        const got = new Float32Array(M * N);
        k.gemm_f32(got, a, b, M, N, K, ta, tb, 0);
        assertClose(got, want, { ...gemmTol(K), label: `threads=${threads} M=${M} N=${N} K=${K} tA=${ta} tB=${tb}` });
      });
    }
  }
});

test('gemm_f32 with K = 0 zeroes C (or leaves it when accumulating); M = 0 or N = 0 is a no-op', { skip }, () => {
  forEachIsa(k, (isa) => {
    const c = randn(12, 3);
    const kept = c.slice();
    k.gemm_f32(c, new Float32Array(0), new Float32Array(0), 3, 4, 0, 0, 0, 1);
    assert.deepEqual(c, kept, `${isa}: accumulate with K=0 changed C`);
    k.gemm_f32(c, new Float32Array(0), new Float32Array(0), 3, 4, 0, 0, 1, 0);
    assert.deepEqual(c, new Float32Array(12), `${isa}: K=0 did not zero C`);
    k.gemm_f32(new Float32Array(0), new Float32Array(0), new Float32Array(5), 0, 1, 5, 0, 0, 0);
    k.gemm_f32(new Float32Array(0), new Float32Array(5), new Float32Array(0), 1, 0, 5, 0, 1, 0);
  });
});

test('linear_bf16w matches the reference (A rounded to bf16, fp32 sums) on every ISA', { skip }, () => {
  let seed = 2000;
  const shapes: [number, number, number][] = [
    [1, 7, 33], [1, 33, 7], [7, 1000, 33], [8, 37, 45], [9, 33, 40], [16, 35, 70], [17, 33, 40], [33, 7, 1], [64, 50, 96], [65, 50, 96], [100, 77, 600], [20, 40, 600], [1, 16, 1],
  ];
  for (const [M, N, K] of shapes) {
    const a = randn(M * K, seed++), w = toBf16(randn(N * K, seed++)), c0 = randn(M * N, seed++);
    for (const acc of [0, 1] as Flag[]) {
      const want = c0.slice();
      ref.linear_bf16w(want, a, w, M, N, K, acc);
      forEachIsa(k, (isa) => {
        const got = c0.slice();
        k.linear_bf16w(got, a, w, M, N, K, acc);
        assertClose(got, want, { ...gemmTol(K), label: `${isa} M=${M} N=${N} K=${K} acc=${acc}` });
      });
    }
  }
});

test('linear_bf16w rounds A to bf16 for every M (GEMV and GEMM paths, every ISA)', { skip }, () => {
  const K = 64, N = 8;
  for (const M of [1, 5, 16, 17, GEMV_ROWS_BF16 + 1]) {
    const a = randn(M * K, 77), w = toBf16(randn(N * K, 78));
    const wf = new Float32Array(N * K), ar = new Float32Array(M * K);
    ref.bf16_to_f32(wf, w, N * K);
    ref.bf16_to_f32(ar, toBf16(a), M * K);
    const fromF32 = new Float32Array(M * N), fromRounded = new Float32Array(M * N);
    ref.gemm_f32(fromF32, a, wf, M, N, K, 0, 1, 0);
    ref.gemm_f32(fromRounded, ar, wf, M, N, K, 0, 1, 0);
    forEachIsa(k, (isa) => {
      const got = new Float32Array(M * N);
      k.linear_bf16w(got, a, w, M, N, K, 0);
      let toRounded = 0, toF32 = 0;
      for (let i = 0; i < got.length; i++) {
        toRounded = Math.max(toRounded, Math.abs(got[i] - fromRounded[i]));
        toF32 = Math.max(toF32, Math.abs(got[i] - fromF32[i]));
      }
      assert.ok(toRounded < 1e-4, `${isa} M=${M}: expected the product of bf16-rounded A, max|Δ| ${toRounded}`);
      assert.ok(toF32 > 1e-3, `${isa} M=${M}: A was not rounded (max|Δ| from the fp32-A product only ${toF32})`);
    });
  }
});

test('gemm_bf16 matches the reference (fp32 accumulation of bf16 products) on every ISA', { skip }, () => {
  let seed = 3000;
  const shapes: [number, number, number][] = [...SHAPES.filter(([M, N, K]) => M * N * K < 3e6), [20, 40, 600], [13, 33, 1025], [21, 40, 1300], [64, 96, 1024]];
  for (const [M, N, K] of shapes) {
    const a = toBf16(randn(M * K, seed++)), b = toBf16(randn(N * K, seed++));
    const want = new Float32Array(M * N);
    ref.gemm_bf16(want, a, b, M, N, K);
    forEachIsa(k, (isa) => {
      const got = randn(M * N, 1); // garbage: gemm_bf16 overwrites
      k.gemm_bf16(got, a, b, M, N, K);
      assertClose(got, want, { ...gemmTol(K), label: `${isa} M=${M} N=${N} K=${K}` });
    });
  }
});

// ---- conversions ----

const bitsF32 = (u: number[]): Float32Array => new Float32Array(new Uint32Array(u).buffer);

/** Edge values: zeros, infinities, NaNs (quiet, signalling, payloads, negative), extremes, subnormals, ties. */
const EDGE_BITS = [
  0x00000000, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000, 0x7f800001, 0x7fa00000, 0xff812345,
  0x7f7fffff, 0xff7fffff, 0x00800000, 0x00000001, 0x807fffff, 0x00400000,
  // bf16 ties and near-ties: 0x3f808000 ties to even (down), 0x3f818000 ties up, ±1 ulp around them
  0x3f808000, 0x3f818000, 0x3f807fff, 0x3f808001, 0x7f7f8000, 0x7f7f7fff,
  // f16: 65504 max, 65519 (down), 65520 (tie → inf), 2^-24, 2^-25 (tie → 0), just above, 2^-14, 2^-14 − 2^-25
  0x477fe000, 0x477fef00, 0x477ff000, 0x33800000, 0x33000000, 0x33000001, 0x38800000, 0x387fc000,
  0x3f801000, 0x3f803000, 0x3f801001, 0xc7800000, 0x38000000, 0x35c00000,
];

function randomBits(n: number, seed: number): Float32Array {
  const r = rng(seed);
  const u = new Uint32Array(n);
  for (let i = 0; i < n; i++) u[i] = Math.floor(r() * 2 ** 32);
  return new Float32Array(u.buffer);
}

/** Random values whose exponents cover the f16 range and a little beyond on both sides. */
function f16RangeValues(n: number, seed: number): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (r() < 0.5 ? -1 : 1) * (1 + r()) * 2 ** Math.floor(-28 + 46 * r());
  return out;
}

const u32 = (x: Float32Array) => new Uint32Array(x.buffer, x.byteOffset, x.length);

function assertBitsEqual(got: ArrayLike<number>, want: ArrayLike<number>, input: ArrayLike<number>, label: string): void {
  for (let i = 0; i < want.length; i++) {
    if (got[i] !== want[i])
      assert.fail(`${label}: [${i}] input 0x${(input[i] >>> 0).toString(16)} gave 0x${(got[i] >>> 0).toString(16)}, expected 0x${(want[i] >>> 0).toString(16)}`);
  }
}

test('f32_to_bf16 and f32_to_f16 match the reference bit for bit (edge values, random bits, f16 range) on every ISA', { skip }, () => {
  const inputs = [bitsF32(EDGE_BITS), randomBits(300_001, 5), f16RangeValues(100_003, 6), randn(ODD_SIZES[3], 7)];
  for (const src of inputs) {
    const n = src.length;
    const wantB = new Uint16Array(n), wantH = new Uint16Array(n);
    ref.f32_to_bf16(wantB, src, n);
    ref.f32_to_f16(wantH, src, n);
    forEachIsa(k, (isa) => {
      const gotB = new Uint16Array(n), gotH = new Uint16Array(n);
      k.f32_to_bf16(gotB, src, n);
      k.f32_to_f16(gotH, src, n);
      assertBitsEqual(gotB, wantB, u32(src), `${isa} f32_to_bf16`);
      assertBitsEqual(gotH, wantH, u32(src), `${isa} f32_to_f16`);
    });
  }
});

test('bf16_to_f32 and f16_to_f32 match the reference on all 65536 patterns, and round-trip back (NaNs come back quiet)', { skip }, () => {
  const all = new Uint16Array(65536).map((_, i) => i);
  const wantB = new Float32Array(65536), wantH = new Float32Array(65536);
  ref.bf16_to_f32(wantB, all, 65536);
  ref.f16_to_f32(wantH, all, 65536);
  forEachIsa(k, (isa) => {
    const gotB = new Float32Array(65536), gotH = new Float32Array(65536);
    k.bf16_to_f32(gotB, all, 65536);
    k.f16_to_f32(gotH, all, 65536);
    assertBitsEqual(u32(gotB), u32(wantB), all, `${isa} bf16_to_f32`);
    assertBitsEqual(u32(gotH), u32(wantH), all, `${isa} f16_to_f32`);
    const backB = new Uint16Array(65536), backH = new Uint16Array(65536);
    k.f32_to_bf16(backB, gotB, 65536);
    k.f32_to_f16(backH, gotH, 65536);
    for (let h = 0; h < 65536; h++) {
      const bfNan = (h & 0x7f80) === 0x7f80 && (h & 0x7f) !== 0;
      const hNan = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
      assert.equal(backB[h], bfNan ? h | 0x40 : h, `${isa} bf16 0x${h.toString(16)} round trip`);
      assert.equal(backH[h], hNan ? h | 0x200 : h, `${isa} f16 0x${h.toString(16)} round trip`);
    }
  });
});

test('reference conversions pick the nearest bf16/f16 value with ties to even (checked against exact neighbours)', () => {
  const src = new Float32Array([...bitsF32(EDGE_BITS), ...f16RangeValues(20_000, 8), ...randn(5000, 9)]);
  const n = src.length;
  const h = new Uint16Array(n), b = new Uint16Array(n);
  ref.f32_to_f16(h, src, n);
  ref.f32_to_bf16(b, src, n);
  const value = (bits: number, toF32: typeof ref.f16_to_f32) => {
    const out = new Float32Array(1);
    toF32(out, new Uint16Array([bits]), 1);
    return out[0];
  };
  // Largest finite value, half its ulp (the overflow threshold is max + halfUlp, a tie that rounds
  // to the even pattern: inf) and the patterns of max and inf without the sign.
  const formats = {
    f16: { toF32: ref.f16_to_f32, max: 65504, halfUlp: 16, maxBits: 0x7bff, infBits: 0x7c00 },
    bf16: { toF32: ref.bf16_to_f32, max: 3.3895313892515355e38, halfUlp: 2 ** 119, maxBits: 0x7f7f, infBits: 0x7f80 },
  };
  const check = (x: number, bits: number, label: keyof typeof formats) => {
    const { toF32, max, halfUlp, maxBits, infBits } = formats[label];
    const v = value(bits, toF32);
    if (Number.isNaN(x)) return assert.ok(Number.isNaN(v), `${label}: NaN lost`);
    if (Math.abs(x) >= max + halfUlp) return assert.equal(bits & 0x7fff, infBits, `${label}: ${x} should overflow to inf`);
    if (Math.abs(x) > max) return assert.equal(bits & 0x7fff, maxBits, `${label}: ${x} should round down to max`);
    for (const nb of [bits - 1, bits + 1]) {
      if (nb < 0 || (nb ^ bits) & 0x8000 || (nb & 0x7fff) >= infBits) continue;
      const w = value(nb, toF32);
      const dv = Math.abs(x - v), dw = Math.abs(x - w);
      assert.ok(dv < dw || (dv === dw && (bits & 1) === 0), `${label}: ${x} → ${v} but neighbour ${w} is nearer (or the even tie)`);
    }
  };
  for (let i = 0; i < n; i++) {
    check(src[i], h[i], 'f16');
    check(src[i], b[i], 'bf16');
  }
});

test('conversions split over threads give the same bits as one thread', { skip }, () => {
  const src = randomBits(1_000_003, 11);
  const one = new Uint16Array(src.length), two = new Uint16Array(src.length);
  withThreads(k, 1, () => k.f32_to_f16(one, src, src.length));
  withThreads(k, 3, () => k.f32_to_f16(two, src, src.length));
  assertBitsEqual(two, one, u32(src), 'f32_to_f16 threads');
});

// ---- argument validation ----

test('bad arguments throw TypeError/RangeError naming the op and the numbers', { skip }, () => {
  const probes = k as unknown as {
    bench_fma_peak(seconds: number): number;
    bench_read_bw(data: Float32Array, seconds: number): number;
  };
  const f = (n: number) => new Float32Array(n);
  const h = (n: number) => new Uint16Array(n);
  const cases: [string, () => void, RegExp][] = [
    ['short c', () => k.gemm_f32(f(5), f(6), f(6), 2, 3, 2, 0, 0, 0), /\[gemm_f32\] c has 5 elements, expected M·N = 6/],
    ['short a', () => k.gemm_f32(f(6), f(3), f(6), 2, 3, 2, 0, 0, 0), /a has 3 elements, expected M·K = 4/],
    ['short b', () => k.gemm_f32(f(6), f(4), f(5), 2, 3, 2, 0, 1, 0), /b has 5 elements, expected K·N = 6/],
    ['Float64Array a', () => k.gemm_f32(f(6), new Float64Array(4) as unknown as Float32Array, f(6), 2, 3, 2, 0, 0, 0), /a must be a Float32Array/],
    ['plain array b', () => k.gemm_f32(f(6), f(4), [1, 2, 3, 4, 5, 6] as unknown as Float32Array, 2, 3, 2, 0, 0, 0), /b must be a Float32Array/],
    ['negative M', () => k.gemm_f32(f(6), f(4), f(6), -1, 3, 2, 0, 0, 0), /M must be a non-negative integer, got -1/],
    ['fractional K', () => k.gemm_f32(f(6), f(4), f(6), 2, 3, 1.5, 0, 0, 0), /K must be a non-negative integer, got 1.5/],
    ['NaN N', () => k.gemm_f32(f(6), f(4), f(6), 2, NaN, 2, 0, 0, 0), /N must be finite/],
    ['flag 2', () => k.gemm_f32(f(6), f(4), f(6), 2, 3, 2, 2 as Flag, 0, 0), /transA must be an integer in \[0, 1\], got 2/],
    ['string accumulate', () => k.gemm_f32(f(6), f(4), f(6), 2, 3, 2, 0, 0, '1' as unknown as Flag), /accumulate must be a number/],
    ['too few args', () => (k.gemm_f32 as unknown as (...x: unknown[]) => void)(f(6), f(4), f(6), 2, 3, 2), /expected 9 arguments, got 6/],
    ['size overflow', () => k.gemm_f32(f(6), f(4), f(6), 2 ** 30, 2 ** 30, 2, 0, 0, 0), /size overflow/],
    ['c overlaps a', () => { const buf = f(20); k.gemm_f32(buf.subarray(0, 6), buf.subarray(4, 8), f(6), 2, 3, 2, 0, 0, 0); }, /c and a must not overlap/],
    ['c overlaps b', () => { const buf = f(20); k.gemm_f32(buf.subarray(10, 16), f(4), buf.subarray(5, 11), 2, 3, 2, 0, 0, 0); }, /c and b must not overlap/],
    ['linear_bf16w f32 weights', () => k.linear_bf16w(f(6), f(4), f(6) as unknown as Uint16Array, 2, 3, 2, 0), /w must be a Uint16Array/],
    ['linear_bf16w short w', () => k.linear_bf16w(f(6), f(4), h(5), 2, 3, 2, 0), /w has 5 elements, expected N·K = 6/],
    ['linear_bf16w c overlaps w', () => { const buf = f(8); k.linear_bf16w(buf.subarray(0, 6), f(4), new Uint16Array(buf.buffer, 8, 6), 2, 3, 2, 0); }, /c and w must not overlap/],
    ['linear_bf16w c overlaps a', () => { const buf = f(8); k.linear_bf16w(buf.subarray(0, 6), buf.subarray(2, 6), h(6), 2, 3, 2, 0); }, /c and a must not overlap/],
    ['gemm_bf16 f32 a', () => k.gemm_bf16(f(6), f(4) as unknown as Uint16Array, h(6), 2, 3, 2), /a must be a Uint16Array/],
    ['gemm_bf16 short c', () => k.gemm_bf16(f(5), h(4), h(6), 2, 3, 2), /c has 5 elements, expected M·N = 6/],
    ['gemm_bf16 c overlaps b', () => { const buf = f(8); k.gemm_bf16(buf.subarray(0, 6), h(4), new Uint16Array(buf.buffer, 0, 6), 2, 3, 2); }, /c and b must not overlap/],
    ['f32_to_bf16 short dst', () => k.f32_to_bf16(h(3), f(4), 4), /dst has 3 elements, expected n = 4/],
    ['f32_to_f16 short src', () => k.f32_to_f16(h(4), f(3), 4), /src has 3 elements, expected n = 4/],
    ['bf16_to_f32 wrong dst kind', () => k.bf16_to_f32(h(4) as unknown as Float32Array, h(4), 4), /dst must be a Float32Array/],
    ['f16_to_f32 negative n', () => k.f16_to_f32(f(4), h(4), -4), /n must be a non-negative integer/],
    ['conversion overlap', () => { const buf = f(8); k.f32_to_bf16(new Uint16Array(buf.buffer, 0, 8), buf.subarray(1, 8), 7); }, /dst and src must not overlap/],
    // the benchmark probes (native/bench) validate like every export, and throw before running
    ['fma peak 0 s', () => probes.bench_fma_peak(0), /seconds must be in \(0, 60\], got 0/],
    ['read bw short data', () => probes.bench_read_bw(f(1000), 0.1), /data has 1000 elements, expected at least 2\^18/],
    ['read bw wrong kind', () => probes.bench_read_bw(h(1 << 19) as unknown as Float32Array, 0.1), /data must be a Float32Array/],
    ['read bw 100 s', () => probes.bench_read_bw(f(1 << 18), 100), /seconds must be in \(0, 60\]/],
  ];
  for (const [name, fn, msg] of cases) {
    assert.throws(fn, (e: unknown) => {
      assert.ok(e instanceof TypeError || e instanceof RangeError, `${name}: threw ${String(e)}`);
      assert.match((e as Error).message, msg, name);
      return true;
    });
  }
});
