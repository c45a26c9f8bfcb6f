// SVDs for LoRA initialisation: exact Jacobi reconstructs and is orthonormal on tall, wide, square,
// rank-deficient and zero matrices and finds known singular values; the randomized SVD's truncation
// error stays within 2 % of the Eckart–Young optimum on a decaying spectrum; loraFactors reproduces R at full rank.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InputError, ShapeError } from '../../src/errors.js';
import { loraFactors, svdExact, svdRandomized, svdTruncated, type Svd } from '../../src/recursive/svd.js';
import { randn } from '../helpers.js';

/** ‖A − U·diag(S)·Vt‖_F, computed in float64. */
function reconError(A: ArrayLike<number>, s: Svd): number {
  const { m, n, r, U, S, Vt } = s;
  let e2 = 0;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let x = 0;
      for (let k = 0; k < r; k++) x += U[i * r + k] * S[k] * Vt[k * n + j];
      e2 += (A[i * n + j] - x) ** 2;
    }
  }
  return Math.sqrt(e2);
}

function frob(A: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < A.length; i++) s += A[i] * A[i];
  return Math.sqrt(s);
}

/** max |XᵀX − I| over the r columns of a row-major rows×r matrix. */
function orthoError(X: Float64Array, rows: number, r: number): number {
  let worst = 0;
  for (let a = 0; a < r; a++) {
    for (let b = a; b < r; b++) {
      let d = 0;
      for (let i = 0; i < rows; i++) d += X[i * r + a] * X[i * r + b];
      worst = Math.max(worst, Math.abs(d - (a === b ? 1 : 0)));
    }
  }
  return worst;
}

function transposed(X: Float64Array, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = X[i * cols + j];
  return out;
}

/** Checks every structural property of a thin SVD of A and returns the relative reconstruction error. */
function checkSvd(A: ArrayLike<number>, s: Svd, label: string, orthoTol = 1e-12): number {
  const { m, n, r } = s;
  assert.equal(r, Math.min(m, n), `${label}: r`);
  assert.equal(s.U.length, m * r, `${label}: U size`);
  assert.equal(s.Vt.length, r * n, `${label}: Vt size`);
  for (let k = 0; k < r; k++) {
    assert.ok(s.S[k] >= 0, `${label}: S[${k}] = ${s.S[k]} is negative`);
    if (k > 0) assert.ok(s.S[k] <= s.S[k - 1], `${label}: S not descending at ${k}: ${s.S[k - 1]}, ${s.S[k]}`);
  }
  const eu = orthoError(s.U, m, r);
  const ev = orthoError(transposed(s.Vt, r, n), n, r);
  assert.ok(eu < orthoTol, `${label}: UᵀU deviates from I by ${eu}`);
  assert.ok(ev < orthoTol, `${label}: V rows deviate from orthonormal by ${ev}`);
  const norm = frob(A);
  return norm === 0 ? reconError(A, s) : reconError(A, s) / norm;
}

/** rows×cols matrix with orthonormal columns (Gram–Schmidt twice on a Gaussian matrix), row-major, float64. */
function randomOrthonormal(rows: number, cols: number, seed: number): Float64Array {
  const g = randn(rows * cols, seed);
  const q = new Float64Array(rows * cols);
  for (let i = 0; i < q.length; i++) q[i] = g[i];
  for (let j = 0; j < cols; j++) {
    for (let pass = 0; pass < 2; pass++) {
      for (let c = 0; c < j; c++) {
        let d = 0;
        for (let i = 0; i < rows; i++) d += q[i * cols + c] * q[i * cols + j];
        for (let i = 0; i < rows; i++) q[i * cols + j] -= d * q[i * cols + c];
      }
    }
    let nrm = 0;
    for (let i = 0; i < rows; i++) nrm += q[i * cols + j] ** 2;
    nrm = Math.sqrt(nrm);
    for (let i = 0; i < rows; i++) q[i * cols + j] /= nrm;
  }
  return q;
}

/** A = Q1·diag(s)·Q2ᵀ, m×n, float64, with Q1 (m×k) and Q2 (n×k) random orthonormal, k = s.length. */
function withSpectrum(m: number, n: number, s: number[], seed: number): Float64Array {
  const k = s.length;
  const q1 = randomOrthonormal(m, k, seed);
  const q2 = randomOrthonormal(n, k, seed + 1);
  const a = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let x = 0;
      for (let c = 0; c < k; c++) x += q1[i * k + c] * s[c] * q2[j * k + c];
      a[i * n + j] = x;
    }
  }
  return a;
}

