// Rotary embeddings: native against the TS reference for T in ODD_SIZES and odd
// head dims with partial rotary; both against float64 re-implementations of HF's
// `x·cos + rotate_half(x)·sin` and of llama2.c's interleaved complex rotation;
// the inverse rotation as the exact backward (finite differences); pairing facts;
// argument validation. Tolerance: 2e-6 of max|x| (cos/sin rounded to fp32 on both sides).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { native, reference as ref, type Kernels } from '../../src/tensor/kernels.js';
import { ODD_SIZES, assertClose, randint, randn, skipWithoutNative } from '../helpers.js';

const skip = skipWithoutNative(native);
const nat = native!;
const impls: [string, Kernels][] = native ? [['native', native], ['ref', ref]] : [['ref', ref]];

/** HF: inv_freq = 1 / base^(arange(0, rotDim, 2).float() / rotDim), in fp32. */
function invFreqOf(rotDim: number, base = 10000): Float32Array {
  return Float32Array.from({ length: rotDim / 2 }, (_, i) => 1 / base ** Math.fround((2 * i) / rotDim));
}

/**
 * float64 rotation written from the two published forms: HF modeling_llama
 * (emb = cat(freqs, freqs); q·cos + rotate_half(q)·sin, rotate_half(x) = cat(−x2, x1)) and
 * llama2.c run.c (v0·fcr − v1·fci, v0·fci + v1·fcr on pairs (2i, 2i+1)). Angles in fp32 as HF.
 */
function rope64(x: ArrayLike<number>, pos: Int32Array, invFreq: Float32Array, T: number, H: number, Dh: number,
  rotDim: number, interleaved: boolean, sign = 1): Float64Array {
  const out = Float64Array.from(x), half = rotDim / 2;
  for (let t = 0; t < T; t++)
    for (let h = 0; h < H; h++) {
      const o = (t * H + h) * Dh;
      if (!interleaved) {
        const emb = Array.from({ length: rotDim }, (_, d) => Math.fround(Math.fround(pos[t]) * invFreq[d % half]));
        const rotHalf = Array.from({ length: rotDim }, (_, d) => (d < half ? -x[o + d + half] : x[o + d - half]));
        for (let d = 0; d < rotDim; d++) out[o + d] = x[o + d] * Math.cos(emb[d]) + rotHalf[d] * sign * Math.sin(emb[d]);
      } else {
        for (let i = 0; i < rotDim; i += 2) {
          const ang = Math.fround(Math.fround(pos[t]) * invFreq[i / 2]);
          const fcr = Math.cos(ang), fci = sign * Math.sin(ang), v0 = x[o + i], v1 = x[o + i + 1];
          out[o + i] = v0 * fcr - v1 * fci;
          out[o + i + 1] = v0 * fci + v1 * fcr;
        }
      }
    }
  return out;
}

// (Dh, rotDim): full, partial and odd head dims; rotDim 0 leaves x unchanged.
const HEADS: [number, number][] = [[1, 0], [7, 6], [33, 16], [64, 64], [1000, 250]];

test('rope: native matches the reference and the float64 HF / llama2.c forms for T in ODD_SIZES, both layouts, forward and inverse', { skip }, () => {
  for (const T of ODD_SIZES)
    for (const [Dh, rotDim] of HEADS) {
      const H = Dh * T > 100000 ? 1 : 3, n = T * H * Dh;
      const x = randn(n, T + Dh), pos = randint(T, 100000, T * 7 + Dh), invFreq = invFreqOf(rotDim);
      for (const interleaved of [0, 1] as const)
        for (const inverse of [0, 1] as const) {
          const tag = `T=${T} H=${H} Dh=${Dh} rotDim=${rotDim} interleaved=${interleaved} inverse=${inverse}`;
          const xN = x.slice(), xR = x.slice();
          nat.rope_f32(xN, pos, invFreq, T, H, Dh, rotDim, interleaved, inverse);
          ref.rope_f32(xR, pos, invFreq, T, H, Dh, rotDim, interleaved, inverse);
          assertClose(xN, xR, { rel: 2e-6, label: `${tag} native vs ref` });
          const x64 = rope64(x, pos, invFreq, T, H, Dh, rotDim, interleaved === 1, inverse ? -1 : 1);
          assertClose(xR, x64, { rel: 2e-6, label: `${tag} ref vs float64` });
        }
    }
});

