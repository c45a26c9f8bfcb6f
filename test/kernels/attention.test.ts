// attention_fwd_f32 / attention_bwd_f32: native (every ISA build this CPU runs) against the
// float64 reference, the reference backward against central finite differences of a float64
// forward written here, accumulate/overwrite rules, causality, and argument validation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { native, type NativeAddon } from '../../src/tensor/kernels.js';
import * as ref from '../../src/tensor/ref/attention.js';
import { assertClose, randn, skipWithoutNative } from '../helpers.js';

const skipNative = skipWithoutNative(native);

interface Case { T: number; S: number; H: number; Hkv: number; Dh: number; pos0: number }

// Sizes 1, 7, 33, 1000 and a large training shape; decode (T=1, T=5 after a prefix); MHA, GQA,
// MQA; odd and wide Dh, and head dims that are multiples of 8 but not 16 (AVX-512 decode takes
// the 8-lane kernel for them); a cache longer than pos0+T; more than 16 heads per kv head; long decode
// caches that the native kernel splits into key chunks.
const CASES: Case[] = [
  { T: 1, S: 1, H: 1, Hkv: 1, Dh: 1, pos0: 0 },
  { T: 7, S: 7, H: 2, Hkv: 2, Dh: 7, pos0: 0 },
  { T: 7, S: 7, H: 3, Hkv: 1, Dh: 64, pos0: 0 },
  { T: 33, S: 33, H: 4, Hkv: 2, Dh: 33, pos0: 0 },
  { T: 33, S: 33, H: 7, Hkv: 7, Dh: 16, pos0: 0 },
  { T: 200, S: 200, H: 8, Hkv: 2, Dh: 64, pos0: 0 },
  { T: 1, S: 71, H: 8, Hkv: 2, Dh: 33, pos0: 70 },
  { T: 1, S: 40, H: 4, Hkv: 4, Dh: 7, pos0: 39 },
  { T: 1, S: 50, H: 8, Hkv: 4, Dh: 8, pos0: 49 },
  { T: 1, S: 37, H: 6, Hkv: 2, Dh: 24, pos0: 36 },
  { T: 5, S: 42, H: 6, Hkv: 3, Dh: 7, pos0: 37 },
  { T: 5, S: 105, H: 4, Hkv: 1, Dh: 32, pos0: 100 },
  { T: 3, S: 50, H: 4, Hkv: 2, Dh: 8, pos0: 10 },
  { T: 4, S: 9, H: 34, Hkv: 2, Dh: 5, pos0: 5 },
  { T: 1, S: 1000, H: 4, Hkv: 1, Dh: 32, pos0: 999 },
  { T: 1, S: 2100, H: 4, Hkv: 1, Dh: 16, pos0: 2099 },
  { T: 20, S: 20, H: 2, Hkv: 1, Dh: 128, pos0: 0 },
  { T: 3, S: 9, H: 2, Hkv: 2, Dh: 1000, pos0: 6 },
];

const name = (c: Case) => `T=${c.T} S=${c.S} H=${c.H} Hkv=${c.Hkv} Dh=${c.Dh} pos0=${c.pos0}`;

function inputs(c: Case, seed: number) {
  const nq = c.T * c.H * c.Dh, nkv = c.S * c.Hkv * c.Dh;
  return {
    q: randn(nq, seed, 1.5),
    k: randn(nkv, seed + 1, 1.5),
    v: randn(nkv, seed + 2),
    dout: randn(nq, seed + 3),
    scale: 1 / Math.sqrt(c.Dh),
  };
}

/** Runs fn under every ISA level this CPU supports, restoring the active one afterwards. */
function forEachIsa(addon: NativeAddon, fn: (isa: string) => void): void {
  const { best, active } = addon.isa_info();
  const levels = ['scalar', 'avx2', 'avx512'];
  const top = best === 'avx512bf16' ? 'avx512' : best;
  try {
    for (const isa of levels.slice(0, levels.indexOf(top) + 1)) {
      addon.set_isa(isa as 'scalar');
      fn(isa);
    }
  } finally {
    addon.set_isa(active as 'scalar');
  }
}