/** Relative error of the best rank-r approximation (Eckart–Young) from the full spectrum. */
function optimalError(s: ArrayLike<number>, r: number): number {
  let tail = 0, all = 0;
  for (let i = 0; i < s.length; i++) {
    all += s[i] * s[i];
    if (i >= r) tail += s[i] * s[i];
  }
  return Math.sqrt(tail / all);
}

test('svdExact reconstructs random tall, wide and square matrices to < 1e-10 with orthonormal U, V', () => {
  for (const [m, n, seed] of [[7, 5, 1], [5, 7, 2], [33, 33, 3], [160, 64, 4], [64, 160, 5], [1, 1, 6], [1, 9, 7], [9, 1, 8]]) {
    const A = randn(m * n, seed);
    const rel = checkSvd(A, svdExact(A, m, n), `${m}×${n}`);
    assert.ok(rel < 1e-10, `${m}×${n}: relative reconstruction error ${rel}`);
  }
});

test('svdExact of a 160×64 float32 matrix takes well under 100 ms of CPU time', (t) => {
  const A = randn(160 * 64, 11);
  svdExact(A, 160, 64); // warm-up (JIT)
  const reps = 5;
  const c0 = process.cpuUsage(), t0 = performance.now();
  for (let i = 0; i < reps; i++) svdExact(A, 160, 64);
  const cpu = process.cpuUsage(c0);
  const ms = (cpu.user + cpu.system) / 1000 / reps; // CPU time: other processes on the machine do not count
  t.diagnostic(`svdExact 160×64: ${ms.toFixed(2)} ms CPU, ${((performance.now() - t0) / reps).toFixed(2)} ms wall`);
  assert.ok(ms < 100, `svdExact 160×64 took ${ms.toFixed(1)} ms of CPU time`);
});

test('svdExact handles rank-deficient and zero matrices with orthonormal completed bases', () => {
  // 40×30 of rank 5: product of 40×5 and 5×30 Gaussians.
  const g1 = randn(40 * 5, 21), g2 = randn(5 * 30, 22);
  const A = new Float64Array(40 * 30);
  for (let i = 0; i < 40; i++) for (let j = 0; j < 30; j++) for (let k = 0; k < 5; k++) A[i * 30 + j] += g1[i * 5 + k] * g2[k * 30 + j];
  for (const [mat, m, n, label] of [[A, 40, 30, 'rank 5 tall'], [transposed(A, 40, 30), 30, 40, 'rank 5 wide']] as const) {
    const s = svdExact(mat, m, n);
    const rel = checkSvd(mat, s, label);
    assert.ok(rel < 1e-10, `${label}: relative reconstruction error ${rel}`);
    for (let k = 5; k < s.r; k++) assert.ok(s.S[k] < 1e-12 * s.S[0], `${label}: S[${k}] = ${s.S[k]} should be ~0`);
  }
  for (const [m, n] of [[6, 4], [4, 6], [3, 3]]) {
    const Z = new Float32Array(m * n);
    const s = svdExact(Z, m, n);
    assert.equal(checkSvd(Z, s, `zero ${m}×${n}`), 0);
    assert.ok(s.S.every((x) => x === 0), `zero ${m}×${n}: S = ${[...s.S]}`);
  }
  // A matrix with exactly zero columns and rows in the middle.
  const B = randn(8 * 6, 23);
  for (let i = 0; i < 8; i++) B[i * 6 + 2] = 0;
  B.fill(0, 3 * 6, 4 * 6);
  assert.ok(checkSvd(B, svdExact(B, 8, 6), 'zero row and column') < 1e-10);
});

test('svdExact recovers chosen singular values of Q1·diag(s)·Q2ᵀ, repeated and tiny ones included', () => {
  const s = [10, 5, 5, 2, 1, 1e-3, 1e-8];
  for (const [m, n] of [[30, 12], [12, 30], [7, 7]]) {
    const A = withSpectrum(m, n, s, 31);
    const got = svdExact(A, m, n);
    checkSvd(A, got, `${m}×${n}`);
    const want = [...s, ...Array(Math.min(m, n) - s.length).fill(0)];
    for (let k = 0; k < want.length; k++) {
      assert.ok(Math.abs(got.S[k] - want[k]) < 1e-13 * s[0], `${m}×${n}: S[${k}] = ${got.S[k]}, expected ${want[k]}`);
    }
  }
});

test('svdExact scales: a matrix times 1e-200 or 1e200 gives the same relative result', () => {
  const A = randn(12 * 9, 41);
  const base = svdExact(A, 12, 9);
  for (const f of [1e-200, 1e200]) {
    const B = Float64Array.from(A, (x) => x * f);
    const s = svdExact(B, 12, 9);
    for (let k = 0; k < 9; k++) assert.ok(Math.abs(s.S[k] / f - base.S[k]) < 1e-12 * base.S[0], `×${f}: S[${k}]`);
  }
});

