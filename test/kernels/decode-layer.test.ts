// decode_layer_f32 (the fused single-token decoder block) against the same block composed of the
// separate kernels: bit for bit against the native ones (it shares their row, GEMV, rotary and
// attention routines) on every ISA level this CPU runs, within float tolerance against the
// TypeScript reference ones; one thread and two give the same bits; f32 and bf16 weights, biases,
// Gemma's 1+w norm, every activation, parallel residual, interleaved / partial / no rotary, GQA and
// MQA, odd sizes, LoRA adapters (f32, bf16 and mixed factors), packed q8_0/q4_0 weights, q/k norms
// per head (Qwen3; Gemma 3 with the 1+w norm) and over the whole projection (OLMo-2), norms after
// the sublayers only (OLMo-2) or before and after (Gemma 2/3), sliding windows and logit soft-caps
// (Gemma 2/3); and every kind of bad argument.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type Kernels, native, reference as ref, type NativeAddon, type ActCode } from '../../src/tensor/kernels.js';
import { packedBytes } from '../../src/tensor/ref/quant.js';
import { assertClose, randn, skipWithoutNative, forEachIsa } from '../helpers.js';

const skip = skipWithoutNative(native);
const k = native as NativeAddon;

interface Case {
  D: number; H: number; Hkv: number; Dh: number; F: number; pos: number; rotDim: number;
  interleaved: 0 | 1; plusOne: 0 | 1; act: ActCode; parallel: 0 | 1; bf16: boolean; biases: boolean;
  /** LoRA rank on every projection (0: none); A in bf16 when loraBf16[0], B when loraBf16[1] */
  rank?: number; loraBf16?: [boolean, boolean];
  /** every matrix packed in this block type (8 q8_0, 2 q4_0) instead of f32/bf16 */
  quant?: 8 | 2;
  /** RMSNorm of q and k before the rotary: of every head (Qwen3) or of the whole projection (OLMo-2) */
  qkNorm?: 'perHead' | 'whole';
  /** where the sublayers' norms sit (models/layer.ts): before (default), after (OLMo-2), both (Gemma 2/3) */
  placement?: 'pre' | 'post' | 'sandwich';
  /** attention's sliding window and logit soft-cap (0: none) */
  window?: number; softcap?: number;
}