test('native forward matches the reference (out and lse) on MHA, GQA, MQA, decode and odd sizes, for every ISA', { skip: skipNative }, () => {
  const nat = native!;
  for (const c of CASES) {
    const { q, k, v, scale } = inputs(c, 11);
    const wantOut = new Float32Array(c.T * c.H * c.Dh), wantLse = new Float32Array(c.H * c.T);
    ref.attention_fwd_f32(wantOut, wantLse, q, k, v, c.T, c.S, c.H, c.Hkv, c.Dh, c.pos0, scale, 0, 0);
    forEachIsa(nat, (isa) => {
      const out = new Float32Array(wantOut.length).fill(NaN), lse = new Float32Array(wantLse.length).fill(NaN);
      nat.attention_fwd_f32(out, lse, q, k, v, c.T, c.S, c.H, c.Hkv, c.Dh, c.pos0, scale, 0, 0);
      assertClose(out, wantOut, { rel: 1e-5, label: `out ${name(c)} ${isa}` });
      assertClose(lse, wantLse, { rel: 1e-6, abs: 1e-5, label: `lse ${name(c)} ${isa}` });
      const outNoLse = new Float32Array(wantOut.length);
      nat.attention_fwd_f32(outNoLse, null, q, k, v, c.T, c.S, c.H, c.Hkv, c.Dh, c.pos0, scale, 0, 0);
      assert.deepEqual(outNoLse, out, `lse=null changes out: ${name(c)} ${isa}`);
    });
  }
});

test('native backward matches the reference (dq, dk, dv) on the same cases, for every ISA', { skip: skipNative }, () => {
  const nat = native!;
  for (const c of CASES) {
    const { q, k, v, dout, scale } = inputs(c, 23);
    const out = new Float32Array(c.T * c.H * c.Dh), lse = new Float32Array(c.H * c.T);
    ref.attention_fwd_f32(out, lse, q, k, v, c.T, c.S, c.H, c.Hkv, c.Dh, c.pos0, scale, 0, 0);
    const dk0 = randn(c.S * c.Hkv * c.Dh, 5), dv0 = randn(c.S * c.Hkv * c.Dh, 6);
    const want = { dq: new Float32Array(out.length), dk: dk0.slice(), dv: dv0.slice() };
    ref.attention_bwd_f32(want.dq, want.dk, want.dv, dout, q, k, v, out, lse, c.T, c.S, c.H, c.Hkv, c.Dh, c.pos0, scale, 0, 0);
    forEachIsa(nat, (isa) => {
      const dq = new Float32Array(out.length).fill(NaN), dk = dk0.slice(), dv = dv0.slice();
      nat.attention_bwd_f32(dq, dk, dv, dout, q, k, v, out, lse, c.T, c.S, c.H, c.Hkv, c.Dh, c.pos0, scale, 0, 0);
      assertClose(dq, want.dq, { rel: 2e-5, label: `dq ${name(c)} ${isa}` });
      assertClose(dk, want.dk, { rel: 2e-5, label: `dk ${name(c)} ${isa}` });
      assertClose(dv, want.dv, { rel: 2e-5, label: `dv ${name(c)} ${isa}` });
    });
  }
});

