// Activations (silu, gelu tanh, gelu erf, relu) and gated units: native against
// the TS reference for n in ODD_SIZES; both backward passes against central finite
// differences of float64 forwards written here (gelu erf through an erf integrated by
// Simpson's rule, independent of the reference's series); published values; in-place
// use; argument validation. Tolerance native vs ref: 1e-6 of max|ref|.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Act, native, reference as ref, type ActCode, type Kernels } from '../../src/tensor/kernels.js';
import { ODD_SIZES, assertClose, randn, randu, skipWithoutNative } from '../helpers.js';

const skip = skipWithoutNative(native);
const nat = native!;
const impls: [string, Kernels][] = native ? [['native', native], ['ref', ref]] : [['ref', ref]];
const CODES: ActCode[] = [Act.silu, Act.geluTanh, Act.geluErf, Act.relu];
const NAMES = ['silu', 'gelu-tanh', 'gelu-erf', 'relu'];

/** erf by composite Simpson's rule on 2/√π·e^{−t²} (4000 panels: ~1e-15 for |x| ≤ 6). */
function erfSimpson(x: number): number {
  const N = 4000, h = x / N;
  let s = 1 + Math.exp(-x * x);
  for (let i = 1; i < N; i++) s += (i % 2 ? 4 : 2) * Math.exp(-((i * h) ** 2));
  return ((2 / Math.sqrt(Math.PI)) * s * h) / 3;
}

/** float64 forwards from the definitions: x·σ(x); PyTorch's tanh form; x·Φ(x); max(x, 0). */
const ACT64 = [
  (x: number) => x / (1 + Math.exp(-x)),
  (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))),
  (x: number) => 0.5 * x * (1 + erfSimpson(x / Math.SQRT2)),
  (x: number) => Math.max(x, 0),
];

const fd = (f: (x: number) => number, x: number, h = 1e-5) => (f(x + h) - f(x - h)) / (2 * h);

test('act and glu, forward and backward: native matches the reference for n in ODD_SIZES and every act code', { skip }, () => {
  for (const n of ODD_SIZES)
    for (const act of CODES) {
      const tag = `${NAMES[act]} n=${n}`;
      const x = randn(n, n + act, 3), up = randn(n, n + 10), dy = randn(n, n + 20);
      const run = (f: (k: Kernels, outs: Float32Array[]) => void, nOut: number, what: string) => {
        const oN = Array.from({ length: nOut }, () => new Float32Array(n)), oR = Array.from({ length: nOut }, () => new Float32Array(n));
        f(nat, oN);
        f(ref, oR);
        oN.forEach((o, i) => assertClose(o, oR[i], { rel: 1e-6, label: `${tag} ${what}[${i}]` }));
      };
      run((k, [y]) => k.act_fwd_f32(y, x, n, act), 1, 'act_fwd');
      run((k, [dx]) => k.act_bwd_f32(dx, dy, x, n, act), 1, 'act_bwd');
      run((k, [o]) => k.glu_fwd_f32(o, x, up, n, act), 1, 'glu_fwd');
      run((k, [dg, du]) => k.glu_bwd_f32(dg, du, dy, x, up, n, act), 2, 'glu_bwd');
    }
});

test('act_bwd and glu_bwd equal finite differences of float64 forwards for every act code', () => {
  const n = 64;
  // relu's kink at 0 has no derivative: keep |x| ≥ 0.01 so the central difference never straddles it.
  const x = Float32Array.from(randu(n, 1, -5, 5), (v) => (Math.abs(v) < 0.01 ? 0.5 : v));
  const up = randn(n, 2), r = randn(n, 3);
  for (const act of CODES) {
    const f = ACT64[act];
    const dAct = Array.from(x, (xi, i) => r[i] * fd(f, xi));
    const dGate = Array.from(x, (xi, i) => r[i] * up[i] * fd(f, xi));
    const dUp = Array.from(x, (xi, i) => r[i] * f(xi));
    for (const [name, k] of impls) {
      const tag = `${name} ${NAMES[act]}`;
      const y = new Float32Array(n), dx = new Float32Array(n), dg = new Float32Array(n), du = new Float32Array(n);
      k.act_fwd_f32(y, x, n, act);
      assertClose(y, Array.from(x, f), { rel: 1e-6, label: `${tag} forward vs float64` });
      k.act_bwd_f32(dx, r, x, n, act);
      assertClose(dx, dAct, { rel: 1e-5, label: `${tag} act_bwd vs finite differences` });
      k.glu_bwd_f32(dg, du, r, x, up, n, act);
      assertClose(dg, dGate, { rel: 1e-5, label: `${tag} dgate vs finite differences` });
      assertClose(du, dUp, { rel: 1e-5, label: `${tag} dup vs finite differences` });
    }
  }
});