const base: Case = { D: 33, H: 4, Hkv: 2, Dh: 8, F: 7, pos: 5, rotDim: 8, interleaved: 0, plusOne: 0, act: 0, parallel: 0, bf16: true, biases: false };
// Sizes 1, 7, 33 and 1000 among D, F, Dh and the cache position; every option at least once.
const CASES: Case[] = [
  base,
  { ...base, D: 1, H: 1, Hkv: 1, Dh: 1, F: 1, pos: 0, rotDim: 0 },
  { ...base, D: 7, H: 3, Hkv: 1, Dh: 7, F: 33, pos: 33, rotDim: 6, biases: true, bf16: false },
  { ...base, D: 64, H: 8, Hkv: 8, Dh: 8, F: 1000, pos: 1000, rotDim: 4, interleaved: 1, act: 1, plusOne: 1 },
  { ...base, D: 48, H: 2, Hkv: 2, Dh: 33, F: 40, pos: 1, rotDim: 32, act: 2, parallel: 1, biases: true },
  { ...base, D: 20, H: 6, Hkv: 3, Dh: 16, F: 24, pos: 70, rotDim: 16, act: 3, bf16: false },
  { ...base, rank: 4, loraBf16: [false, false], bf16: false, biases: true },
  { ...base, D: 40, F: 70, pos: 17, rank: 8, loraBf16: [true, true] },
  { ...base, D: 7, H: 3, Hkv: 1, Dh: 7, F: 33, pos: 3, rotDim: 6, rank: 1, loraBf16: [true, false], bf16: false },
  { ...base, rank: 33, loraBf16: [false, true] },
  { ...base, D: 64, H: 4, Hkv: 2, Dh: 16, F: 96, pos: 9, rotDim: 16, biases: true, bf16: false, quant: 8 },
  { ...base, D: 64, H: 8, Hkv: 2, Dh: 8, F: 160, pos: 30, rotDim: 8, act: 1, bf16: false, quant: 2, rank: 4, loraBf16: [true, false] },
  { ...base, D: 32, H: 2, Hkv: 1, Dh: 16, F: 32, pos: 2, rotDim: 8, plusOne: 1, parallel: 1, bf16: false, quant: 8, rank: 3 },
  // per-head q/k norms: with every weight type, adapters, odd and one-value heads, Gemma 3's 1+w, Qwen3's 128-wide heads
  { ...base, qkNorm: 'perHead' },
  { ...base, D: 1, H: 1, Hkv: 1, Dh: 1, F: 1, pos: 0, rotDim: 0, qkNorm: 'perHead' },
  { ...base, D: 7, H: 3, Hkv: 1, Dh: 7, F: 33, pos: 33, rotDim: 6, biases: true, bf16: false, qkNorm: 'perHead' },
  { ...base, D: 64, H: 8, Hkv: 8, Dh: 8, F: 100, pos: 200, rotDim: 8, interleaved: 1, act: 1, plusOne: 1, qkNorm: 'perHead' },
  { ...base, D: 48, H: 2, Hkv: 2, Dh: 33, F: 40, pos: 1, rotDim: 32, act: 2, parallel: 1, biases: true, qkNorm: 'perHead' },
  { ...base, D: 64, H: 4, Hkv: 2, Dh: 128, F: 64, pos: 40, rotDim: 128, qkNorm: 'perHead' },
  { ...base, rank: 4, loraBf16: [false, true], bf16: false, biases: true, qkNorm: 'perHead' },
  { ...base, D: 64, H: 4, Hkv: 2, Dh: 16, F: 96, pos: 9, rotDim: 16, biases: true, bf16: false, quant: 8, qkNorm: 'perHead' },
  { ...base, D: 64, H: 8, Hkv: 2, Dh: 8, F: 160, pos: 30, rotDim: 8, act: 1, bf16: false, quant: 2, rank: 4, loraBf16: [true, false], qkNorm: 'perHead' },
  // OLMo-2 (norms after the sublayers, q/k normed over the whole projection), Gemma 2/3 (before and
  // after; Gemma 3's per-head q/k norms with 1+w), and the other mixes, parallel residual among them
  { ...base, placement: 'post', qkNorm: 'whole' },
  { ...base, D: 7, H: 3, Hkv: 1, Dh: 7, F: 33, pos: 33, rotDim: 6, biases: true, bf16: false, placement: 'post', qkNorm: 'whole' },
  { ...base, D: 64, H: 4, Hkv: 2, Dh: 16, F: 96, pos: 9, rotDim: 16, bf16: false, quant: 8, rank: 4, placement: 'post', qkNorm: 'whole' },
  { ...base, D: 64, H: 8, Hkv: 2, Dh: 8, F: 160, pos: 30, rotDim: 8, act: 1, bf16: false, quant: 2, placement: 'post' },
  { ...base, D: 48, H: 2, Hkv: 2, Dh: 33, F: 40, pos: 1, rotDim: 32, act: 2, parallel: 1, biases: true, placement: 'post', qkNorm: 'whole' },
  { ...base, D: 64, H: 8, Hkv: 8, Dh: 8, F: 100, pos: 200, rotDim: 8, act: 1, plusOne: 1, placement: 'sandwich', qkNorm: 'perHead' },
  { ...base, rank: 4, loraBf16: [false, true], bf16: false, plusOne: 1, placement: 'sandwich', qkNorm: 'perHead' },
  { ...base, D: 32, H: 2, Hkv: 1, Dh: 16, F: 32, pos: 2, rotDim: 8, parallel: 1, bf16: false, quant: 8, placement: 'sandwich', qkNorm: 'whole' },
  { ...base, D: 1, H: 1, Hkv: 1, Dh: 1, F: 1, pos: 0, rotDim: 0, placement: 'sandwich', qkNorm: 'whole' },
  { ...base, D: 20, H: 6, Hkv: 3, Dh: 16, F: 24, pos: 70, rotDim: 0, act: 3, bf16: false, placement: 'pre', qkNorm: 'whole' },
  // Gemma 2 (window, soft-cap, norms before and after) and Gemma 3 (window, per-head q/k norms): windows
  // shorter than, equal to and longer than the cache, cut inside and across a 16-key group
  { ...base, D: 64, H: 8, Hkv: 4, Dh: 8, F: 100, pos: 200, rotDim: 8, act: 1, plusOne: 1, placement: 'sandwich', window: 37, softcap: 50 },
  { ...base, D: 64, H: 4, Hkv: 1, Dh: 16, F: 96, pos: 40, rotDim: 16, act: 1, plusOne: 1, placement: 'sandwich', qkNorm: 'perHead', window: 5, bf16: false, quant: 8 },
  { ...base, pos: 5, window: 6, softcap: 2 },
  { ...base, pos: 33, window: 1, rank: 4, loraBf16: [true, true] },
  { ...base, D: 7, H: 3, Hkv: 1, Dh: 7, F: 33, pos: 1000, rotDim: 6, bf16: false, window: 16, softcap: 0.5 },
  { ...base, D: 48, H: 2, Hkv: 2, Dh: 33, F: 40, pos: 100, rotDim: 32, act: 2, softcap: 30 },
];
const name = (c: Case) => JSON.stringify(c);

