// Shared test helpers: seeded random data and comparisons that print evidence.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FormatError } from '../src/errors.js';
import { backward, noGrad } from '../src/tensor/autograd.js';
import type { Tensor } from '../src/tensor/tensor.js';

/** Deterministic PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n standard-normal floats (Box-Muller), times `scale`. */
export function randn(n: number, seed = 1, scale = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(r(), 1e-12), v = r();
    out[i] = scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  return out;
}

/** n uniform floats in [lo, hi). */
export function randu(n: number, seed = 1, lo = -1, hi = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * r();
  return out;
}

/** n ints in [0, hi). */
export function randint(n: number, hi: number, seed = 1): Int32Array {
  const r = rng(seed);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(r() * hi);
  return out;
}

export interface CloseOptions {
  /** max|Δ| allowed, relative to max|expected| (default 1e-5) */
  rel?: number;
  /** absolute floor added to the allowed error (default 0) */
  abs?: number;
  label?: string;
}

/** Asserts max|a−b| ≤ rel·max|b| + abs; on failure prints the worst mismatches with indices. */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, opts: CloseOptions = {}): void {
  const { rel = 1e-5, abs = 0, label = '' } = opts;
  assert.equal(actual.length, expected.length, `${label}: length ${actual.length} vs expected ${expected.length}`);
  let maxRef = 0;
  for (let i = 0; i < expected.length; i++) maxRef = Math.max(maxRef, Math.abs(expected[i]));
  const tol = rel * maxRef + abs;
  let maxErr = 0;
  const bad: number[] = [];
  for (let i = 0; i < expected.length; i++) {
    const e = Math.abs(actual[i] - expected[i]);
    if (!(e <= tol)) bad.push(i); // catches NaN too
    if (e > maxErr || Number.isNaN(e)) maxErr = Number.isNaN(e) ? NaN : e;
  }
  if (bad.length > 0) {
    const show = bad.slice(0, 5).map((i) => `[${i}] got ${actual[i]} expected ${expected[i]}`).join('; ');
    assert.fail(`${label}: ${bad.length}/${expected.length} values off; max|Δ| ${maxErr} > tol ${tol} (max|ref| ${maxRef}). ${show}`);
  }
}

/** Sizes every kernel test covers (odd ones included). */
export const ODD_SIZES = [1, 7, 33, 1000] as const;

/** Runs fn and asserts it throws a FormatError with this code whose message mentions each string. */
export function expectFormatError(fn: () => unknown, code: string, ...mentions: string[]): FormatError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof FormatError, `expected FormatError(${code}), got ${caught instanceof Error ? `${caught.name}: ${caught.message}` : String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  for (const m of mentions) assert.ok(caught.message.includes(m), `message should mention '${m}': ${caught.message}`);
  return caught;
}

/** Set by CI (.ci/run): the native addon must be there, so tests that need it fail rather than skip. */
export const NATIVE_REQUIRED = process.env.RRT_REQUIRE_NATIVE === '1';

let missingNativeReported = false;

/**
 * The `skip` option of a test that needs the native addon: false when it is loaded, else the
 * reason to skip. With RRT_REQUIRE_NATIVE=1 a missing addon is a failure: the tests run (and
 * fail), and one more test in the file fails with the cause and the command that fixes it.
 */
export function skipWithoutNative(addon: unknown): string | false {
  if (addon !== null && addon !== undefined) return false;
  if (!NATIVE_REQUIRED) return 'native addon not built (npm run build:native)';
  if (!missingNativeReported) {
    missingNativeReported = true;
    test('the native addon is built (RRT_REQUIRE_NATIVE=1)', () => {
      assert.fail('RRT_REQUIRE_NATIVE=1 but build/Release/rrt.node did not load: run npm run build:native');
    });
  }
  return false;
}

/** The addon's ISA levels, lowest first. */
export type Isa = 'scalar' | 'avx2' | 'avx512' | 'avx512bf16';
const ISA_ORDER: Isa[] = ['scalar', 'avx2', 'avx512', 'avx512bf16'];

interface IsaAddon {
  isa_info(): { best: string; active: string };
  set_isa(name: Isa): void;
}

/** Every ISA level up to the best this CPU has. */
export function isaLevels(addon: IsaAddon): Isa[] {
  return ISA_ORDER.slice(0, ISA_ORDER.indexOf(addon.isa_info().best as Isa) + 1);
}

/** Runs fn with the ISA forced to each supported level, restoring the active one afterwards. */
export function forEachIsa(addon: IsaAddon, fn: (isa: Isa) => void): void {
  const prev = addon.isa_info().active as Isa;
  try {
    for (const isa of isaLevels(addon)) {
      addon.set_isa(isa);
      fn(isa);
    }
  } finally {
    addon.set_isa(prev);
  }
}

/** Runs fn on n compute threads, restoring the count afterwards. */
export function withThreads(addon: { get_threads(): number; set_threads(n: number): void }, n: number, fn: () => void): void {
  const prev = addon.get_threads();
  addon.set_threads(n);
  try {
    fn();
  } finally {
    addon.set_threads(prev);
  }
}

/**
 * A leaf's gradient from backward(loss()) against central finite differences at some indices
 * (the leaf is made trainable for the check and frozen again). It must be nonzero somewhere.
 */
export function assertGradMatchesFd(p: Tensor, loss: () => Tensor, indices: number[], label: string): void {
  p.requiresGrad = true;
  p.grad = null;
  try {
    backward(loss());
    const g = p.grad!;
    assert.ok(g.some((v) => Math.abs(v) > 1e-6), `${label}: the tensor reaches the loss`);
    for (const i of indices) {
      const x = p.f32, h = 1e-2, x0 = x[i];
      x[i] = x0 + h;
      const up = noGrad(() => loss().f32[0]);
      x[i] = x0 - h;
      const down = noGrad(() => loss().f32[0]);
      x[i] = x0;
      assertClose([g[i]], [(up - down) / (2 * h)], { rel: 2e-2, abs: 1e-4, label: `${label} grad ${i}` });
    }
  } finally {
    p.requiresGrad = false;
  }
}