test('extreme inputs (x in [−100, 100], where exp overflows or flushes to 0) give no NaN and match the reference per element', { skip }, () => {
  const n = 2001, x = Float32Array.from({ length: n }, (_, i) => -100 + i / 10), dy = new Float32Array(n).fill(1);
  for (const act of CODES) {
    const fN = new Float32Array(n), fR = new Float32Array(n), bN = new Float32Array(n), bR = new Float32Array(n);
    nat.act_fwd_f32(fN, x, n, act);
    ref.act_fwd_f32(fR, x, n, act);
    nat.act_bwd_f32(bN, dy, x, n, act);
    ref.act_bwd_f32(bR, dy, x, n, act);
    for (let i = 0; i < n; i++) {
      // fp32 keeps 1 + erf(x/√2) only to ~6e-8 absolute (PyTorch's formula too), hence the |x| term.
      const tol = (v: number) => 1e-5 * Math.abs(v) + 1e-7 * Math.max(1, Math.abs(x[i]));
      assert.ok(Math.abs(fN[i] - fR[i]) <= tol(fR[i]), `${NAMES[act]}(${x[i]}) = ${fN[i]}, reference ${fR[i]}`);
      assert.ok(Math.abs(bN[i] - bR[i]) <= tol(bR[i]), `${NAMES[act]}'(${x[i]}) = ${bN[i]}, reference ${bR[i]}`);
    }
  }
});

test('published values: silu(1) = σ(1), PyTorch gelu_tanh(1), gelu_erf(x) = x·Φ(x) from normal tables, relu', () => {
  const cases: [ActCode, number, number][] = [
    [Act.silu, 1, 0.7310585786300049],
    [Act.geluTanh, 1, 0.8411919906082768],
    [Act.geluErf, 1, 0.8413447460685429],
    [Act.geluErf, 0.5, 0.5 * 0.6914624612740131],
    [Act.geluErf, 2, 2 * 0.9772498680518208],
    [Act.geluErf, -1, -1 * 0.15865525393145707],
    [Act.geluErf, 3, 3 * 0.9986501019683699],
    [Act.relu, -2, 0],
    [Act.relu, 2, 2],
  ];
  // Φ(−3), Φ(−5): the far tail, where fp32 1 + erf(x) cancels (PyTorch's formula does too), so the reference only.
  const tail: [ActCode, number, number][] = [[Act.geluErf, -3, -3 * 1.3498980316301e-3], [Act.geluErf, -5, -5 * 2.8665157187919e-7]];
  for (const [name, k] of impls)
    for (const [act, x, expect] of name === 'ref' ? [...cases, ...tail] : cases) {
      const y = new Float32Array(1);
      k.act_fwd_f32(y, Float32Array.of(x), 1, act);
      assert.ok(Math.abs(y[0] - expect) <= 1.2e-7 * Math.abs(expect), `${name} ${NAMES[act]}(${x}) = ${y[0]}, expected ${expect}`);
    }
});