function toBf16(x: Float32Array): Uint16Array {
  const out = new Uint16Array(x.length);
  ref.f32_to_bf16(out, x, x.length);
  return out;
}

/** Random weights and a cache whose rows 0..pos−1 hold earlier tokens. */
function inputs(c: Case, seed: number) {
  const qd = c.H * c.Dh, kvd = c.Hkv * c.Dh;
  const mat = (n: number, m: number, s: number): Float32Array | Uint16Array | Uint8Array => {
    const w = randn(n * m, seed + s, 1 / Math.sqrt(m));
    if (c.quant) {
      const packed = new Uint8Array(packedBytes(c.quant, n, m));
      ref.quantize_q(packed, w, n, m, c.quant);
      return packed;
    }
    return c.bf16 ? toBf16(w) : w;
  };
  const vec = (n: number, s: number, scale = 0.5) => randn(n, seed + s, scale);
  const bias = (n: number, s: number) => (c.biases ? vec(n, s) : null);
  const factor = (n: number, m: number, s: number, bf16: boolean) => {
    const w = randn(n * m, seed + s, 0.5 / Math.sqrt(m));
    return bf16 ? toBf16(w) : w;
  };
  // (A, B) per projection [out, in], in the order q, k, v, o, gate, up, down
  const adapter = (n: number, m: number, s: number) => {
    const r = c.rank ?? 0, [ab, bb] = c.loraBf16 ?? [false, false];
    return r > 0 ? { a: factor(r, m, 40 + s, ab), b: factor(n, r, 60 + s, bb) } : null;
  };
  const cap = c.pos + 3;
  const qkWidth = (heads: number) => (c.qkNorm === 'whole' ? heads * c.Dh : c.Dh);
  const near1 = (n: number, s: number) => Float32Array.from(randn(n, seed + s, 0.3), (v) => 1 + v);
  return {
    x: vec(c.D, 1, 1), attnNorm: vec(c.D, 2), mlpNorm: vec(c.D, 3), qNorm: near1(qkWidth(c.H), 20), kNorm: near1(qkWidth(c.Hkv), 21),
    postAttnNorm: near1(c.D, 22), postMlpNorm: near1(c.D, 23),
    wq: mat(qd, c.D, 4), wk: mat(kvd, c.D, 5), wv: mat(kvd, c.D, 6), wo: mat(c.D, qd, 7),
    wgate: mat(c.F, c.D, 8), wup: mat(c.F, c.D, 9), wdown: mat(c.D, c.F, 10),
    bq: bias(qd, 11), bk: bias(kvd, 12), bv: bias(kvd, 13), bo: bias(c.D, 14), bgate: bias(c.F, 15), bup: bias(c.F, 16), bdown: bias(c.D, 17),
    invFreq: Float32Array.from({ length: c.rotDim / 2 }, (_, i) => Math.pow(10000, (-2 * i) / Math.max(c.rotDim, 1))),
    kCache: randn(cap * kvd, seed + 18), vCache: randn(cap * kvd, seed + 19),
    lora: [adapter(qd, c.D, 1), adapter(kvd, c.D, 2), adapter(kvd, c.D, 3), adapter(c.D, qd, 4), adapter(c.F, c.D, 5), adapter(c.F, c.D, 6), adapter(c.D, c.F, 7)],
  };
}
type Inputs = ReturnType<typeof inputs>;