test('svdRandomized on a 0.9^i spectrum is within 2 % of the optimal truncation error and finds the leading S', (t) => {
  const m = 300, n = 200, rank = 20;
  const s = Array.from({ length: n }, (_, i) => 0.9 ** i);
  const A = Float32Array.from(withSpectrum(m, n, s, 51));
  const best = optimalError(s, rank); // Eckart–Young: what the exact truncation achieves
  const rnd = svdRandomized(A, m, n, rank, { seed: 3 });
  assert.equal(rnd.r, rank);
  const eu = orthoError(rnd.U, m, rank), ev = orthoError(transposed(rnd.Vt, rank, n), n, rank);
  assert.ok(eu < 1e-12 && ev < 1e-12, `orthonormality ${eu}, ${ev}`);
  for (let k = 1; k < rank; k++) assert.ok(rnd.S[k] <= rnd.S[k - 1]);
  const err = reconError(A, rnd) / frob(A);
  t.diagnostic(`rank ${rank}: randomized ${err.toPrecision(6)} vs optimal ${best.toPrecision(6)} (ratio ${(err / best).toFixed(5)})`);
  assert.ok(err <= 1.02 * best, `randomized error ${err} vs optimal ${best}`);
  for (let k = 0; k < rank / 2; k++) assert.ok(Math.abs(rnd.S[k] - s[k]) < 1e-2 * s[k], `S[${k}] ${rnd.S[k]} vs ${s[k]}`);
  // Without power iterations the sketch is visibly worse on this slow decay: the iterations do work.
  const raw = svdRandomized(A, m, n, rank, { seed: 3, powerIters: 0 });
  const rawErr = reconError(A, raw) / frob(A);
  t.diagnostic(`rank ${rank}, no power iterations: ${rawErr.toPrecision(6)} (ratio ${(rawErr / best).toFixed(5)})`);
  assert.ok(rawErr >= err, `power iterations should not hurt: ${rawErr} < ${err}`);
});

test('svdRandomized is deterministic for a seed and exact (to float32) when rank reaches min(m, n)', () => {
  const A = randn(90 * 40, 61);
  const a = svdRandomized(A, 90, 40, 8, { seed: 9 });
  const b = svdRandomized(A, 90, 40, 8, { seed: 9 });
  assert.deepEqual(a.S, b.S);
  assert.deepEqual(a.U, b.U);
  const full = svdRandomized(A, 90, 40, 40);
  const rel = checkSvd(A, full, 'randomized full rank', 1e-10);
  assert.ok(rel < 1e-5, `full-rank randomized reconstruction ${rel}`);
  const wide = randn(30 * 70, 62);
  const fw = svdRandomized(wide, 30, 70, 100); // rank above min(m, n) is capped
  assert.equal(fw.r, 30);
  assert.ok(checkSvd(wide, fw, 'randomized wide', 1e-10) < 1e-5);
  assert.equal(svdRandomized(A, 90, 40, 0).r, 0);
});

test('svdTruncated: auto picks exact for small problems and randomized for large low-rank ones; method forces either', (t) => {
  const A = randn(50 * 20, 71);
  const tr = svdTruncated(A, 50, 20, 6);
  const ex = svdExact(A, 50, 20);
  assert.equal(tr.r, 6);
  assert.deepEqual(tr.S, ex.S.slice(0, 6), 'small problem: exact, bit for bit');
  for (let i = 0; i < 50; i++) assert.deepEqual(tr.U.slice(i * 6, i * 6 + 6), ex.U.slice(i * 20, i * 20 + 6));
  assert.equal(svdTruncated(A, 50, 20, 99).r, 20, 'rank capped at min(m, n)');
  assert.deepEqual(svdTruncated(A, 50, 20, 6, { method: 'randomized', seed: 2 }).S, svdRandomized(A, 50, 20, 6, { seed: 2 }).S);
  // 280×258 at rank 16: randomized (min > 256 and rank < 129); the same result as calling it directly.
  const s = Array.from({ length: 120 }, (_, i) => 0.8 ** i);
  const big = Float32Array.from(withSpectrum(280, 258, s, 72));
  const auto = svdTruncated(big, 280, 258, 16, { seed: 4 });
  assert.deepEqual(auto.S, svdRandomized(big, 280, 258, 16, { seed: 4 }).S);
  const err = reconError(big, auto) / frob(big), best = optimalError(s, 16);
  t.diagnostic(`280×258 rank 16: ${err.toPrecision(6)} vs optimal ${best.toPrecision(6)}`);
  assert.ok(err <= 1.02 * best, `${err} vs ${best}`);
  const half = svdTruncated(big, 280, 258, 129); // rank ≥ min/2: exact
  assert.deepEqual(half.S, svdExact(big, 280, 258).S.slice(0, 129));
  for (let k = 0; k < 129; k++) assert.ok(Math.abs(half.S[k] - (s[k] ?? 0)) < 1e-6, `rank 129 S[${k}] = ${half.S[k]}`);
});