test('native: results do not depend on the thread count (backward bit-identical; decode key chunks, some empty for early rows, merge correctly)', { skip: skipNative }, () => {
  const nat = native!;
  const threads = nat.get_threads();
  try {
    const c: Case = { T: 33, S: 40, H: 6, Hkv: 2, Dh: 33, pos0: 7 };
    const { q, k, v, dout, scale } = inputs(c, 81);
    const out = new Float32Array(q.length), lse = new Float32Array(c.H * c.T);
    ref.attention_fwd_f32(out, lse, q, k, v, c.T, c.S, c.H, c.Hkv, c.Dh, c.pos0, scale, 0, 0);
    const grads = [1, 3].map((n) => {
      nat.set_threads(n);
      const g = { dq: new Float32Array(q.length), dk: new Float32Array(k.length), dv: new Float32Array(v.length) };
      nat.attention_bwd_f32(g.dq, g.dk, g.dv, dout, q, k, v, out, lse, c.T, c.S, c.H, c.Hkv, c.Dh, c.pos0, scale, 0, 0);
      return g;
    });
    assert.deepEqual(grads[1], grads[0]);
    // 8 threads split 770 keys into 4 chunks; the last, [768, 770), holds no key for queries 0..2.
    nat.set_threads(8);
    const d: Case = { T: 5, S: 770, H: 6, Hkv: 3, Dh: 16, pos0: 765 };
    const x = inputs(d, 91);
    const want = new Float32Array(x.q.length), wantLse = new Float32Array(d.H * d.T);
    ref.attention_fwd_f32(want, wantLse, x.q, x.k, x.v, d.T, d.S, d.H, d.Hkv, d.Dh, d.pos0, x.scale, 0, 0);
    const got = new Float32Array(x.q.length), gotLse = new Float32Array(d.H * d.T);
    nat.attention_fwd_f32(got, gotLse, x.q, x.k, x.v, d.T, d.S, d.H, d.Hkv, d.Dh, d.pos0, x.scale, 0, 0);
    assertClose(got, want, { rel: 1e-5, label: 'out, 8 threads' });
    assertClose(gotLse, wantLse, { rel: 1e-6, abs: 1e-5, label: 'lse, 8 threads' });
  } finally {
    nat.set_threads(threads);
  }
});

// Float64 forward written independently of the reference: loss = Σ out·r.
function loss64(q: Float64Array, k: Float64Array, v: Float64Array, r: Float32Array, c: Case, scale: number): number {
  const G = c.H / c.Hkv;
  let loss = 0;
  for (let t = 0; t < c.T; t++)
    for (let h = 0; h < c.H; h++) {
      const kvh = Math.floor(h / G), n = c.pos0 + t + 1;
      const w: number[] = [];
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let d = 0; d < c.Dh; d++) s += q[(t * c.H + h) * c.Dh + d] * k[(j * c.Hkv + kvh) * c.Dh + d];
        w.push(scale * s);
      }
      const mx = Math.max(...w);
      const e = w.map((s) => Math.exp(s - mx));
      const z = e.reduce((a, b) => a + b, 0);
      for (let d = 0; d < c.Dh; d++) {
        let o = 0;
        for (let j = 0; j < n; j++) o += (e[j] / z) * v[(j * c.Hkv + kvh) * c.Dh + d];
        loss += o * r[(t * c.H + h) * c.Dh + d];
      }
    }
  return loss;
}

test('native: one decode query (T = 1) split across threads by head gives the same bits as one thread, and lse', { skip: skipNative }, () => {
  const nat = native!;
  const threads = nat.get_threads();
  try {
    // H·S·Dh = 12·2000·64 ≈ 1.5 M multiply-adds: enough work for the head split to use every thread
    const c: Case = { T: 1, S: 2048, H: 12, Hkv: 4, Dh: 64, pos0: 1999 };
    const { q, k, v, scale } = inputs(c, 101);
    const runs = [1, 2, 3].map((n) => {
      nat.set_threads(n);
      const out = new Float32Array(q.length), lse = new Float32Array(c.H);
      nat.attention_fwd_f32(out, lse, q, k, v, c.T, c.S, c.H, c.Hkv, c.Dh, c.pos0, scale, 0, 0);
      return { out, lse };
    });
    assert.deepEqual(runs[1], runs[0]);
    assert.deepEqual(runs[2], runs[0]);
    const want = new Float32Array(q.length), wantLse = new Float32Array(c.H);
    ref.attention_fwd_f32(want, wantLse, q, k, v, c.T, c.S, c.H, c.Hkv, c.Dh, c.pos0, scale, 0, 0);
    assertClose(runs[0].out, want, { rel: 1e-5, label: 'out' });
    assertClose(runs[0].lse, wantLse, { rel: 1e-6, abs: 1e-5, label: 'lse' });
  } finally {
    nat.set_threads(threads);
  }
});