/** The fused kernel on copies of the caches: y and both caches. */
function fused(c: Case, a: Inputs) {
  const y = new Float32Array(c.D), kc = a.kCache.slice(), vc = a.vCache.slice();
  const pre = c.placement !== 'post', post = (c.placement ?? 'pre') !== 'pre';
  k.decode_layer_f32(
    y, kc, vc, a.x, pre ? a.attnNorm : null, a.wq, a.wk, a.wv, a.wo, pre ? a.mlpNorm : null, a.wgate, a.wup, a.wdown,
    a.bq, a.bk, a.bv, a.bo, a.bgate, a.bup, a.bdown, a.invFreq,
    c.D, c.H, c.Hkv, c.Dh, c.F, c.pos, c.rotDim, c.interleaved, 1e-5, c.plusOne, c.act, c.parallel, 1 / Math.sqrt(c.Dh),
    c.rank ? a.lora.flatMap((l) => [l!.a, l!.b]) : null, c.quant ? new Int32Array(7).fill(c.quant) : null,
    c.qkNorm ? a.qNorm : null, c.qkNorm ? a.kNorm : null, post ? a.postAttnNorm : null, post ? a.postMlpNorm : null, c.window ?? 0, c.softcap ?? 0,
  );
  return { y, kc, vc };
}