test('loraFactors: full rank reproduces R, rank r reaches the optimum, rank 0 leaves everything, big ranks are capped', (t) => {
  const dOut = 48, dIn = 80;
  const R = randn(dOut * dIn, 81, 0.02);
  const full = loraFactors(R, dOut, dIn, 48);
  assert.equal(full.A.length, 48 * dIn);
  assert.equal(full.B.length, dOut * 48);
  assert.ok(full.relResidual < 1e-5, `full rank relResidual ${full.relResidual}`);
  const capped = loraFactors(R, dOut, dIn, 1000);
  assert.equal(capped.A.length, 48 * dIn, 'rank capped at min(dIn, dOut)');
  assert.equal(capped.B.length, dOut * 48);
  const zero = loraFactors(R, dOut, dIn, 0);
  assert.equal(zero.A.length, 0);
  assert.equal(zero.B.length, 0);
  assert.equal(zero.relResidual, 1);

  const S = svdExact(R, dOut, dIn).S;
  for (const r of [1, 8, 24]) {
    const f = loraFactors(R, dOut, dIn, r);
    const best = optimalError(S, r);
    t.diagnostic(`rank ${r}: relResidual ${f.relResidual.toPrecision(6)}, optimal ${best.toPrecision(6)}`);
    assert.ok(Math.abs(f.relResidual - best) < 1e-5, `rank ${r}: ${f.relResidual} vs optimal ${best}`);
    // B = U_r·Σ_r: column k of B has norm S[k]; A = V_rᵀ has unit rows.
    for (let k = 0; k < r; k++) {
      let bn = 0, an = 0;
      for (let i = 0; i < dOut; i++) bn += f.B[i * r + k] ** 2;
      for (let j = 0; j < dIn; j++) an += f.A[k * dIn + j] ** 2;
      assert.ok(Math.abs(Math.sqrt(bn) - S[k]) < 1e-5 * S[0] && Math.abs(an - 1) < 1e-5, `rank ${r} factor ${k}`);
    }
  }
  const z = loraFactors(new Float32Array(6 * 5), 6, 5, 3);
  assert.equal(z.relResidual, 0, 'a zero residual needs nothing');
  assert.equal(loraFactors(new Float32Array(6 * 5), 6, 5, 0).relResidual, 0);
});

test('loraFactors on a wide residual with the randomized method stays within 2 % of the optimum', (t) => {
  const dOut = 160, dIn = 300, rank = 24;
  const s = Array.from({ length: 100 }, (_, i) => 0.05 * 0.93 ** i);
  const R = Float32Array.from(withSpectrum(dOut, dIn, s, 91));
  const f = loraFactors(R, dOut, dIn, rank, { method: 'randomized', seed: 1 });
  const best = optimalError(s, rank);
  t.diagnostic(`160×300 rank ${rank}: ${f.relResidual.toPrecision(6)} vs optimal ${best.toPrecision(6)}`);
  assert.ok(f.relResidual <= 1.02 * best, `${f.relResidual} vs ${best}`);
});

test('bad arguments throw ShapeError or InputError naming the problem', () => {
  const A = new Float32Array(12);
  assert.throws(() => svdExact(A, 3, 5), (e: unknown) => e instanceof ShapeError && /12 elements, expected m·n = 3·5 = 15/.test(e.message));
  assert.throws(() => svdExact(A, -3, -4), ShapeError);
  assert.throws(() => svdExact(A, 2.5, 4), ShapeError);
  assert.throws(() => svdRandomized(A, 3, 4, -1), (e: unknown) => e instanceof InputError && e.code === 'bad_option' && /rank/.test(e.message));
  assert.throws(() => svdRandomized(A, 3, 4, 1.5), InputError);
  assert.throws(() => svdRandomized(A, 3, 4, 2, { oversample: -1 }), /oversample/);
  assert.throws(() => svdRandomized(A, 3, 4, 2, { powerIters: 0.5 }), /powerIters/);
  assert.throws(() => svdRandomized(A, 3, 4, 2, { seed: 0.5 }), /seed/);
  assert.throws(() => svdTruncated(A, 3, 4, 2, { method: 'lanczos' as never }), /unknown method 'lanczos'/);
  assert.throws(() => loraFactors(A, 4, 4, 2), ShapeError);
  assert.throws(() => loraFactors(A, 3, 4, -2), InputError);
  assert.equal(svdExact(new Float32Array(0), 0, 5).r, 0);
});
