// Sharing plans for Recursive Transformers: which pretrained layers are kept, which
// shared slot and loop every unrolled depth uses, and which original layers each slot
// is initialised from. Pure functions; the plan is plain JSON (numbers, strings,
// arrays, null) so it can be stored beside a converted checkpoint and re-read as is.
// Index maps follow the official RRT/MoR code (model/sharing_strategy/llama.py).
import { InputError } from '../errors.js';
import { mulberry32 } from '../tensor/random.js';

export type Strategy = 'cycle' | 'sequence' | 'middle-cycle' | 'middle-sequence';
export type InitMethod = 'stepwise' | 'average' | 'lower' | 'upper' | 'random';

export const STRATEGIES: readonly Strategy[] = ['cycle', 'sequence', 'middle-cycle', 'middle-sequence'];
export const INIT_METHODS: readonly InitMethod[] = ['stepwise', 'average', 'lower', 'upper', 'random'];

export interface UnrolledLayer {
  /** Slot whose weights this depth uses (see SharingPlan for the numbering). */
  slot: number;
  /** 0-based loop iteration; always 0 for unique layers. */
  loop: number;
  /** True for the unshared first and last layers of middle-* strategies. */
  unique: boolean;
  /** The original layer this depth replaces: the relaxation's SVD residual is W[sourceLayer] − W'[slot]. */
  sourceLayer: number;
}

/**
 * A complete, serialisable sharing plan.
 *
 * Slot numbering: slots are numbered in depth order of first use.
 *  - cycle / sequence: slots 0..K−1 are the shared layers.
 *  - middle-*: slot 0 is the unique first layer, slots 1..K the shared layers, slot K+1 the
 *    unique last layer.
 * `nShared` = K counts shared slots only; `slotSources.length` is the total slot count
 * (K, or K+2 for middle-*). Unique slots are sourced from their own layer.
 */
export interface SharingPlan {
  strategy: Strategy;
  /** Number of loops over the shared block (the paper's B; not a batch size). */
  nLoops: number;
  /** Layer count L of the original model. */
  sourceLayers: number;
  /** The K·nLoops (middle-*: K·nLoops + 2) original layers used, in depth order; 0..L−1 when nothing was dropped. */
  selectedLayers: number[];
  /** Says which layers were kept and how, when some were dropped; null otherwise. */
  selectionNote: string | null;
  /** K: number of distinct shared slots. */
  nShared: number;
  /** One entry per unrolled depth ℓ = 0..selectedLayers.length−1. */
  unrolled: UnrolledLayer[];
  init: InitMethod;
  /** The PRNG seed used by `random` init (0 when none was given); null for the other methods. */
  seed: number | null;
  /** Per slot: the original layer indices its weights come from (several for `average`: their mean). */
  slotSources: number[][];
}

export interface PlanOptions {
  sourceLayers: number;
  nLoops: number;
  /** default 'cycle' */
  strategy?: Strategy;
  /** default 'stepwise' */
  init?: InitMethod;
  /** PRNG seed for `random` init (default 0); ignored by the other methods. */
  seed?: number;
}

/** Round to the nearest integer, ties to even (Python's round, numpy's rint). */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * round(numpy.linspace(start, stop, n)) with ties to even. The samples are computed the
 * way numpy does (i·step + start, last one set to stop), so exact .5 ties fall the same way.
 */
export function linspaceRounded(start: number, stop: number, n: number): number[] {
  if (!Number.isInteger(n) || n < 0) throw new InputError('bad_option', `linspace needs a non-negative integer count, got ${n}`);
  const out: number[] = [];
  const step = n > 1 ? (stop - start) / (n - 1) : 0;
  for (let i = 0; i < n; i++) out.push(roundHalfEven(i === n - 1 && n > 1 ? stop : i * step + start));
  return out;
}


/** k distinct entries of `pool` chosen with the seeded PRNG (partial Fisher–Yates), in ascending order. */
function chooseSorted(pool: number[], k: number, seed: number): number[] {
  const a = pool.slice();
  const next = mulberry32(seed);
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(next() * (a.length - i));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a.slice(0, k).sort((x, y) => x - y);
}

function range(from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = from; i < to; i++) out.push(i);
  return out;
}

function listLayers(xs: number[]): string {
  return xs.join(', ');
}

function droppedNote(L: number, kept: number[]): string {
  const dropped = range(0, L).filter((i) => !kept.includes(i));
  return `dropped layer${dropped.length === 1 ? '' : 's'} ${listLayers(dropped)}`;
}