/** The same block from the separate kernels, in the order models/layer.ts composes them. */
function composed(kern: Kernels, c: Case, a: Inputs) {
  const qd = c.H * c.Dh, kvd = c.Hkv * c.Dh;
  const kc = a.kCache.slice(), vc = a.vCache.slice();
  const add = (x: Float32Array, y: Float32Array) => {
    const out = new Float32Array(x.length);
    kern.add_f32(out, x, y, x.length);
    return out;
  };
  const plain = (x: Float32Array, w: Float32Array | Uint16Array | Uint8Array, b: Float32Array | null, N: number, K: number) => {
    const y = new Float32Array(N);
    if (w instanceof Uint8Array) kern.linear_q(y, x, w, 1, N, K, c.quant!, 0);
    else if (w instanceof Uint16Array) kern.linear_bf16w(y, x, w, 1, N, K, 0);
    else kern.gemm_f32(y, x, w, 1, N, K, 0, 1, 0);
    if (b) kern.add_bias_f32(y, b, 1, N);
    return y;
  };
  // projection i (q, k, v, o, gate, up, down): linear with bias, then + (x·Aᵀ)·Bᵀ (models/decoder.ts linearWithLora)
  const linear = (x: Float32Array, w: Float32Array | Uint16Array | Uint8Array, b: Float32Array | null, N: number, K: number, i: number) => {
    const y = plain(x, w, b, N, K), l = a.lora[i];
    if (!l) return y;
    const r = c.rank!;
    return add(y, plain(plain(x, l.a, null, r, K), l.b, null, N, r));
  };
  const norm = (x: Float32Array, w: Float32Array) => {
    const y = new Float32Array(c.D);
    kern.rmsnorm_fwd_f32(y, null, x, w, 1, c.D, 1e-5, c.plusOne);
    return y;
  };
  // q or k [heads, Dh]: each head normed (the decoder's qkNorm over [rows, heads, Dh]), or the whole row
  const headNorm = (x: Float32Array, w: Float32Array, heads: number) => {
    if (!c.qkNorm) return x;
    const y = new Float32Array(x.length);
    if (c.qkNorm === 'whole') kern.rmsnorm_fwd_f32(y, null, x, w, 1, heads * c.Dh, 1e-5, c.plusOne);
    else kern.rmsnorm_fwd_f32(y, null, x, w, heads, c.Dh, 1e-5, c.plusOne);
    return y;
  };
  const pre = c.placement !== 'post', post = (c.placement ?? 'pre') !== 'pre';
  const pos = Int32Array.of(c.pos);
  const h = pre ? norm(a.x, a.attnNorm) : a.x;
  const q = headNorm(linear(h, a.wq, a.bq, qd, c.D, 0), a.qNorm, c.H), kk = headNorm(linear(h, a.wk, a.bk, kvd, c.D, 1), a.kNorm, c.Hkv);
  const v = linear(h, a.wv, a.bv, kvd, c.D, 2);
  kern.rope_f32(q, pos, a.invFreq, 1, c.H, c.Dh, c.rotDim, c.interleaved, 0);
  kern.rope_f32(kk, pos, a.invFreq, 1, c.Hkv, c.Dh, c.rotDim, c.interleaved, 0);
  kc.set(kk, c.pos * kvd);
  vc.set(v, c.pos * kvd);
  const att = new Float32Array(qd);
  kern.attention_fwd_f32(att, null, q, kc, vc, 1, c.pos + 1, c.H, c.Hkv, c.Dh, c.pos, 1 / Math.sqrt(c.Dh), c.window ?? 0, c.softcap ?? 0);
  const o = linear(att, a.wo, a.bo, c.D, qd, 3);
  const x1 = add(a.x, post ? norm(o, a.postAttnNorm) : o);
  // without a norm the MLP reads x1, parallel residual or not (models/layer.ts)
  const h2 = pre ? norm(c.parallel ? a.x : x1, a.mlpNorm) : x1;
  const g = new Float32Array(c.F);
  kern.glu_fwd_f32(g, linear(h2, a.wgate, a.bgate, c.F, c.D, 4), linear(h2, a.wup, a.bup, c.F, c.D, 5), c.F, c.act);
  const m = linear(g, a.wdown, a.bdown, c.D, c.F, 6);
  const y = add(x1, post ? norm(m, a.postMlpNorm) : m);
  return { y, kc, vc };
}

function assertSameBits(got: Float32Array, want: Float32Array, label: string): void {
  const a = new Uint32Array(got.buffer, got.byteOffset, got.length), b = new Uint32Array(want.buffer, want.byteOffset, want.length);
  const i = a.findIndex((x, j) => x !== b[j]);
  assert.equal(i, -1, `${label}: first difference at [${i}]: ${got[i]} vs ${want[i]}`);
}

test('decode_layer_f32 equals the composed native kernels bit for bit on every ISA level', { skip }, () => {
  CASES.forEach((c, i) => {
    const a = inputs(c, 100 * i);
    forEachIsa(k, (isa) => {
      const got = fused(c, a), want = composed(k, c, a);
      assertSameBits(got.y, want.y, `y ${isa} ${name(c)}`);
      assertSameBits(got.kc, want.kc, `kCache ${isa} ${name(c)}`);
      assertSameBits(got.vc, want.vc, `vCache ${isa} ${name(c)}`);
    });
  });
});

test('decode_layer_f32 matches the block composed of the TypeScript reference kernels', { skip }, () => {
  CASES.forEach((c, i) => {
    const a = inputs(c, 100 * i + 7);
    const got = fused(c, a), want = composed(ref, c, a);
    assertClose(got.y, want.y, { rel: 1e-5, abs: 1e-6, label: `y ${name(c)}` });
    assertClose(got.kc, want.kc, { rel: 1e-5, abs: 1e-6, label: `kCache ${name(c)}` });
    assertClose(got.vc, want.vc, { rel: 1e-5, abs: 1e-6, label: `vCache ${name(c)}` });
  });
});

