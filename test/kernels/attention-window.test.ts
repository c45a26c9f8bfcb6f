// Sliding-window attention and attention-logit soft-capping (Gemma 2/3) in attention_fwd_f32,
// attention_bwd_f32 and attention_decode_paged_f32: the reference and the native kernels (every
// ISA build this CPU runs) against a plain float64 attention written here (the whole score matrix,
// transformers' sliding-window causal mask, a softmax), the backward against finite differences,
// keys before the window never used, the autograd op's options, and argument validation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { native } from '../../src/tensor/kernels.js';
import * as ref from '../../src/tensor/ref/attention.js';
import * as ops from '../../src/tensor/ops/index.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { assertClose, assertGradMatchesFd, forEachIsa, randn, skipWithoutNative, withThreads } from '../helpers.js';

const skipNative = skipWithoutNative(native);

interface Case { T: number; S: number; H: number; Hkv: number; Dh: number; pos0: number; window: number; softcap: number }

const name = (c: Case) => `T=${c.T} S=${c.S} H=${c.H} Hkv=${c.Hkv} Dh=${c.Dh} pos0=${c.pos0} window=${c.window} softcap=${c.softcap}`;

// q and k are drawn with σ = 3, so scaled scores have σ ≈ 9: a cap of 1-5 saturates most of them,
// and 50 (Gemma 2's) still bends the largest. Windows shorter than T, and not multiples of 16.
const CASES: Case[] = [
  { T: 40, S: 40, H: 2, Hkv: 1, Dh: 16, pos0: 0, window: 7, softcap: 0 },
  { T: 40, S: 40, H: 2, Hkv: 1, Dh: 16, pos0: 0, window: 0, softcap: 2 },
  { T: 40, S: 40, H: 4, Hkv: 2, Dh: 16, pos0: 0, window: 7, softcap: 2 },
  { T: 70, S: 70, H: 6, Hkv: 2, Dh: 33, pos0: 0, window: 1, softcap: 0 }, // each token sees only itself: out = v, dq = 0
  { T: 9, S: 45, H: 6, Hkv: 2, Dh: 24, pos0: 30, window: 12, softcap: 2 }, // cached: pos0 > 0, unused cache rows
  { T: 5, S: 105, H: 4, Hkv: 1, Dh: 32, pos0: 100, window: 20, softcap: 3 }, // decode-like blocks
  { T: 3, S: 2100, H: 4, Hkv: 1, Dh: 16, pos0: 2097, window: 1000, softcap: 2 }, // decode-like, keys split in chunks
  { T: 4, S: 9, H: 34, Hkv: 2, Dh: 5, pos0: 5, window: 3, softcap: 1 }, // more than 16 heads per kv head
  { T: 1, S: 201, H: 8, Hkv: 2, Dh: 64, pos0: 200, window: 50, softcap: 2 }, // one decode query, window from key 151
  { T: 1, S: 301, H: 4, Hkv: 4, Dh: 24, pos0: 300, window: 37, softcap: 0 }, // Dh 24: AVX-512 takes the 8-lane decode
  { T: 1, S: 40, H: 3, Hkv: 1, Dh: 7, pos0: 39, window: 17, softcap: 4 },
  { T: 200, S: 200, H: 8, Hkv: 2, Dh: 64, pos0: 0, window: 64, softcap: 50 },
];

function inputs(c: Case, seed: number) {
  const nq = c.T * c.H * c.Dh, nkv = c.S * c.Hkv * c.Dh;
  return { q: randn(nq, seed, 3), k: randn(nkv, seed + 1, 3), v: randn(nkv, seed + 2), dout: randn(nq, seed + 3), scale: 1 / Math.sqrt(c.Dh) };
}

/**
 * transformers' eager attention, plainly and in float64: for each head, the full T × S matrix
 * q·kᵀ·scale, capped c·tanh(x/c) when softcap > 0, then the sliding-window causal mask (key j
 * visible to the query at position p iff j ≤ p and j > p − window) as −inf, softmax, times v.
 */
