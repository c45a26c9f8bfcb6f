// Singular value decompositions for SVD-initialised LoRA (RRT §2.3):
// an exact one-sided Jacobi SVD (Householder QR first, then Hestenes rotations on R, all float64),
// a randomized range-finder SVD (Halko–Martinsson–Tropp) whose big products run on
// kernels.gemm_f32, and loraFactors, which turns a residual W − W' into LoRA factors A = V_rᵀ, B = U_r·Σ_r.
// Matrices are row-major; U is m×r, S descending and non-negative, Vt is r×n, so A ≈ U·diag(S)·Vt.
import { InputError, ShapeError } from '../errors.js';
import { kernels } from '../tensor/kernels.js';
import { mulberry32 } from '../tensor/random.js';

export interface Svd {
  /** m×r, row-major, orthonormal columns */
  U: Float64Array;
  /** r singular values, descending, non-negative */
  S: Float64Array;
  /** r×n, row-major, orthonormal rows */
  Vt: Float64Array;
  m: number;
  n: number;
  r: number;
}

export interface RandomizedOptions {
  /** extra random directions beyond `rank` (default 10) */
  oversample?: number;
  /** subspace (power) iterations, each re-orthonormalised (default 2) */
  powerIters?: number;
  /** seed of the Gaussian test matrix (default 0) */
  seed?: number;
}

export interface TruncatedOptions extends RandomizedOptions {
  /** auto (default): exact when min(m, n) ≤ 256 or rank ≥ min(m, n)/2, randomized otherwise */
  method?: 'auto' | 'exact' | 'randomized';
}

export interface LoraFactors {
  /** rank×dIn = V_rᵀ */
  A: Float32Array;
  /** dOut×rank = U_r·Σ_r (the singular values all go into B, as the official code does) */
  B: Float32Array;
  /** ‖R − B·A‖_F / ‖R‖_F of the returned float32 factors (0 when R = 0) */
  relResidual: number;
}

const EPS = Number.EPSILON;
const MAX_SWEEPS = 80;

function checkMatrix(op: string, A: ArrayLike<number>, m: number, n: number): void {
  for (const [name, v] of [['m', m], ['n', n]] as const) {
    if (!Number.isInteger(v) || v < 0) throw new ShapeError(`[${op}] ${name} must be a non-negative integer, got ${v}`);
  }
  if (A.length !== m * n) throw new ShapeError(`[${op}] matrix has ${A.length} elements, expected m·n = ${m}·${n} = ${m * n}`);
}

function checkRank(op: string, rank: number): void {
  if (!Number.isInteger(rank) || rank < 0) throw new InputError('bad_option', `[${op}] rank must be a non-negative integer, got ${rank}`);
}

/** x[xi..xi+len)·y[yi..yi+len); four partial sums break the add latency chain (about 2× faster in V8). */
function dot(x: Float64Array, xi: number, y: Float64Array, yi: number, len: number): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  let i = 0;
  for (; i + 4 <= len; i += 4) {
    s0 += x[xi + i] * y[yi + i];
    s1 += x[xi + i + 1] * y[yi + i + 1];
    s2 += x[xi + i + 2] * y[yi + i + 2];
    s3 += x[xi + i + 3] * y[yi + i + 3];
  }
  for (; i < len; i++) s0 += x[xi + i] * y[yi + i];
  return (s0 + s1) + (s2 + s3);
}

/** y[yi..yi+len) −= w·x[xi..xi+len) */
function subScaled(y: Float64Array, yi: number, x: Float64Array, xi: number, w: number, len: number): void {
  for (let i = 0; i < len; i++) y[yi + i] -= w * x[xi + i];
}

/**
 * out[o .. o+len) += Σ_k c[ci + k·cs]·x[k·len .. k·len+len) for k < count: a matrix–vector
 * product over contiguous columns, four at a time, which halves the loads and stores of `out`.
 */
function addColumnCombination(out: Float64Array, o: number, x: Float64Array, c: Float64Array, ci: number, cs: number, count: number, len: number): void {
  let k = 0;
  for (; k + 4 <= count; k += 4) {
    const c0 = c[ci + k * cs], c1 = c[ci + (k + 1) * cs], c2 = c[ci + (k + 2) * cs], c3 = c[ci + (k + 3) * cs];
    const x0 = k * len, x1 = x0 + len, x2 = x1 + len, x3 = x2 + len;
    for (let i = 0; i < len; i++) out[o + i] += c0 * x[x0 + i] + c1 * x[x1 + i] + c2 * x[x2 + i] + c3 * x[x3 + i];
  }
  for (; k < count; k++) subScaled(out, o, x, k * len, -c[ci + k * cs], len);
}