test('paged decode: the bits of gather + attention_fwd_f32 (T = 1), per row, for every ISA and 1-3 threads, page tables shuffled', { skip: skipNative }, () => {
  const nat = native!;
  const threads = nat.get_threads();
  try {
    for (const [H, Hkv, Dh, P] of [[9, 3, 64, 16], [4, 4, 33, 32], [8, 1, 7, 16], [8, 4, 8, 16], [6, 2, 24, 16], [2, 2, 128, 48]]) {
      const R = Hkv * Dh, poolPages = 40;
      const kPool = randn(poolPages * P * R, 700 + Dh, 1.5), vPool = randn(poolPages * P * R, 800 + Dh);
      const positions = [0, 15, P - 1, P, P + 1, 3 * P - 1, 100, 5]; // page boundaries, a long row, a short one
      const perm = Array.from({ length: poolPages }, (_, i) => i).sort((a, b) => Math.sin(a * 7 + Dh) - Math.sin(b * 7 + Dh));
      const tables: number[] = [], start = new Int32Array(positions.length), pos = Int32Array.from(positions);
      positions.forEach((p, r) => {
        start[r] = tables.length;
        for (let i = 0; i <= Math.floor(p / P); i++) tables.push(perm[(r * 5 + i) % poolPages]);
      });
      const pages = Int32Array.from(tables), rows = positions.length, q = randn(rows * H * Dh, 900 + Dh, 1.5);
      // what the engine did before: gather each row's pages, then attention with T = 1
      const gathered = (): Float32Array => {
        const out = new Float32Array(rows * H * Dh);
        positions.forEach((p, r) => {
          const S = p + 1, k = new Float32Array(S * R), v = new Float32Array(S * R);
          for (let j = 0; j < S; j++) {
            const src = (pages[start[r] + Math.floor(j / P)] * P + (j % P)) * R;
            k.set(kPool.subarray(src, src + R), j * R);
            v.set(vPool.subarray(src, src + R), j * R);
          }
          nat.attention_fwd_f32(out.subarray(r * H * Dh, (r + 1) * H * Dh), null, q.subarray(r * H * Dh, (r + 1) * H * Dh), k, v, 1, S, H, Hkv, Dh, p, 0.125, 0, 0);
        });
        return out;
      };
      const want = gathered();
      const refOut = new Float32Array(want.length);
      ref.attention_decode_paged_f32(refOut, q, kPool, vPool, pages, start, pos, rows, H, Hkv, Dh, P, 0.125, 0, 0);
      assertClose(refOut, want, { rel: 1e-5, label: `reference H=${H} Hkv=${Hkv} Dh=${Dh} P=${P}` });
      forEachIsa(nat, (isa) => {
        for (const n of [1, 2, 3]) {
          nat.set_threads(n);
          const got = new Float32Array(want.length);
          nat.attention_decode_paged_f32(got, q, kPool, vPool, pages, start, pos, rows, H, Hkv, Dh, P, 0.125, 0, 0);
          assert.deepEqual(got, gathered(), `${isa} threads=${n} H=${H} Hkv=${Hkv} Dh=${Dh} P=${P}`);
        }
      });
    }
  } finally {
    nat.set_threads(threads);
  }
});