test('decode_layer_f32 gives the same bits on one thread and on two (a layer big enough to split)', { skip }, () => {
  // ~3.6 M multiply-adds: above the kernel's threading threshold; q4_0 with 8-wide heads: the
  // threads' head ranges cut the 16-row panels of the packed weights
  for (const c of [
    { ...base, D: 256, H: 4, Hkv: 2, Dh: 64, F: 1800, pos: 300, rotDim: 64, biases: true },
    { ...base, D: 256, H: 32, Hkv: 4, Dh: 8, F: 1824, pos: 300, rotDim: 8, biases: true, bf16: false, quant: 2 },
    { ...base, D: 256, H: 4, Hkv: 2, Dh: 64, F: 1800, pos: 300, rotDim: 64, qkNorm: 'perHead' },
    { ...base, D: 256, H: 32, Hkv: 4, Dh: 8, F: 1824, pos: 300, rotDim: 8, bf16: false, quant: 2, qkNorm: 'perHead' },
    { ...base, D: 256, H: 32, Hkv: 4, Dh: 8, F: 1824, pos: 300, rotDim: 8, bf16: false, quant: 2, placement: 'post', qkNorm: 'whole' },
    { ...base, D: 256, H: 4, Hkv: 2, Dh: 64, F: 1800, pos: 300, rotDim: 64, plusOne: 1, placement: 'sandwich', qkNorm: 'perHead', rank: 8 },
    { ...base, D: 256, H: 4, Hkv: 2, Dh: 64, F: 1800, pos: 300, rotDim: 64, plusOne: 1, placement: 'sandwich', window: 100, softcap: 50 },
  ] as Case[])
    sameBitsOnThreads(c);
});

function sameBitsOnThreads(c: Case): void {
  const a = inputs(c, 5);
  const prev = k.get_threads();
  try {
    k.set_threads(1);
    const one = fused(c, a);
    k.set_threads(2);
    const two = fused(c, a);
    assertSameBits(two.y, one.y, 'y');
    assertSameBits(two.kc, one.kc, 'kCache');
    assertSameBits(two.vc, one.vc, 'vCache');
    assertSameBits(two.y, composed(k, c, a).y, 'y against the composed kernels at two threads');
  } finally {
    k.set_threads(prev);
  }
}

test('decode_layer_f32 writes only cache row pos', { skip }, () => {
  const c = CASES[2];
  const a = inputs(c, 9);
  const { kc, vc } = fused(c, a);
  const kvd = c.Hkv * c.Dh, row = (x: Float32Array, r: number) => x.subarray(r * kvd, (r + 1) * kvd);
  for (let r = 0; r < kc.length / kvd; r++) {
    if (r === c.pos) continue;
    assertSameBits(row(kc, r), row(a.kCache, r), `kCache row ${r}`);
    assertSameBits(row(vc, r), row(a.vCache, r), `vCache row ${r}`);
  }
});