/** Plane rotation of two length-len runs: (x, y) ← (c·x − s·y, s·x + c·y). */
function rotate(a: Float64Array, xi: number, yi: number, c: number, s: number, len: number): void {
  for (let i = 0; i < len; i++) {
    const x = a[xi + i], y = a[yi + i];
    a[xi + i] = c * x - s * y;
    a[yi + i] = s * x + c * y;
  }
}

/**
 * Thin Householder QR of a rows×cols column-major matrix (rows ≥ cols), in float64, optionally
 * with column pivoting (Businger–Golub: the remaining column of largest norm goes next), so that
 * A·P = Q·R with perm[j] = the column of A in position j. Returns Q (rows×cols, column-major,
 * orthonormal columns even when `a` is rank-deficient) and R (cols×cols, column-major, upper triangular).
 * `a` is overwritten.
 */
function householderQr(a: Float64Array, rows: number, cols: number, pivot: boolean): { q: Float64Array; r: Float64Array; perm: Int32Array } {
  const r = new Float64Array(cols * cols);
  const perm = Int32Array.from({ length: cols }, (_, j) => j);
  const beta = new Float64Array(cols); // reflector j is I − beta·v·vᵀ with v stored in a[j·rows + j ..]; beta 0 = identity
  const norm2 = new Float64Array(cols); // squared norms of the columns' unreduced parts (pivoting only)
  const ref2 = new Float64Array(cols); // their values when last computed exactly
  if (pivot) for (let k = 0; k < cols; k++) norm2[k] = ref2[k] = dot(a, k * rows, a, k * rows, rows);
  for (let j = 0; j < cols; j++) {
    if (pivot) {
      let best = j;
      for (let k = j + 1; k < cols; k++) if (norm2[k] > norm2[best]) best = k;
      if (best !== j) {
        for (let i = 0; i < rows; i++) {
          const t = a[j * rows + i];
          a[j * rows + i] = a[best * rows + i];
          a[best * rows + i] = t;
        }
        [perm[j], perm[best]] = [perm[best], perm[j]];
        [norm2[j], norm2[best]] = [norm2[best], norm2[j]];
        [ref2[j], ref2[best]] = [ref2[best], ref2[j]];
      }
    }
    const cj = j * rows;
    const len = rows - j;
    const xx = dot(a, cj + j, a, cj + j, len);
    if (xx > 0) {
      const norm = Math.sqrt(xx);
      const x0 = a[cj + j];
      const alpha = x0 >= 0 ? -norm : norm; // the sign that avoids cancellation in v0 = x0 − alpha
      a[cj + j] = x0 - alpha;
      beta[j] = 1 / (norm * (norm + Math.abs(x0))); // 2 / vᵀv, since vᵀv = 2·norm·(norm + |x0|)
      r[j * cols + j] = alpha;
      for (let k = j + 1; k < cols; k++) subScaled(a, k * rows + j, a, cj + j, beta[j] * dot(a, cj + j, a, k * rows + j, len), len);
    }
    if (pivot) {
      for (let k = j + 1; k < cols; k++) {
        const rjk = a[k * rows + j];
        norm2[k] -= rjk * rjk;
        // Downdating loses digits once most of the norm is gone (LAPACK's sqrt(eps) rule): recompute.
        if (norm2[k] <= Math.sqrt(EPS) * ref2[k]) norm2[k] = ref2[k] = dot(a, k * rows + j + 1, a, k * rows + j + 1, rows - j - 1);
      }
    }
  }
  for (let k = 0; k < cols; k++) for (let j = 0; j < k; j++) r[k * cols + j] = a[k * rows + j];
  // Q = H_0·…·H_{cols−1}·[I; 0], applied right to left; H_j only mixes rows ≥ j, where columns < j are still zero.
  const q = new Float64Array(rows * cols);
  for (let c = 0; c < cols; c++) q[c * rows + c] = 1;
  for (let j = cols - 1; j >= 0; j--) {
    if (beta[j] === 0) continue;
    const cj = j * rows, len = rows - j;
    for (let c = j; c < cols; c++) subScaled(q, c * rows + j, a, cj + j, beta[j] * dot(a, cj + j, q, c * rows + j, len), len);
  }
  return { q, r, perm };
}

/**
 * One-sided Jacobi (Hestenes) on the columns of a square n×n column-major matrix `w`, in place:
 * rotates column pairs until every pair's cosine is below tol, accumulating the rotations in V.
 * Afterwards w = X·V has orthogonal columns whose norms are the singular values of X.
 * Squared column norms are updated by the exact rotation identities (α − tγ, β + tγ) instead of
 * recomputed, refreshed every sweep and whenever a column loses most of its norm.
 */