function checkOptions(opts: PlanOptions): { L: number; B: number; strategy: Strategy; init: InitMethod; seed: number } {
  const { sourceLayers: L, nLoops: B } = opts;
  const strategy = opts.strategy ?? 'cycle';
  const init = opts.init ?? 'stepwise';
  const seed = opts.seed ?? 0;
  if (!STRATEGIES.includes(strategy)) {
    throw new InputError('bad_option', `unknown sharing strategy '${String(strategy)}'; expected one of ${STRATEGIES.join(', ')}`);
  }
  if (!INIT_METHODS.includes(init)) {
    throw new InputError('bad_option', `unknown init method '${String(init)}'; expected one of ${INIT_METHODS.join(', ')}`);
  }
  if (!Number.isInteger(L) || L < 1) throw new InputError('bad_option', `sourceLayers must be a positive integer, got ${L}`);
  if (!Number.isInteger(B) || B < 1) throw new InputError('bad_option', `nLoops must be a positive integer, got ${B}`);
  if (init === 'random' && !Number.isInteger(seed)) throw new InputError('bad_option', `seed must be an integer, got ${seed}`);
  const middle = strategy === 'middle-cycle' || strategy === 'middle-sequence';
  if (middle && L < 3) {
    throw new InputError('bad_option', `${strategy} keeps the first and last layers unique and needs L ≥ 3 layers, got L = ${L}`);
  }
  const shareable = middle ? L - 2 : L;
  if (B > shareable) {
    const what = middle ? `the ${shareable} middle layers (L − 2) of ${strategy}` : `the model's ${L} layers`;
    throw new InputError('bad_option', `nLoops = ${B} exceeds ${what}; use at most ${shareable} loops`);
  }
  return { L, B, strategy, init, seed };
}

/**
 * Builds the plan that turns an L-layer model into K shared layers looped nLoops times.
 *
 * Layer selection when L (middle-*: L − 2) is not divisible by nLoops, as the official code does:
 *  - cycle / sequence: K = ⌊L/B⌋, keep round(linspace(0, L−1, K·B));
 *  - middle-*: K = ⌊(L−2)/B⌋, keep layers 0 and L−1 plus round(linspace(1, L−2, K·B)).
 * Initialisation works in the selected model (L' = selectedLayers.length layers) and is then
 * mapped back to original indices:
 *  - stepwise: slot k ← round(linspace(0, L'−1, K))[k] (middle-*: linspace(1, L'−2, K));
 *  - average: the mean of every selected layer the strategy ties to slot k;
 *  - lower / upper: the first / last K shareable layers;
 *  - random: K distinct shareable layers from a seeded mulberry32, in depth order.
 */
export function planSharing(opts: PlanOptions): SharingPlan {
  const { L, B, strategy, init, seed } = checkOptions(opts);
  const middle = strategy === 'middle-cycle' || strategy === 'middle-sequence';
  const isCycle = strategy === 'cycle' || strategy === 'middle-cycle';
  const shareable = middle ? L - 2 : L;
  const K = Math.floor(shareable / B);
  const off = middle ? 1 : 0; // selected-model index of the first shared depth, and slot id of the first shared slot

  let selectedLayers: number[];
  let selectionNote: string | null = null;
  if (K * B === shareable) {
    selectedLayers = range(0, L);
  } else if (!middle) {
    selectedLayers = linspaceRounded(0, L - 1, K * B);
    selectionNote =
      `L = ${L} is not divisible by ${B} loops: kept layers ${listLayers(selectedLayers)} ` +
      `(round(linspace(0, ${L - 1}, ${K * B})), half to even); ${droppedNote(L, selectedLayers)}`;
  } else {
    const mid = linspaceRounded(1, L - 2, K * B);
    selectedLayers = [0, ...mid, L - 1];
    selectionNote =
      `L − 2 = ${shareable} middle layers are not divisible by ${B} loops: kept the unique first and last layers (0, ${L - 1}) ` +
      `and middle layers ${listLayers(mid)} (round(linspace(1, ${L - 2}, ${K * B})), half to even); ` +
      droppedNote(L, selectedLayers);
  }
  const depth = selectedLayers.length; // L' = K·B (+2)

  const unrolled: UnrolledLayer[] = [];
  for (let l = 0; l < depth; l++) {
    const sourceLayer = selectedLayers[l];
    if (middle && (l === 0 || l === depth - 1)) {
      unrolled.push({ slot: l === 0 ? 0 : K + 1, loop: 0, unique: true, sourceLayer });
      continue;
    }
    const m = l - off; // depth within the shared stretch
    const slot = off + (isCycle ? m % K : Math.floor(m / B));
    const loop = isCycle ? Math.floor(m / K) : m % B;
    unrolled.push({ slot, loop, unique: false, sourceLayer });
  }

  // Selected-model indices of the shared slots' sources.
  let shared: number[][];
  switch (init) {
    case 'stepwise':
      shared = (middle ? linspaceRounded(1, depth - 2, K) : linspaceRounded(0, depth - 1, K)).map((i) => [i]);
      break;
    case 'average':
      shared = range(0, K).map((k) => range(0, B).map((j) => off + (isCycle ? k + j * K : k * B + j)));
      break;
    case 'lower':
      shared = range(off, off + K).map((i) => [i]);
      break;
    case 'upper':
      shared = range(depth - off - K, depth - off).map((i) => [i]);
      break;
    case 'random':
      shared = chooseSorted(range(off, depth - off), K, seed).map((i) => [i]);
      break;
  }
  const toOriginal = (ids: number[]): number[] => ids.map((i) => selectedLayers[i]);
  const slotSources = middle
    ? [[selectedLayers[0]], ...shared.map(toOriginal), [selectedLayers[depth - 1]]]
    : shared.map(toOriginal);

  return {
    strategy,
    nLoops: B,
    sourceLayers: L,
    selectedLayers,
    selectionNote,
    nShared: K,
    unrolled,
    init,
    seed: init === 'random' ? seed : null,
    slotSources,
  };
}