test('rope with inverse=1 is the exact backward: it equals finite differences of Σ rope(x)·r', () => {
  const T = 3, H = 2, Dh = 10, rotDim = 8, n = T * H * Dh;
  const x = randn(n, 1), r = randn(n, 2), pos = Int32Array.from([0, 5, 1234]), invFreq = invFreqOf(rotDim);
  for (const interleaved of [0, 1] as const) {
    const f = (xx: Float64Array) => rope64(xx, pos, invFreq, T, H, Dh, rotDim, interleaved === 1).reduce((s, v, i) => s + v * r[i], 0);
    const fd = new Float64Array(n), xx = Float64Array.from(x), h = 1e-6;
    for (let i = 0; i < n; i++) {
      xx[i] += h;
      const fp = f(xx);
      xx[i] -= 2 * h;
      const fm = f(xx);
      xx[i] += h;
      fd[i] = (fp - fm) / (2 * h);
    }
    for (const [name, k] of impls) {
      const dx = r.slice();
      k.rope_f32(dx, pos, invFreq, T, H, Dh, rotDim, interleaved, 1);
      assertClose(dx, fd, { rel: 1e-6, label: `${name} interleaved=${interleaved} dx` });
      const back = x.slice();
      k.rope_f32(back, pos, invFreq, T, H, Dh, rotDim, interleaved, 0);
      k.rope_f32(back, pos, invFreq, T, H, Dh, rotDim, interleaved, 1);
      assertClose(back, x, { rel: 1e-6, label: `${name} interleaved=${interleaved} inverse(rope(x))` });
    }
  }
});

test('rope pairing facts: a quarter turn moves x[0] to x[rotDim/2] (rotate_half) or to x[1] (interleaved); position 0 and dims ≥ rotDim are untouched', () => {
  const quarter = Float32Array.from([Math.PI / 2, 0]);
  for (const [name, k] of impls) {
    const a = Float32Array.from([1, 0, 0, 0, 7]);
    k.rope_f32(a, Int32Array.from([1]), quarter, 1, 1, 5, 4, 0, 0);
    assertClose(a, [0, 0, 1, 0, 7], { abs: 1e-7, label: `${name} rotate_half quarter turn` });
    const b = Float32Array.from([1, 0, 0, 0, 7]);
    k.rope_f32(b, Int32Array.from([1]), quarter, 1, 1, 5, 4, 1, 0);
    assertClose(b, [0, 1, 0, 0, 7], { abs: 1e-7, label: `${name} interleaved quarter turn` });
    const x = randn(2 * 3 * 9, 4), y = x.slice();
    k.rope_f32(y, Int32Array.from([0, 17]), invFreqOf(6), 2, 3, 9, 6, 0, 0);
    for (let hd = 0; hd < 6; hd++)
      for (let d = 0; d < 9; d++) {
        const i = hd * 9 + d;
        if (hd < 3 || d >= 6) assert.equal(y[i], x[i], `${name}: element ${i} (head ${hd}, dim ${d}) must be unchanged`);
      }
  }
});

test('rope rejects odd or oversized rotDim (native and reference) and bad arguments (native)', () => {
  const x = new Float32Array(16), pos = new Int32Array(2), f = new Float32Array(4);
  const range = (fn: () => void, msg: RegExp) => assert.throws(fn, { name: 'RangeError', message: msg });
  const type = (fn: () => void, msg: RegExp) => assert.throws(fn, { name: 'TypeError', message: msg });
  for (const [, k] of impls) {
    range(() => k.rope_f32(x, pos, f, 2, 2, 4, 3, 0, 0), /rotDim/);
    range(() => k.rope_f32(x, pos, f, 2, 1, 4, 6, 0, 0), /rotDim/);
  }
  if (!native) return;
  range(() => nat.rope_f32(x, pos, f, 2, 2, 4, 3, 0, 0), /\[rope_f32\] rotDim must be even, got 3/);
  range(() => nat.rope_f32(x, pos, f, 2, 1, 4, 6, 0, 0), /rotDim 6 exceeds the head dim Dh = 4/);
  range(() => nat.rope_f32(x, pos, new Float32Array(1), 2, 2, 4, 4, 0, 0), /invFreq has 1 elements, expected rotDim\/2 = 2/);
  range(() => nat.rope_f32(x, new Int32Array(1), f, 2, 2, 4, 4, 0, 0), /pos has 1 elements, expected T = 2/);
  range(() => nat.rope_f32(x, pos, f, 3, 2, 4, 4, 0, 0), /x has 16 elements, expected T·H·Dh = 24/);
  type(() => nat.rope_f32(x, new Float32Array(2) as unknown as Int32Array, f, 2, 2, 4, 4, 0, 0), /pos must be a Int32Array/);
  range(() => nat.rope_f32(x, pos, f, 2, 2, 4, 4, 2 as 0, 0), /interleaved must be an integer in \[0, 1\]/);
  range(() => nat.rope_f32(x, pos, f, -2, 2, 4, 4, 0, 0), /T must be a non-negative integer/);
  range(() => nat.rope_f32(x, pos, f, 2, 2.5, 4, 4, 0, 0), /H must be a non-negative integer/);
  range(() => nat.rope_f32(x, pos, x.subarray(2, 4), 2, 2, 4, 4, 0, 0), /x and invFreq must not overlap/);
});