function plainAttention(q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, c: Case, scale: number) {
  const out = new Float64Array(c.T * c.H * c.Dh), lse = new Float64Array(c.H * c.T), G = c.H / c.Hkv;
  for (let h = 0; h < c.H; h++) {
    const kvh = Math.floor(h / G);
    const w: number[][] = [];
    for (let t = 0; t < c.T; t++) {
      w.push([]);
      for (let j = 0; j < c.S; j++) {
        let x = 0;
        for (let d = 0; d < c.Dh; d++) x += q[(t * c.H + h) * c.Dh + d] * k[(j * c.Hkv + kvh) * c.Dh + d];
        x *= scale;
        if (c.softcap > 0) x = Math.tanh(x / c.softcap) * c.softcap;
        w[t].push(x);
      }
    }
    for (let t = 0; t < c.T; t++) {
      const p = c.pos0 + t;
      const row = w[t].map((x, j) => (j <= p && (c.window === 0 || j > p - c.window) ? x : -Infinity));
      const mx = Math.max(...row);
      const e = row.map((x) => Math.exp(x - mx));
      const z = e.reduce((a, b) => a + b, 0);
      lse[h * c.T + t] = mx + Math.log(z);
      for (let d = 0; d < c.Dh; d++) {
        let o = 0;
        for (let j = 0; j < c.S; j++) o += (e[j] / z) * v[(j * c.Hkv + kvh) * c.Dh + d];
        out[(t * c.H + h) * c.Dh + d] = o;
      }
    }
  }
  return { out, lse };
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

test('reference and native forward equal a plain attention with the full score matrix, window mask and cap, for every ISA', () => {
  for (const c of CASES) {
    const { q, k, v, scale } = inputs(c, 11);
    const want = plainAttention(q, k, v, c, scale);
    // the window and the cap each change the result: the cases test them, not the plain path
    if (c.window > 0) assert.ok(maxDiff(plainAttention(q, k, v, { ...c, window: 0 }, scale).out, want.out) > 1e-2, `window bites: ${name(c)}`);
    if (c.softcap > 0) assert.ok(maxDiff(plainAttention(q, k, v, { ...c, softcap: 0 }, scale).out, want.out) > 1e-2, `cap bites: ${name(c)}`);
    const out = new Float32Array(want.out.length), lse = new Float32Array(want.lse.length);
    ref.attention_fwd_f32(out, lse, q, k, v, c.T, c.S, c.H, c.Hkv, c.Dh, c.pos0, scale, c.window, c.softcap);
    assertClose(out, want.out, { rel: 1e-6, label: `reference out ${name(c)}` });
    assertClose(lse, want.lse, { rel: 1e-6, label: `reference lse ${name(c)}` });
    if (!native) continue;
    forEachIsa(native, (isa) => {
      const got = new Float32Array(out.length).fill(NaN), gotLse = new Float32Array(lse.length).fill(NaN);
      native!.attention_fwd_f32(got, gotLse, q, k, v, c.T, c.S, c.H, c.Hkv, c.Dh, c.pos0, scale, c.window, c.softcap);
      assertClose(got, want.out, { rel: 1e-5, label: `native out ${name(c)} ${isa}` });
      assertClose(gotLse, want.lse, { rel: 1e-6, abs: 1e-5, label: `native lse ${name(c)} ${isa}` });
    });
  }
});

test('native: threads split the keys of decode-like calls and the heads of decode; results agree with one thread', { skip: skipNative }, () => {
  for (const c of [CASES[6], CASES[8], { ...CASES[6], T: 1, pos0: 2099 }]) {
    const { q, k, v, scale } = inputs(c, 13);
    const run = (n: number) => {
      const out = new Float32Array(c.T * c.H * c.Dh);
      withThreads(native!, n, () => native!.attention_fwd_f32(out, null, q, k, v, c.T, c.S, c.H, c.Hkv, c.Dh, c.pos0, scale, c.window, c.softcap));
      return out;
    };
    const one = run(1);
    assertClose(run(3), one, { rel: 1e-6, label: `3 threads ${name(c)}` });
    assertClose(one, plainAttention(q, k, v, c, scale).out, { rel: 1e-5, label: `1 thread ${name(c)}` });
  }
});

test('native backward matches the reference (dq, dk, dv accumulated) with windows and caps, for every ISA', { skip: skipNative }, () => {
  const nat = native!;
  for (const c of CASES) {
    const { q, k, v, dout, scale } = inputs(c, 23);
    const out = new Float32Array(q.length), lse = new Float32Array(c.H * c.T);
    ref.attention_fwd_f32(out, lse, q, k, v, c.T, c.S, c.H, c.Hkv, c.Dh, c.pos0, scale, c.window, c.softcap);
    const dk0 = randn(k.length, 5), dv0 = randn(v.length, 6);
    const want = { dq: new Float32Array(q.length), dk: dk0.slice(), dv: dv0.slice() };
    ref.attention_bwd_f32(want.dq, want.dk, want.dv, dout, q, k, v, out, lse, c.T, c.S, c.H, c.Hkv, c.Dh, c.pos0, scale, c.window, c.softcap);
    forEachIsa(nat, (isa) => {
      const dq = new Float32Array(q.length).fill(NaN), dk = dk0.slice(), dv = dv0.slice();
      nat.attention_bwd_f32(dq, dk, dv, dout, q, k, v, out, lse, c.T, c.S, c.H, c.Hkv, c.Dh, c.pos0, scale, c.window, c.softcap);
      assertClose(dq, want.dq, { rel: 2e-5, abs: 1e-5, label: `dq ${name(c)} ${isa}` });
      assertClose(dk, want.dk, { rel: 2e-5, abs: 1e-5, label: `dk ${name(c)} ${isa}` });
      assertClose(dv, want.dv, { rel: 2e-5, abs: 1e-5, label: `dv ${name(c)} ${isa}` });
    });
  }
});

test('reference backward equals central finite differences of the plain float64 attention (window, cap, both)', () => {
  const fdCases: Case[] = [
    { T: 6, S: 9, H: 4, Hkv: 2, Dh: 3, pos0: 3, window: 3, softcap: 1.5 },
    { T: 7, S: 7, H: 2, Hkv: 1, Dh: 4, pos0: 0, window: 2, softcap: 0 },
    { T: 5, S: 5, H: 2, Hkv: 2, Dh: 3, pos0: 0, window: 0, softcap: 0.8 },
  ];
  for (const c of fdCases) {
    const q = randn(c.T * c.H * c.Dh, 31, 1.5), k = randn(c.S * c.Hkv * c.Dh, 32, 1.5), v = randn(c.S * c.Hkv * c.Dh, 33), r = randn(q.length, 34);
    const scale = 0.7;
    const out = new Float32Array(q.length), lse = new Float32Array(c.H * c.T);
    ref.attention_fwd_f32(out, lse, q, k, v, c.T, c.S, c.H, c.Hkv, c.Dh, c.pos0, scale, c.window, c.softcap);
    const dq = new Float32Array(q.length), dk = new Float32Array(k.length), dv = new Float32Array(v.length);
    ref.attention_bwd_f32(dq, dk, dv, r, q, k, v, out, lse, c.T, c.S, c.H, c.Hkv, c.Dh, c.pos0, scale, c.window, c.softcap);
    const x = { q: Float64Array.from(q), k: Float64Array.from(k), v: Float64Array.from(v) };
    const loss = () => plainAttention(x.q, x.k, x.v, c, scale).out.reduce((s, o, i) => s + o * r[i], 0);
    const eps = 1e-5;
    for (const [which, grad] of [['q', dq], ['k', dk], ['v', dv]] as const) {
      const fd = new Float64Array(grad.length);
      for (let i = 0; i < grad.length; i++) {
        const a = x[which], keep = a[i];
        a[i] = keep + eps;
        const up = loss();
        a[i] = keep - eps;
        const down = loss();
        a[i] = keep;
        fd[i] = (up - down) / (2 * eps);
      }
      assertClose(grad, fd, { rel: 1e-4, abs: 1e-6, label: `d${which} ${name(c)}` });
      assert.ok(grad.some((g) => g !== 0), `d${which} is not all zero`);
    }
  }
});

test('ops.causalAttention: { window, softcap } reach both passes (forward equals the plain attention per sequence, gradients match finite differences)', () => {
  const B = 2, T = 6, H = 4, Hkv = 2, Dh = 3, scale = 0.5, window = 3, softcap = 1.5;
  const q = Tensor.param(randn(B * T * H * Dh, 41, 1.5), [B * T, H, Dh]);
  const k = Tensor.param(randn(B * T * Hkv * Dh, 42, 1.5), [B * T, Hkv, Dh]);
  const v = Tensor.param(randn(B * T * Hkv * Dh, 43), [B * T, Hkv, Dh]);
  const c: Case = { T, S: T, H, Hkv, Dh, pos0: 0, window, softcap };
  const out = ops.causalAttention(q, k, v, B, T, scale, { window, softcap });
  for (let b = 0; b < B; b++) {
    const seq = (t: Tensor, n: number) => t.f32.subarray(b * T * n * Dh, (b + 1) * T * n * Dh);
    assertClose(seq(out, H), plainAttention(seq(q, H), seq(k, Hkv), seq(v, Hkv), c, scale).out, { rel: 1e-5, label: `sequence ${b}` });
  }
  assert.ok(maxDiff(ops.causalAttention(q, k, v, B, T, scale).f32, out.f32) > 1e-2, 'the options change the result');
  const r = new Tensor(randn(out.size, 44), out.shape);
  const loss = () => ops.sum(ops.mul(ops.causalAttention(q, k, v, B, T, scale, { window, softcap }), r));
  for (const [label, p] of [['q', q], ['k', k], ['v', v]] as const) assertGradMatchesFd(p, loss, [0, 5, 17, 29, p.size - 1], `attention d${label}`);
});

test('native: a window covering every key gives the bits of no window; keys before the window are never used', { skip: skipNative }, () => {
  const nat = native!;
  for (const c of [CASES[4], CASES[5], CASES[8], CASES[10]]) {
    const { q, k, v, dout, scale } = inputs(c, 61);
    forEachIsa(nat, (isa) => {
      const fwd = (kk: Float32Array, vv: Float32Array, window: number) => {
        const out = new Float32Array(q.length), lse = new Float32Array(c.H * c.T);
        nat.attention_fwd_f32(out, lse, q, kk, vv, c.T, c.S, c.H, c.Hkv, c.Dh, c.pos0, scale, window, c.softcap);
        return { out, lse };
      };
      const bwd = (kk: Float32Array, vv: Float32Array, f: { out: Float32Array; lse: Float32Array }) => {
        const g = { dq: new Float32Array(q.length), dk: randn(k.length, 7), dv: randn(v.length, 8) };
        nat.attention_bwd_f32(g.dq, g.dk, g.dv, dout, q, kk, vv, f.out, f.lse, c.T, c.S, c.H, c.Hkv, c.Dh, c.pos0, scale, c.window, c.softcap);
        return g;
      };
      assert.deepEqual(fwd(k, v, c.pos0 + c.T), fwd(k, v, 0), `window pos0+T vs none: ${name(c)} ${isa}`);
      // NaN in every key and value the first query's window leaves out: nothing changes
      const first = Math.max(0, c.pos0 - c.window + 1), n = first * c.Hkv * c.Dh;
      assert.ok(first > 0);
      const kn = k.slice().fill(NaN, 0, n), vn = v.slice().fill(NaN, 0, n);
      const want = fwd(k, v, c.window), got = fwd(kn, vn, c.window);
      assert.deepEqual(got, want, `forward with NaN before the window: ${name(c)} ${isa}`);
      const gWant = bwd(k, v, want), gGot = bwd(kn, vn, want);
      assert.deepEqual(gGot, gWant, `backward with NaN before the window: ${name(c)} ${isa}`);
      assert.deepEqual(gGot.dk.subarray(0, n), randn(k.length, 7).subarray(0, n), 'no gradient reaches keys before the window');
    });
  }
});

test('paged decode with windows and caps: the bits of gather + attention_fwd_f32 (T = 1); table entries before the window are not read', { skip: skipNative }, () => {
  const nat = native!;
  for (const [H, Hkv, Dh, P, window, softcap] of [[9, 3, 64, 16, 40, 2], [4, 4, 33, 32, 17, 0], [8, 4, 8, 16, 1, 5], [6, 2, 24, 16, 100, 30], [2, 2, 128, 48, 49, 3]]) {
    const R = Hkv * Dh, poolPages = 40;
    const kPool = randn(poolPages * P * R, 700 + Dh, 3), vPool = randn(poolPages * P * R, 800 + Dh);
    const positions = [0, 15, P - 1, P, P + 1, 3 * P - 1, 100, 5, 130];
    const perm = Array.from({ length: poolPages }, (_, i) => i).sort((a, b) => Math.sin(a * 7 + Dh) - Math.sin(b * 7 + Dh));
    const tables: number[] = [], start = new Int32Array(positions.length), pos = Int32Array.from(positions);
    positions.forEach((p, r) => {
      start[r] = tables.length;
      for (let i = 0; i <= Math.floor(p / P); i++) tables.push(perm[(r * 5 + i) % poolPages]);
    });
    const pages = Int32Array.from(tables), rows = positions.length, q = randn(rows * H * Dh, 900 + Dh, 3), scale = 1 / Math.sqrt(Dh);
    // pages wholly before a row's window may have gone back to a pool: mark them as outside it
    const holed = pages.slice();
    positions.forEach((p, r) => {
      for (let i = 0; i < Math.floor(Math.max(0, p - window + 1) / P); i++) holed[start[r] + i] = i % 2 ? -1 : 1 << 30;
    });
    assert.ok(holed.some((x, i) => x !== pages[i]), 'some table entries are holes');
    const gathered = (): Float32Array => {
      const out = new Float32Array(rows * H * Dh);
      positions.forEach((p, r) => {
        const S = p + 1, k = new Float32Array(S * R), v = new Float32Array(S * R);
        for (let j = 0; j < S; j++) {
          const src = (pages[start[r] + Math.floor(j / P)] * P + (j % P)) * R;
          k.set(kPool.subarray(src, src + R), j * R);
          v.set(vPool.subarray(src, src + R), j * R);
        }
        nat.attention_fwd_f32(out.subarray(r * H * Dh, (r + 1) * H * Dh), null, q.subarray(r * H * Dh, (r + 1) * H * Dh), k, v, 1, S, H, Hkv, Dh, p, scale, window, softcap);
      });
      return out;
    };
    const label = `H=${H} Hkv=${Hkv} Dh=${Dh} P=${P} window=${window} softcap=${softcap}`;
    const refOut = new Float32Array(rows * H * Dh);
    ref.attention_decode_paged_f32(refOut, q, kPool, vPool, holed, start, pos, rows, H, Hkv, Dh, P, scale, window, softcap);
    assertClose(refOut, gathered(), { rel: 1e-5, label: `reference ${label}` });
    forEachIsa(nat, (isa) => {
      const want = gathered();
      for (const n of [1, 3]) {
        const got = new Float32Array(want.length);
        withThreads(nat, n, () => nat.attention_decode_paged_f32(got, q, kPool, vPool, holed, start, pos, rows, H, Hkv, Dh, P, scale, window, softcap));
        assert.deepEqual(got, want, `${isa} threads=${n} ${label}`);
      }
    });
    // the holes are read without a window
    assert.throws(() => nat.attention_decode_paged_f32(new Float32Array(rows * H * Dh), q, kPool, vPool, holed, start, pos, rows, H, Hkv, Dh, P, scale, 0, softcap), /outside the pool/);
  }
});

for (const [label, impl] of [['native', native], ['reference', ref]] as const) {
  test(`${label}: rejects a negative or fractional window and a negative, non-finite or tiny softcap`, { skip: impl === null ? skipNative : false }, () => {
    const f = new Float32Array(64), out = new Float32Array(64);
    const fwd = (window: number, softcap: number) => () => impl!.attention_fwd_f32(out, null, f, f, f, 2, 2, 2, 1, 8, 0, 1, window, softcap);
    const bwd = (window: number, softcap: number) => () =>
      impl!.attention_bwd_f32(out.slice(), out.slice(), out.slice(), f, f, f, f, f, f, 2, 2, 2, 1, 8, 0, 1, window, softcap);
    const pages = Int32Array.of(0), start = Int32Array.of(0), pos = Int32Array.of(3), pool = new Float32Array(16 * 8);
    const paged = (window: number, softcap: number) => () =>
      impl!.attention_decode_paged_f32(out.subarray(0, 16), f.subarray(0, 16), pool, pool.slice(), pages, start, pos, 1, 2, 1, 8, 16, 1, window, softcap);
    for (const call of [fwd, bwd, paged]) {
      call(5, 30)(); // valid
      call(0, 0)();
      assert.throws(call(-1, 0), { name: 'RangeError', message: /window must be a non-negative integer, got -1/ });
      assert.throws(call(2.5, 0), { name: 'RangeError', message: /window must be a non-negative integer, got 2.5/ });
      assert.throws(call(0, -1), { name: 'RangeError', message: /softcap must be ≥ 0 \(0: no capping\), got -1/ });
      assert.throws(call(0, NaN), { name: 'RangeError', message: /softcap must be finite/ });
      assert.throws(call(0, Infinity), { name: 'RangeError', message: /softcap must be finite/ });
      if (label === 'native') assert.throws(call(0, 1e-40), { name: 'RangeError', message: /softcap 1e-40 does not fit a normal float/ });
    }
  });
}