function jacobiColumns(w: Float64Array, n: number): Float64Array {
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  const d = new Float64Array(n);
  // The cosine can only be resolved to about the rounding error of a length-n dot product.
  const tol = Math.max(Math.sqrt(n), 1) * EPS;
  for (let sweep = 0; sweep < MAX_SWEEPS; sweep++) {
    for (let p = 0; p < n; p++) d[p] = dot(w, p * n, w, p * n, n);
    let rotated = false;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const alpha = d[p], beta = d[q];
        const gamma = dot(w, p * n, w, q * n, n);
        if (!(Math.abs(gamma) > tol * Math.sqrt(alpha) * Math.sqrt(beta))) continue;
        rotated = true;
        const zeta = (beta - alpha) / (2 * gamma);
        const t = (zeta >= 0 ? 1 : -1) / (Math.abs(zeta) + Math.hypot(1, zeta)); // the smaller root: |angle| ≤ π/4
        const c = 1 / Math.sqrt(1 + t * t);
        const s = c * t;
        rotate(w, p * n, q * n, c, s, n);
        rotate(v, p * n, q * n, c, s, n);
        d[p] = alpha - t * gamma;
        d[q] = beta + t * gamma;
        if (d[p] < 0.25 * alpha) d[p] = dot(w, p * n, w, p * n, n);
        if (d[q] < 0.25 * beta) d[q] = dot(w, q * n, w, q * n, n);
      }
    }
    if (!rotated) break;
  }
  return v;
}

/** Fills the columns `from`.. of the n×n column-major `u` with unit vectors orthogonal to all columns before them. */
function completeBasis(u: Float64Array, n: number, from: number): void {
  for (let j = from; j < n; j++) {
    // e_k minus its projection on the columns so far; the k with the largest remainder is well conditioned.
    let best = 0, bestRest = -1;
    for (let k = 0; k < n; k++) {
      let rest = 1;
      for (let c = 0; c < j; c++) rest -= u[c * n + k] * u[c * n + k];
      if (rest > bestRest) { bestRest = rest; best = k; }
    }
    const cj = j * n;
    u.fill(0, cj, cj + n);
    u[cj + best] = 1;
    for (let pass = 0; pass < 2; pass++) { // Gram–Schmidt twice: orthogonal to working precision
      for (let c = 0; c < j; c++) subScaled(u, cj, u, c * n, dot(u, c * n, u, cj, n), n);
    }
    const norm = Math.sqrt(dot(u, cj, u, cj, n));
    for (let i = 0; i < n; i++) u[cj + i] /= norm;
  }
}

/**
 * SVD of a tall rows×cols column-major matrix (rows ≥ cols, overwritten). Drmač–Veselić
 * preconditioning: pivoted QR A·P = Q·R, then one-sided Jacobi on X = Rᵀ, which needs far fewer
 * sweeps than on A or R: X·V_X = U_X·Σ gives R = V_X·Σ·U_Xᵀ, so U = Q·V_X and V = P·U_X.
 * Returns U (rows×cols) and V (cols×cols) column-major, S descending.
 */
function svdTall(a: Float64Array, rows: number, cols: number): { u: Float64Array; s: Float64Array; v: Float64Array } {
  let maxAbs = 0;
  for (let i = 0; i < a.length; i++) maxAbs = Math.max(maxAbs, Math.abs(a[i]));
  // Scaling to max|a| = 1 keeps squared column norms clear of overflow and underflow.
  if (maxAbs > 0 && maxAbs !== 1) for (let i = 0; i < a.length; i++) a[i] /= maxAbs;
  const { q, r, perm } = householderQr(a, rows, cols, true);
  const x = new Float64Array(cols * cols); // Rᵀ column-major = R row-major
  for (let j = 0; j < cols; j++) for (let i = 0; i <= j; i++) x[i * cols + j] = r[j * cols + i];
  const vx = jacobiColumns(x, cols);

  const norms = new Float64Array(cols);
  for (let j = 0; j < cols; j++) norms[j] = Math.sqrt(dot(x, j * cols, x, j * cols, cols));
  const order = Array.from({ length: cols }, (_, j) => j).sort((p, q2) => norms[q2] - norms[p] || p - q2);

  const s = new Float64Array(cols);
  const ux = new Float64Array(cols * cols); // U_X, sorted, column-major
  let nonzero = 0;
  for (let j = 0; j < cols; j++) {
    const src = order[j];
    s[j] = norms[src] * maxAbs;
    if (norms[src] > 0) {
      nonzero = j + 1;
      for (let i = 0; i < cols; i++) ux[j * cols + i] = x[src * cols + i] / norms[src];
    }
  }
  completeBasis(ux, cols, nonzero);

  const v = new Float64Array(cols * cols); // V = P·U_X: row perm[i] of V is row i of U_X
  for (let j = 0; j < cols; j++) for (let i = 0; i < cols; i++) v[j * cols + perm[i]] = ux[j * cols + i];
  const u = new Float64Array(rows * cols); // U = Q·V_X, columns in sorted order
  for (let j = 0; j < cols; j++) addColumnCombination(u, j * rows, q, vx, order[j] * cols, 1, cols, rows);
  return { u, s, v };
}