test('paged decode rejects page indices outside the pool, short tables, bad page sizes and overlaps', { skip: skipNative }, () => {
  const nat = native!;
  const H = 2, Hkv = 1, Dh = 4, P = 16, R = Hkv * Dh;
  const kPool = new Float32Array(3 * P * R), vPool = new Float32Array(3 * P * R), q = new Float32Array(H * Dh), out = new Float32Array(H * Dh);
  const call = (o: Partial<{ out: Float32Array; k: Float32Array; v: Float32Array; pages: Int32Array; start: Int32Array; pos: Int32Array; P: number }>) =>
    nat.attention_decode_paged_f32(o.out ?? out, q, o.k ?? kPool, o.v ?? vPool, o.pages ?? Int32Array.of(0, 1), o.start ?? Int32Array.of(0), o.pos ?? Int32Array.of(20), 1, H, Hkv, Dh, o.P ?? P, 0.5, 0, 0);
  call({}); // valid
  const range = (fn: () => void, msg: RegExp) => assert.throws(fn, { name: 'RangeError', message: msg });
  range(() => call({ pages: Int32Array.of(0, 3) }), /row 0: page 3 outside the pool's 3 pages/);
  range(() => call({ pages: Int32Array.of(-1, 0) }), /row 0: page -1 outside/);
  range(() => call({ pages: Int32Array.of(0) }), /row 0 needs pages\[0 \.\. 2\), but pages has 1 entries/);
  range(() => call({ start: Int32Array.of(1) }), /needs pages\[1 \.\. 3\)/);
  range(() => call({ pos: Int32Array.of(-2) }), /pos\[0\] = -2 is negative/);
  range(() => call({ P: 8 }), /page_rows must be a positive multiple of 16, got 8/);
  range(() => call({ k: new Float32Array(3 * P * R + 1) }), /not a whole number of pages/);
  range(() => call({ v: new Float32Array(2 * P * R) }), /v_pool has/);
  range(() => call({ out: kPool.subarray(0, H * Dh) }), /out and k_pool must not overlap/);
  range(() => {
    const shared = new ArrayBuffer(64);
    call({ out: new Float32Array(shared, 0, H * Dh), pages: new Int32Array(shared, 16, 2) });
  }, /out and pages must not overlap/);
  assert.throws(() => call({ pages: new Float32Array(2) as unknown as Int32Array }), { name: 'TypeError', message: /pages must be a Int32Array|pages must be an Int32Array/ });
});

test('reference backward equals central finite differences of loss = Σ out·r (GQA, pos0 > 0, unused cache rows)', () => {
  const fdCases: Case[] = [
    { T: 4, S: 8, H: 4, Hkv: 2, Dh: 3, pos0: 2 },
    { T: 3, S: 3, H: 2, Hkv: 1, Dh: 5, pos0: 0 },
  ];
  for (const c of fdCases) {
    const { q, k, v, dout: r } = inputs(c, 31);
    const scale = 0.7;
    const out = new Float32Array(q.length), lse = new Float32Array(c.H * c.T);
    ref.attention_fwd_f32(out, lse, q, k, v, c.T, c.S, c.H, c.Hkv, c.Dh, c.pos0, scale, 0, 0);
    const dq = new Float32Array(q.length), dk = new Float32Array(k.length), dv = new Float32Array(v.length);
    ref.attention_bwd_f32(dq, dk, dv, r, q, k, v, out, lse, c.T, c.S, c.H, c.Hkv, c.Dh, c.pos0, scale, 0, 0);
    const x = { q: Float64Array.from(q), k: Float64Array.from(k), v: Float64Array.from(v) };
    const eps = 1e-4;
    for (const [which, grad] of [['q', dq], ['k', dk], ['v', dv]] as const) {
      const fd = new Float64Array(grad.length);
      for (let i = 0; i < grad.length; i++) {
        const a = x[which], keep = a[i];
        a[i] = keep + eps;
        const up = loss64(x.q, x.k, x.v, r, c, scale);
        a[i] = keep - eps;
        const down = loss64(x.q, x.k, x.v, r, c, scale);
        a[i] = keep;
        fd[i] = (up - down) / (2 * eps);
      }
      assertClose(grad, fd, { rel: 1e-4, abs: 1e-6, label: `d${which} ${name(c)}` });
    }
  }
});

for (const [label, impl] of [['native', native], ['reference', ref]] as const) {
  test(`${label}: dk and dv accumulate (two calls give twice the gradient) while dq is overwritten`, { skip: impl === null ? skipNative : false }, () => {
    const c: Case = { T: 33, S: 40, H: 4, Hkv: 2, Dh: 33, pos0: 7 };
    const { q, k, v, dout, scale } = inputs(c, 41);
    const out = new Float32Array(q.length), lse = new Float32Array(c.H * c.T);
    ref.attention_fwd_f32(out, lse, q, k, v, c.T, c.S, c.H, c.Hkv, c.Dh, c.pos0, scale, 0, 0);
    const dq1 = new Float32Array(q.length), dk1 = new Float32Array(k.length), dv1 = new Float32Array(v.length);
    impl!.attention_bwd_f32(dq1, dk1, dv1, dout, q, k, v, out, lse, c.T, c.S, c.H, c.Hkv, c.Dh, c.pos0, scale, 0, 0);
    const dq = randn(q.length, 9), dk = dk1.slice(), dv = dv1.slice();
    impl!.attention_bwd_f32(dq, dk, dv, dout, q, k, v, out, lse, c.T, c.S, c.H, c.Hkv, c.Dh, c.pos0, scale, 0, 0);
    assert.deepEqual(dq, dq1, 'dq must be overwritten');
    assertClose(dk, dk1.map((x) => 2 * x), { rel: 1e-6, label: 'dk twice' });
    assertClose(dv, dv1.map((x) => 2 * x), { rel: 1e-6, label: 'dv twice' });
    assert.ok(dk.some((x) => x !== 0) && dv.some((x) => x !== 0), 'gradients are not all zero');
  });

  test(`${label}: output row t does not depend on keys or values after position pos0+t`, { skip: impl === null ? skipNative : false }, () => {
    const c: Case = { T: 40, S: 50, H: 4, Hkv: 1, Dh: 16, pos0: 10 };
    const { q, k, v, scale } = inputs(c, 51);
    const run = (kk: Float32Array, vv: Float32Array) => {
      const out = new Float32Array(q.length);
      impl!.attention_fwd_f32(out, null, q, kk, vv, c.T, c.S, c.H, c.Hkv, c.Dh, c.pos0, scale, 0, 0);
      return out;
    };
    const before = run(k, v);
    for (const tc of [0, 17, 39]) {
      const k2 = k.slice(), v2 = v.slice(), from = (c.pos0 + tc + 1) * c.Hkv * c.Dh;
      k2.set(randn(k.length - from, 60 + tc, 5), from);
      v2.set(randn(v.length - from, 70 + tc, 5), from);
      const after = run(k2, v2);
      const rowEnd = (tc + 1) * c.H * c.Dh;
      assert.deepEqual(after.subarray(0, rowEnd), before.subarray(0, rowEnd), `rows ≤ ${tc} changed`);
      if (tc < c.T - 1) assert.notDeepEqual(after.subarray(rowEnd), before.subarray(rowEnd), `rows > ${tc} should change`);
    }
  });

  test(`${label}: rejects pos0+T > S, H not a multiple of Hkv, bad sizes, short arrays and wrong array types`, { skip: impl === null ? skipNative : false }, () => {
    const f = new Float32Array(4096);
    const fwd = (out: unknown, q: unknown, T: number, S: number, H: number, Hkv: number, Dh: number, pos0: number, scale = 1) =>
      () => impl!.attention_fwd_f32(out as Float32Array, null, q as Float32Array, f, f.slice(), T, S, H, Hkv, Dh, pos0, scale, 0, 0);
    const out = new Float32Array(4096);
    assert.throws(fwd(out, f, 3, 4, 2, 1, 8, 2), RangeError, 'pos0 + T > S');
    assert.throws(fwd(out, f, 1, 4, 6, 4, 8, 0), RangeError, 'H % Hkv != 0');
    assert.throws(fwd(out, f, 1, 4, 2, 0, 8, 0), RangeError, 'Hkv = 0');
    assert.throws(fwd(out, f, 1, 4, 2, 1, 0, 0), RangeError, 'Dh = 0');
    assert.throws(fwd(out, f, -1, 4, 2, 1, 8, 0), RangeError, 'negative T');
    assert.throws(fwd(out, f, 1, 4, 2, 1, 8.5, 0), RangeError, 'non-integer Dh');
    assert.throws(fwd(out, f, 1, 4, 2, 1, 8, 0, NaN), RangeError, 'NaN scale');
    assert.throws(fwd(out, f, 1, 4, 2, 1, 8, 0, Infinity), RangeError, 'infinite scale');
    assert.throws(fwd(out, f, 2, 600, 2, 1, 8, 0), RangeError, 'k shorter than S·Hkv·Dh');
    assert.throws(fwd(new Float32Array(31), f, 2, 4, 2, 1, 8, 0), RangeError, 'out shorter than T·H·Dh');
    assert.throws(fwd(new Float64Array(4096), f, 1, 4, 2, 1, 8, 0), TypeError, 'Float64Array out');
    assert.throws(fwd(out, new Float64Array(4096), 1, 4, 2, 1, 8, 0), TypeError, 'Float64Array q');
    const g = new Float32Array(64);
    const bwdShortLse = () => impl!.attention_bwd_f32(g.slice(), g.slice(), g.slice(), g, g, g, g, g, new Float32Array(3), 2, 2, 2, 1, 8, 0, 1, 0, 0);
    assert.throws(bwdShortLse, (e: Error) => e instanceof RangeError && /lse has 3 elements/.test(e.message));
  });
}

test('native: rejects outputs that overlap inputs or each other, and wrong argument counts', { skip: skipNative }, () => {
  const nat = native!;
  const T = 2, S = 2, H = 2, Hkv = 1, Dh = 4, n = T * H * Dh;
  const buf = new Float32Array(1024);
  const q = buf.subarray(0, n), k = buf.subarray(n, 2 * n), v = buf.subarray(2 * n, 3 * n);
  assert.throws(() => nat.attention_fwd_f32(q, null, q, k, v, T, S, H, Hkv, Dh, 0, 1, 0, 0), /out and q must not overlap/);
  assert.throws(() => nat.attention_fwd_f32(buf.subarray(n - 1, 2 * n), null, q, k, v, T, S, H, Hkv, Dh, 0, 1, 0, 0), /out and q/);
  assert.throws(() => nat.attention_fwd_f32(new Float32Array(n), v, q, k, v, T, S, H, Hkv, Dh, 0, 1, 0, 0), /lse and v/);
  const fresh = () => new Float32Array(n);
  const [dout, out, lse] = [fresh(), fresh(), fresh()];
  const dk = fresh();
  assert.throws(() => nat.attention_bwd_f32(fresh(), dk, dk, dout, q, k, v, out, lse, T, S, H, Hkv, Dh, 0, 1, 0, 0), /dk and dv/);
  assert.throws(() => nat.attention_bwd_f32(fresh(), k, fresh(), dout, q, k, v, out, lse, T, S, H, Hkv, Dh, 0, 1, 0, 0), /dk and k/);
  assert.throws(() => nat.attention_bwd_f32(lse, fresh(), fresh(), dout, q, k, v, out, lse, T, S, H, Hkv, Dh, 0, 1, 0, 0), /dq and lse/);
  assert.throws(() => nat.attention_bwd_f32(fresh(), fresh(), out, dout, q, k, v, out, lse, T, S, H, Hkv, Dh, 0, 1, 0, 0), /dv and out/);
  assert.throws(() => (nat.attention_fwd_f32 as (...a: unknown[]) => void)(fresh(), null, q, k, v, T, S, H, Hkv, Dh, 0, 1, 0), TypeError);
  assert.throws(() => nat.attention_fwd_f32(fresh(), null, q, k, v, T, S, H, Hkv, Dh, 0, 1e300, 0, 0), RangeError);
});