test('act_fwd, act_bwd, glu_fwd and glu_bwd may write over an input (out === input)', () => {
  const n = 33, x = randn(n, 4), up = randn(n, 5), dy = randn(n, 6);
  for (const [name, k] of impls)
    for (const act of CODES) {
      const y = new Float32Array(n), a = x.slice();
      k.act_fwd_f32(y, x, n, act);
      k.act_fwd_f32(a, a, n, act);
      assertClose(a, y, { rel: 0, label: `${name} act_fwd in place` });
      const dg = new Float32Array(n), du = new Float32Array(n), g2 = x.slice(), u2 = up.slice();
      k.glu_bwd_f32(dg, du, dy, x, up, n, act);
      k.glu_bwd_f32(g2, u2, dy, g2, u2, n, act);
      assertClose(g2, dg, { rel: 0, label: `${name} glu_bwd dgate over gate` });
      assertClose(u2, du, { rel: 0, label: `${name} glu_bwd dup over up` });
    }
});

test('glu_fwd gives the same bits on every ISA, on 1 and 2 threads (the AVX-512 build does not contract to FMA)', { skip }, () => {
  // the fused decode layer and the composed ops both run it; their results must agree bit for bit
  const { best, active } = nat.isa_info();
  const threadsBefore = nat.get_threads();
  const levels = ['scalar', 'avx2', 'avx512', 'avx512bf16'];
  const n = 40000 + 13, gate = randn(n, 21), up = randn(n, 22);
  for (let i = 0; i < 64; i++) gate[i] = [-100, -88, -87.3, 0, 88.3, 89, Infinity, -Infinity][i % 8] * (1 + i / 1000);
  try {
    for (const act of CODES) {
      nat.set_isa('scalar');
      const want = new Float32Array(n);
      nat.glu_fwd_f32(want, gate, up, n, act);
      for (const isa of levels.slice(1, levels.indexOf(best) + 1))
        for (const threads of [1, 2]) {
          nat.set_isa(isa as 'scalar');
          nat.set_threads(threads);
          const got = new Float32Array(n);
          nat.glu_fwd_f32(got, gate, up, n, act);
          assert.deepEqual(got, want, `${NAMES[act]} ${isa} threads=${threads}`);
        }
    }
  } finally {
    nat.set_isa(active as 'scalar');
    nat.set_threads(threadsBefore);
  }
});

test('act code outside 0..3 throws (native and reference); native rejects bad arguments', () => {
  const a = new Float32Array(4), b = new Float32Array(4), c = new Float32Array(4);
  const range = (fn: () => void, msg: RegExp) => assert.throws(fn, { name: 'RangeError', message: msg });
  const type = (fn: () => void, msg: RegExp) => assert.throws(fn, { name: 'TypeError', message: msg });
  for (const [, k] of impls)
    for (const act of [4, -1, 1.5]) {
      range(() => k.act_fwd_f32(a, b, 4, act as ActCode), /act must be an integer in \[0, 3\]/);
      range(() => k.act_bwd_f32(a, b, c, 4, act as ActCode), /act must be an integer in \[0, 3\]/);
      range(() => k.glu_fwd_f32(a, b, c, 4, act as ActCode), /act must be an integer in \[0, 3\]/);
      range(() => k.glu_bwd_f32(a, b, c, c, c, 4, act as ActCode), /act must be an integer in \[0, 3\]/);
    }
  if (!native) return;
  range(() => nat.act_fwd_f32(a, new Float32Array(3), 4, 0), /\[act_fwd_f32\] x has 3 elements, expected n = 4/);
  range(() => nat.act_bwd_f32(a, b, c, -4, 0), /n must be a non-negative integer/);
  range(() => nat.glu_fwd_f32(a, b, c, 0.5, 0), /n must be a non-negative integer/);
  type(() => nat.glu_fwd_f32(a, b, new Uint16Array(4) as unknown as Float32Array, 4, 0), /up must be a Float32Array/);
  range(() => nat.glu_bwd_f32(a, a, b, c, c, 4, 0), /dgate and dup must not overlap/);
  range(() => nat.glu_bwd_f32(a, b, c, a.subarray(1), c, 3, 0), /dgate and gate must not overlap/);
  range(() => nat.act_fwd_f32(a.subarray(1), a, 3, 0), /y and x must not overlap/);
});