/** Row-major rows×cols from a column-major buffer (or the reverse, reading it as cols×rows). */
function transpose(src: Float64Array, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let j = 0; j < cols; j++) for (let i = 0; i < rows; i++) out[i * cols + j] = src[j * rows + i];
  return out;
}

/**
 * Exact thin SVD, r = min(m, n), float64 throughout. Wide matrices are decomposed through their
 * transpose. Zero and rank-deficient matrices get orthonormal U and V all the same (the null
 * directions are completed). Cost O(m·n·min(m, n)) in plain TypeScript: meant for min(m, n) up to a few hundred.
 */
export function svdExact(A: Float32Array | Float64Array, m: number, n: number): Svd {
  checkMatrix('svdExact', A, m, n);
  const r = Math.min(m, n);
  if (r === 0) return { U: new Float64Array(0), S: new Float64Array(0), Vt: new Float64Array(0), m, n, r };
  if (m >= n) {
    const cols = new Float64Array(m * n); // A column-major
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) cols[j * m + i] = A[i * n + j];
    const { u, s, v } = svdTall(cols, m, n);
    return { U: transpose(u, m, n), S: s, Vt: v, m, n, r };
  }
  // Aᵀ (n×m) column-major is A row-major: Aᵀ = U'ΣV'ᵀ gives A = V'ΣU'ᵀ.
  const { u, s, v } = svdTall(Float64Array.from(A), n, m);
  return { U: transpose(v, m, m), S: s, Vt: u, m, n, r };
}

/** Orthonormal basis (float32 row-major rows×cols, and float64 column-major) of the columns of a row-major float32 matrix. */
function orthonormalize(y: Float32Array, rows: number, cols: number): { q32: Float32Array; q64: Float64Array } {
  const c = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) c[j * rows + i] = y[i * cols + j];
  const { q } = householderQr(c, rows, cols, false);
  const q32 = new Float32Array(rows * cols);
  for (let j = 0; j < cols; j++) for (let i = 0; i < rows; i++) q32[i * cols + j] = q[j * rows + i];
  return { q32, q64: q };
}

/** n standard normal float32 values (Box–Muller on mulberry32). */
function gaussian(n: number, seed: number): Float32Array {
  const next = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const rad = Math.sqrt(-2 * Math.log(1 - next())); // 1 − u ∈ (0, 1]: no log(0)
    const ang = 2 * Math.PI * next();
    out[i] = rad * Math.cos(ang);
    if (i + 1 < n) out[i + 1] = rad * Math.sin(ang);
  }
  return out;
}

/**
 * Randomized truncated SVD (Halko, Martinsson & Tropp 2011, Alg. 4.4 + 5.1): sketch Y = A·Ω with a
 * Gaussian Ω of rank + oversample columns, refine the range with power iterations
 * (re-orthonormalising after every product), then take the exact SVD of the small B = QᵀA.
 * The three kinds of big product run in float32 on kernels.gemm_f32; QR, the small SVD and U = Q·U_B stay float64.
 */