test('decode_layer_f32 rejects bad arguments with the op name and the numbers', { skip }, () => {
  const c = CASES[0];
  const a = inputs(c, 3);
  const args = (): unknown[] => [
    new Float32Array(c.D), a.kCache.slice(), a.vCache.slice(), a.x, a.attnNorm, a.wq, a.wk, a.wv, a.wo, a.mlpNorm, a.wgate, a.wup, a.wdown,
    a.bq, a.bk, a.bv, a.bo, a.bgate, a.bup, a.bdown, a.invFreq,
    c.D, c.H, c.Hkv, c.Dh, c.F, c.pos, c.rotDim, 0, 1e-5, 0, 0, 0, 0.25, null, null, null, null, null, null, 0, 0,
  ];
  const r = 3, lora = () => [new Float32Array(r * c.D), new Uint16Array(c.H * c.Dh * r), ...Array.from({ length: 12 }, () => null)];
  const call = (edit: (x: unknown[]) => void) => () => {
    const x = args();
    edit(x);
    (k.decode_layer_f32 as (...a: unknown[]) => void)(...x);
  };
  const range = (edit: (x: unknown[]) => void, msg: RegExp) => assert.throws(call(edit), { name: 'RangeError', message: msg });
  const type = (edit: (x: unknown[]) => void, msg: RegExp) => assert.throws(call(edit), { name: 'TypeError', message: msg });
  assert.doesNotThrow(call(() => {}));
  type((x) => x.pop(), /\[decode_layer_f32\] expected 42 arguments, got 41/);
  // attention variants: a non-negative integer window, a soft-cap 0 or a normal positive float
  assert.doesNotThrow(call((x) => ((x[40] = 3), (x[41] = 50))));
  range((x) => (x[40] = -1), /window must be a non-negative integer, got -1/);
  range((x) => (x[40] = 2.5), /window must be a non-negative integer/);
  range((x) => (x[41] = -1), /softcap must be ≥ 0 \(0: no capping\), got -1/);
  range((x) => (x[41] = 1e-40), /softcap 1e-40 does not fit a normal float/);
  type((x) => (x[41] = 'x'), /softcap must be a number/);
  // q/k norms: Dh f32 values (each head) or heads·Dh (the whole projection), nothing else; read-only
  assert.doesNotThrow(call((x) => ((x[36] = a.qNorm), (x[37] = a.kNorm))));
  assert.doesNotThrow(call((x) => (x[37] = a.kNorm)));
  assert.doesNotThrow(call((x) => ((x[36] = new Float32Array(c.H * c.Dh)), (x[37] = new Float32Array(c.Hkv * c.Dh)))));
  range((x) => (x[36] = new Float32Array(c.Dh - 1)), /\[decode_layer_f32\] qNorm has 7 elements, expected Dh = 8 \(each head\) or heads·Dh = 32 \(the whole projection\)/);
  range((x) => (x[36] = new Float32Array(c.Hkv * c.Dh)), /qNorm has 16 elements, expected Dh = 8 \(each head\) or heads·Dh = 32/);
  range((x) => (x[37] = new Float32Array(c.H * c.Dh)), /kNorm has 32 elements, expected Dh = 8 \(each head\) or heads·Dh = 16/);
  range((x) => (x[37] = new Float32Array(c.Dh + 1)), /kNorm has 9 elements/);
  range((x) => (x[37] = new Float32Array(0)), /kNorm has 0 elements/);
  type((x) => (x[36] = new Float64Array(c.Dh)), /qNorm must be a Float32Array/);
  type((x) => (x[37] = [1, 1, 1, 1, 1, 1, 1, 1]), /kNorm must be a Float32Array/);
  range((x) => (x[37] = (x[1] as Float32Array).subarray(0, c.Dh)), /kCache and kNorm must not overlap/);
  range((x) => (x[36] = (x[0] as Float32Array).subarray(0, c.Dh)), /y and qNorm must not overlap/);
  range((x) => (x[37] = (x[2] as Float32Array).subarray(0, c.Hkv * c.Dh)), /vCache and kNorm must not overlap/);
  // norms before the sublayers may be absent, norms after them present: D f32 values each
  assert.doesNotThrow(call((x) => ((x[4] = null), (x[9] = null), (x[38] = a.attnNorm), (x[39] = a.mlpNorm))));
  range((x) => (x[38] = new Float32Array(c.D - 1)), /postAttnNorm has 32 elements, expected D = 33/);
  range((x) => (x[39] = new Float32Array(3)), /postMlpNorm has 3 elements, expected D = 33/);
  range((x) => (x[9] = new Float32Array(c.D - 1)), /mlpNorm has 32 elements, expected D = 33/);
  type((x) => (x[38] = new Uint16Array(c.D)), /postAttnNorm must be a Float32Array/);
  range((x) => (x[39] = (x[1] as Float32Array).subarray(0, c.D)), /kCache and postMlpNorm must not overlap/);
  range((x) => (x[38] = (x[0] as Float32Array)), /y and postAttnNorm must not overlap/);
  // packed weights: the qtypes entry names the type, the byte count must match it and rows must be whole blocks
  range((x) => (x[35] = Int32Array.of(8, 0, 0, 0, 0, 0, 0)), /wq is q8_0 but its rows \(33 values\) are not whole 32-value blocks/);
  range((x) => (x[35] = Int32Array.of(0, 0, 0, 0, 0, 0, 3)), /qtypes\[6\] must be 0, 8 \(q8_0\) or 2 \(q4_0\), got 3/);
  range((x) => (x[35] = Int32Array.of(0, 0, 0)), /qtypes has 3 elements, expected 7 projections = 7/);
  assert.doesNotThrow(call((x) => (x[34] = lora())));
  type((x) => (x[34] = lora().slice(0, 13)), /adapters must be null or an Array of 14 entries/);
  type((x) => (x[34] = [new Int32Array(r * c.D), ...lora().slice(1)]), /adapter A of q must be a Float32Array \(f32\) or a Uint16Array \(bf16\)/);
  range((x) => (x[34] = [new Float32Array(r * c.D + 1), ...lora().slice(1)]), /adapter A of q has 100 elements, expected a positive multiple of 33/);
  range((x) => (x[34] = [lora()[0], new Uint16Array(c.H * c.Dh * r - 1), ...lora().slice(2)]), /adapter B of q has 95 elements, expected 96/);
  type((x) => (x[34] = [lora()[0], null, ...lora().slice(2)]), /adapter B of q must be a Float32Array/);
  range((x) => {
    const l: unknown[] = lora();
    l[0] = new Float32Array((x[1] as Float32Array).buffer, 0, r * c.D); // A inside the key cache
    x[34] = l;
  }, /kCache and an adapter must not overlap/);
  type((x) => (x[5] = new Int32Array(c.H * c.Dh * c.D)), /wq must be a Float32Array \(f32\) or a Uint16Array \(bf16\)/);
  type((x) => (x[3] = new Uint16Array(c.D)), /x must be a Float32Array/);
  type((x) => (x[13] = new Uint16Array(c.H * c.Dh)), /bq must be a Float32Array/);
  range((x) => (x[10] = new Uint16Array(c.F * c.D - 1)), /wgate has 230 elements, expected F·D = 231/);
  range((x) => (x[12] = new Float32Array(c.F * c.D - 1)), /wdown has 230 elements, expected D·F = 231/);
  range((x) => (x[14] = new Float32Array(c.Hkv * c.Dh - 1)), /bk has 15 elements, expected its weight's rows = 16/);
  range((x) => (x[1] = new Float32Array(c.pos * c.Hkv * c.Dh)), /kCache has 80 elements, expected \(pos\+1\)·Hkv·Dh = 96/);
  range((x) => (x[26] = 100), /kCache has 128 elements, expected \(pos\+1\)·Hkv·Dh = 1616/);
  range((x) => (x[20] = new Float32Array(3)), /invFreq has 3 elements, expected rotDim\/2 = 4/);
  range((x) => (x[22] = 3), /H = 3 must be a multiple of Hkv = 2/);
  range((x) => (x[23] = 0), /Hkv must be an integer in \[1, /);
  range((x) => (x[21] = 2.5), /D must be an integer in \[1, /);
  range((x) => (x[26] = -1), /pos must be an integer in \[0, 2147483647\], got -1/);
  range((x) => (x[26] = 2 ** 31), /pos must be an integer in \[0, 2147483647\]/);
  range((x) => (x[27] = 7), /rotDim must be even, got 7/);
  range((x) => (x[27] = 10), /rotDim 10 exceeds the head dim Dh = 8/);
  range((x) => (x[28] = 2), /interleaved must be an integer in \[0, 1\]/);
  range((x) => (x[29] = -1), /eps must be ≥ 0, got -1/);
  range((x) => (x[31] = 4), /act must be an integer in \[0, 3\]/);
  range((x) => (x[33] = Infinity), /scale must be finite/);
  range((x) => (x[0] = x[3]), /y and x must not overlap/);
  range((x) => (x[2] = (x[1] as Float32Array).subarray(16)), /kCache and vCache must not overlap/);
  range((x) => (x[3] = (x[1] as Float32Array).subarray(0, c.D)), /kCache and x must not overlap/);
  range((x) => {
    const big = new Float32Array(c.H * c.Dh * c.D);
    x[2] = big;
    x[5] = new Uint16Array(big.buffer, 0, c.H * c.Dh * c.D);
  }, /vCache and wq must not overlap/);
});