export function svdRandomized(A: Float32Array, m: number, n: number, rank: number, opts: RandomizedOptions = {}): Svd {
  checkMatrix('svdRandomized', A, m, n);
  checkRank('svdRandomized', rank);
  const { oversample = 10, powerIters = 2, seed = 0 } = opts;
  if (!Number.isInteger(oversample) || oversample < 0) throw new InputError('bad_option', `[svdRandomized] oversample must be a non-negative integer, got ${oversample}`);
  if (!Number.isInteger(powerIters) || powerIters < 0) throw new InputError('bad_option', `[svdRandomized] powerIters must be a non-negative integer, got ${powerIters}`);
  if (!Number.isInteger(seed)) throw new InputError('bad_option', `[svdRandomized] seed must be an integer, got ${seed}`);
  const r = Math.min(rank, m, n);
  if (r === 0) return { U: new Float64Array(0), S: new Float64Array(0), Vt: new Float64Array(0), m, n, r: 0 };
  const l = Math.min(r + oversample, m, n);

  const omega = gaussian(n * l, seed);
  const y = new Float32Array(m * l);
  kernels.gemm_f32(y, A, omega, m, l, n, 0, 0, 0); // Y = A·Ω
  let basis = orthonormalize(y, m, l);
  const z = new Float32Array(n * l);
  for (let it = 0; it < powerIters; it++) {
    kernels.gemm_f32(z, A, basis.q32, n, l, m, 1, 0, 0); // Z = Aᵀ·Q
    const zq = orthonormalize(z, n, l);
    kernels.gemm_f32(y, A, zq.q32, m, l, n, 0, 0, 0); // Y = A·Q_Z
    basis = orthonormalize(y, m, l);
  }
  const b = new Float32Array(l * n);
  kernels.gemm_f32(b, basis.q32, A, l, n, m, 1, 0, 0); // B = Qᵀ·A
  const small = svdExact(b, l, n); // l ≤ n: U_B is l×l

  // U = Q·U_B for the first r columns, in float64 (Q column-major m×l, U_B row-major l×l).
  const uCols = new Float64Array(m * r);
  for (let j = 0; j < r; j++) addColumnCombination(uCols, j * m, basis.q64, small.U, j, l, l, m);
  return { U: transpose(uCols, m, r), S: small.S.slice(0, r), Vt: small.Vt.slice(0, r * n), m, n, r };
}

/** The leading `rank` triplets of a full thin SVD. */
function truncate(full: Svd, rank: number): Svd {
  const { m, n } = full;
  const r = Math.min(rank, full.r);
  if (r === full.r) return full;
  const U = new Float64Array(m * r);
  for (let i = 0; i < m; i++) U.set(full.U.subarray(i * full.r, i * full.r + r), i * r);
  return { U, S: full.S.slice(0, r), Vt: full.Vt.slice(0, r * n), m, n, r };
}

/** Top-`rank` SVD (rank capped at min(m, n)); method 'auto' picks exact for small or nearly full-rank problems. */
export function svdTruncated(A: Float32Array, m: number, n: number, rank: number, opts: TruncatedOptions = {}): Svd {
  checkMatrix('svdTruncated', A, m, n);
  checkRank('svdTruncated', rank);
  const { method = 'auto', ...randomized } = opts;
  if (method !== 'auto' && method !== 'exact' && method !== 'randomized') {
    throw new InputError('bad_option', `[svdTruncated] unknown method '${String(method)}'; expected auto, exact or randomized`);
  }
  const small = Math.min(m, n);
  const exact = method === 'exact' || (method === 'auto' && (small <= 256 || rank >= small / 2));
  return exact ? truncate(svdExact(A, m, n), rank) : svdRandomized(A, m, n, rank, randomized);
}

/**
 * LoRA factors of a residual R (dOut×dIn, row-major, e.g. W_original − W_shared): the best rank-r
 * approximation R ≈ B·A with A = V_rᵀ and B = U_r·Σ_r, r = min(rank, dIn, dOut).
 * relResidual is measured on the returned float32 factors with one more GEMM, not inferred from Σ,
 * so it also reports what the randomized method and the float32 cast lose.
 */
export function loraFactors(residual: Float32Array, dOut: number, dIn: number, rank: number, opts: TruncatedOptions = {}): LoraFactors {
  checkMatrix('loraFactors', residual, dOut, dIn);
  checkRank('loraFactors', rank);
  const r = Math.min(rank, dIn, dOut);
  let norm2 = 0;
  for (let i = 0; i < residual.length; i++) norm2 += residual[i] * residual[i];
  if (r === 0) return { A: new Float32Array(0), B: new Float32Array(0), relResidual: norm2 === 0 ? 0 : 1 };

  const svd = svdTruncated(residual, dOut, dIn, r, opts);
  const A = Float32Array.from(svd.Vt);
  const B = new Float32Array(dOut * r);
  for (let i = 0; i < dOut; i++) for (let j = 0; j < r; j++) B[i * r + j] = svd.U[i * r + j] * svd.S[j];
  if (norm2 === 0) return { A, B, relResidual: 0 };

  const approx = new Float32Array(dOut * dIn);
  kernels.gemm_f32(approx, B, A, dOut, dIn, r, 0, 0, 0);
  let err2 = 0;
  for (let i = 0; i < approx.length; i++) {
    const d = residual[i] - approx[i];
    err2 += d * d;
  }
  return { A, B, relResidual: Math.sqrt(err2 / norm2) };
}
