// Sharing plans: index maps written out by hand from the definitions (RRT/MoR),
// numpy's round(linspace(...)) values, layer selection for non-divisible depths, and bad options.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InputError } from '../../src/errors.js';
import {
  INIT_METHODS,
  STRATEGIES,
  linspaceRounded,
  planSharing,
  roundHalfEven,
  type SharingPlan,
} from '../../src/recursive/sharing.js';

const slots = (p: SharingPlan): number[] => p.unrolled.map((u) => u.slot);
const loops = (p: SharingPlan): number[] => p.unrolled.map((u) => u.loop);
const uniques = (p: SharingPlan): boolean[] => p.unrolled.map((u) => u.unique);
const sources = (p: SharingPlan): number[] => p.unrolled.map((u) => u.sourceLayer);
const iota = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

test('roundHalfEven rounds ties to the even neighbour as Python/numpy do', () => {
  const cases: [number, number][] = [
    [0.5, 0], [1.5, 2], [2.5, 2], [3.5, 4], [8.5, 8], [-0.5, 0], [-1.5, -2], [-2.5, -2],
    [2.4999999, 2], [4.5000001, 5], [7, 7], [6.51, 7], [-3.2, -3],
  ];
  for (const [x, want] of cases) assert.equal(roundHalfEven(x) + 0, want, `round(${x})`);
});

test('linspaceRounded matches numpy round(linspace(start, stop, n)), including exact .5 ties', () => {
  // Expected values printed by numpy 1.x: [int(round(x)) for x in np.linspace(a, b, n)].
  const cases: [number, number, number, number[]][] = [
    [0, 17, 9, [0, 2, 4, 6, 8, 11, 13, 15, 17]],
    [0, 21, 11, [0, 2, 4, 6, 8, 10, 13, 15, 17, 19, 21]],
    [0, 15, 8, [0, 2, 4, 6, 9, 11, 13, 15]],
    [0, 4, 4, [0, 1, 3, 4]],
    [0, 9, 7, [0, 2, 3, 4, 6, 8, 9]], // samples 1.5, 4.5, 7.5 are exact ties
    [0, 1, 3, [0, 0, 1]],
    [0, 17, 1, [0]],
    [3, 3, 4, [3, 3, 3, 3]],
    [0, 100, 8, [0, 14, 29, 43, 57, 71, 86, 100]],
    [1, 14, 13, [1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 14]],
    [0, 10, 0, []],
  ];
  for (const [a, b, n, want] of cases) assert.deepEqual(linspaceRounded(a, b, n), want, `linspace(${a}, ${b}, ${n})`);
});

test('cycle maps depth ℓ to slot ℓ mod K and loop ⌊ℓ/K⌋', () => {
  const p = planSharing({ sourceLayers: 6, nLoops: 2 });
  assert.equal(p.strategy, 'cycle');
  assert.equal(p.init, 'stepwise');
  assert.equal(p.nShared, 3);
  assert.deepEqual(slots(p), [0, 1, 2, 0, 1, 2]);
  assert.deepEqual(loops(p), [0, 0, 0, 1, 1, 1]);
  assert.deepEqual(sources(p), iota(6));
  assert.deepEqual(uniques(p), Array(6).fill(false));
  const q = planSharing({ sourceLayers: 6, nLoops: 3, strategy: 'cycle' });
  assert.deepEqual(slots(q), [0, 1, 0, 1, 0, 1]);
  assert.deepEqual(loops(q), [0, 0, 1, 1, 2, 2]);
  const paper = planSharing({ sourceLayers: 9, nLoops: 3 }); // MoR table: (0,1,2),(0,1,2),(0,1,2)
  assert.deepEqual(slots(paper), [0, 1, 2, 0, 1, 2, 0, 1, 2]);
});

test('sequence maps depth ℓ to slot ⌊ℓ/B⌋ and loop ℓ mod B', () => {
  const p = planSharing({ sourceLayers: 6, nLoops: 2, strategy: 'sequence' });
  assert.deepEqual(slots(p), [0, 0, 1, 1, 2, 2]);
  assert.deepEqual(loops(p), [0, 1, 0, 1, 0, 1]);
  const q = planSharing({ sourceLayers: 6, nLoops: 3, strategy: 'sequence' });
  assert.deepEqual(slots(q), [0, 0, 0, 1, 1, 1]);
  assert.deepEqual(loops(q), [0, 1, 2, 0, 1, 2]);
});

test('middle-cycle and middle-sequence keep the first and last layers unique in slots 0 and K+1', () => {
  const mc = planSharing({ sourceLayers: 8, nLoops: 3, strategy: 'middle-cycle' });
  assert.equal(mc.nShared, 2);
  assert.deepEqual(slots(mc), [0, 1, 2, 1, 2, 1, 2, 3]);
  assert.deepEqual(loops(mc), [0, 0, 0, 1, 1, 2, 2, 0]);
  assert.deepEqual(uniques(mc), [true, false, false, false, false, false, false, true]);
  assert.deepEqual(sources(mc), iota(8));
  assert.deepEqual(mc.slotSources, [[0], [1], [6], [7]]); // stepwise over middle: round(linspace(1, 6, 2))
  const ms = planSharing({ sourceLayers: 8, nLoops: 3, strategy: 'middle-sequence' });
  assert.deepEqual(slots(ms), [0, 1, 1, 1, 2, 2, 2, 3]);
  assert.deepEqual(loops(ms), [0, 0, 1, 2, 0, 1, 2, 0]);
  assert.deepEqual(uniques(ms), uniques(mc));
});

test('stepwise sources keep the first and last layer: Gemma 18→9, TinyLlama 22→11, Pythia 16→8', () => {
  const src = (L: number): number[] => planSharing({ sourceLayers: L, nLoops: 2 }).slotSources.map((s) => s[0]);
  assert.deepEqual(src(18), [0, 2, 4, 6, 8, 11, 13, 15, 17]);
  assert.deepEqual(src(22), [0, 2, 4, 6, 8, 10, 13, 15, 17, 19, 21]);
  assert.deepEqual(src(16), [0, 2, 4, 6, 9, 11, 13, 15]);
  for (const L of [18, 22, 16]) {
    const p = planSharing({ sourceLayers: L, nLoops: 2, strategy: 'sequence' });
    assert.ok(p.slotSources.every((s) => s.length === 1));
    assert.deepEqual(p.slotSources.map((s) => s[0]), src(L), 'stepwise does not depend on cycle vs sequence');
  }
});

test('average sources are the layers each strategy ties to a slot', () => {
  assert.deepEqual(planSharing({ sourceLayers: 6, nLoops: 2, init: 'average' }).slotSources, [[0, 3], [1, 4], [2, 5]]);
  assert.deepEqual(planSharing({ sourceLayers: 6, nLoops: 2, strategy: 'sequence', init: 'average' }).slotSources, [[0, 1], [2, 3], [4, 5]]);
  assert.deepEqual(planSharing({ sourceLayers: 6, nLoops: 3, init: 'average' }).slotSources, [[0, 2, 4], [1, 3, 5]]);
  assert.deepEqual(planSharing({ sourceLayers: 8, nLoops: 3, strategy: 'middle-cycle', init: 'average' }).slotSources, [[0], [1, 3, 5], [2, 4, 6], [7]]);
  assert.deepEqual(planSharing({ sourceLayers: 8, nLoops: 3, strategy: 'middle-sequence', init: 'average' }).slotSources, [[0], [1, 2, 3], [4, 5, 6], [7]]);
  // Average ties exactly the depths that use the slot.
  for (const strategy of STRATEGIES) {
    const p = planSharing({ sourceLayers: 14, nLoops: 3, strategy, init: 'average' });
    p.slotSources.forEach((srcs, slot) => {
      assert.deepEqual(srcs, p.unrolled.filter((u) => u.slot === slot).map((u) => u.sourceLayer), `${strategy} slot ${slot}`);
    });
  }
});

test('lower and upper take the first and last K shareable layers', () => {
  assert.deepEqual(planSharing({ sourceLayers: 6, nLoops: 2, init: 'lower' }).slotSources, [[0], [1], [2]]);
  assert.deepEqual(planSharing({ sourceLayers: 6, nLoops: 2, init: 'upper' }).slotSources, [[3], [4], [5]]);
  assert.deepEqual(planSharing({ sourceLayers: 8, nLoops: 3, strategy: 'middle-cycle', init: 'lower' }).slotSources, [[0], [1], [2], [7]]);
  assert.deepEqual(planSharing({ sourceLayers: 8, nLoops: 3, strategy: 'middle-sequence', init: 'upper' }).slotSources, [[0], [5], [6], [7]]);
});

test('random init is deterministic for a seed, distinct, sorted, and never picks the unique layers', () => {
  const a = planSharing({ sourceLayers: 24, nLoops: 3, init: 'random', seed: 7 });
  const b = planSharing({ sourceLayers: 24, nLoops: 3, init: 'random', seed: 7 });
  assert.deepEqual(a.slotSources, b.slotSources);
  assert.equal(a.seed, 7);
  const picks = new Set<string>();
  for (let seed = 0; seed < 20; seed++) {
    for (const strategy of STRATEGIES) {
      const p = planSharing({ sourceLayers: 24, nLoops: 3, strategy, init: 'random', seed });
      const middle = strategy.startsWith('middle');
      const shared = middle ? p.slotSources.slice(1, -1) : p.slotSources;
      const ids = shared.map((s) => s[0]);
      assert.equal(ids.length, p.nShared);
      assert.deepEqual(ids, [...ids].sort((x, y) => x - y), 'sorted');
      assert.equal(new Set(ids).size, ids.length, 'distinct');
      const lo = middle ? 1 : 0, hi = middle ? 22 : 23;
      assert.ok(ids.every((i) => i >= lo && i <= hi), `in [${lo}, ${hi}]: ${ids}`);
      if (strategy === 'cycle') picks.add(ids.join(','));
    }
  }
  assert.ok(picks.size > 10, `different seeds give different layers (${picks.size} distinct of 20)`);
  const unseeded = planSharing({ sourceLayers: 24, nLoops: 3, init: 'random' });
  assert.equal(unseeded.seed, 0, 'a missing seed defaults to 0 and is recorded');
  assert.deepEqual(unseeded.slotSources, planSharing({ sourceLayers: 24, nLoops: 3, init: 'random', seed: 0 }).slotSources);
  assert.equal(planSharing({ sourceLayers: 24, nLoops: 3, seed: 5 }).seed, null, 'seed is null for non-random init');
});

test('L = 5 with 2 loops keeps round(linspace(0, 4, 4)) = 0, 1, 3, 4 and says so', () => {
  const p = planSharing({ sourceLayers: 5, nLoops: 2 });
  assert.equal(p.nShared, 2);
  assert.deepEqual(p.selectedLayers, [0, 1, 3, 4]);
  assert.deepEqual(sources(p), [0, 1, 3, 4]);
  assert.deepEqual(slots(p), [0, 1, 0, 1]);
  assert.ok(p.selectionNote?.includes('L = 5 is not divisible by 2 loops: kept layers 0, 1, 3, 4'), String(p.selectionNote));
  assert.ok(p.selectionNote?.includes('dropped layer 2'), String(p.selectionNote));
  assert.deepEqual(p.slotSources, [[0], [4]]); // stepwise round(linspace(0, 3, 2)) of the kept layers
  assert.deepEqual(planSharing({ sourceLayers: 5, nLoops: 2, init: 'average' }).slotSources, [[0, 3], [1, 4]]);
});

test('L = 30 with 4 loops drops layers 7 and 22 and maps stepwise sources to original indices', () => {
  const p = planSharing({ sourceLayers: 30, nLoops: 4 });
  assert.equal(p.nShared, 7);
  assert.deepEqual(p.selectedLayers, [...iota(7), ...iota(14).map((i) => i + 8), ...iota(7).map((i) => i + 23)]);
  assert.equal(p.unrolled.length, 28);
  assert.ok(p.selectionNote?.includes('dropped layers 7, 22'), String(p.selectionNote));
  // round(linspace(0, 27, 7)) = 0, 4, 9, 14, 18, 22, 27 (ties 13.5→14, 22.5→22) in the kept layers.
  assert.deepEqual(p.slotSources.map((s) => s[0]), [0, 4, 10, 15, 19, 24, 29]);
  assert.deepEqual(planSharing({ sourceLayers: 30, nLoops: 4, init: 'upper' }).slotSources.flat(), [23, 24, 25, 26, 27, 28, 29]);
});

test('middle-* with L − 2 not divisible keeps first and last and selects round(linspace(1, L−2, K·B))', () => {
  const p = planSharing({ sourceLayers: 12, nLoops: 3, strategy: 'middle-cycle' });
  assert.equal(p.nShared, 3);
  assert.deepEqual(p.selectedLayers, [0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11]);
  assert.ok(p.selectionNote?.includes('round(linspace(1, 10, 9))'), String(p.selectionNote));
  assert.ok(p.selectionNote?.includes('dropped layer 5'), String(p.selectionNote));
  assert.deepEqual(slots(p), [0, 1, 2, 3, 1, 2, 3, 1, 2, 3, 4]);
  assert.deepEqual(p.slotSources, [[0], [1], [6], [10], [11]]); // round(linspace(1, 9, 3)) = 1, 5, 9 of the kept layers
});

test('divisible plans select every layer and carry no note', () => {
  for (const strategy of STRATEGIES) {
    const p = planSharing({ sourceLayers: strategy.startsWith('middle') ? 14 : 12, nLoops: 3, strategy });
    assert.deepEqual(p.selectedLayers, iota(p.sourceLayers));
    assert.equal(p.selectionNote, null);
  }
});

test('every depth uses an in-range slot; shared slots are used nLoops times (once per loop), unique ones once', () => {
  for (const strategy of STRATEGIES) {
    for (const init of INIT_METHODS) {
      for (let L = 3; L <= 20; L++) {
        const middle = strategy.startsWith('middle');
        for (let B = 1; B <= (middle ? L - 2 : L); B++) {
          const p = planSharing({ sourceLayers: L, nLoops: B, strategy, init, seed: L * 31 + B });
          const K = Math.floor((middle ? L - 2 : L) / B);
          const label = `${strategy}/${init} L=${L} B=${B}`;
          assert.equal(p.nShared, K, label);
          assert.equal(p.unrolled.length, K * B + (middle ? 2 : 0), label);
          assert.equal(p.slotSources.length, K + (middle ? 2 : 0), label);
          for (let s = 0; s < p.slotSources.length; s++) {
            const uses = p.unrolled.filter((u) => u.slot === s);
            const unique = middle && (s === 0 || s === K + 1);
            assert.equal(uses.length, unique ? 1 : B, `${label} slot ${s}`);
            assert.ok(uses.every((u) => u.unique === unique), `${label} slot ${s}`);
            assert.deepEqual(uses.map((u) => u.loop), unique ? [0] : iota(B), `${label} slot ${s} loops`);
            assert.ok(p.slotSources[s].every((i) => p.selectedLayers.includes(i)), `${label} slot ${s} sources kept`);
          }
          assert.deepEqual(sources(p), p.selectedLayers, label);
          assert.ok(p.selectedLayers.every((x, i) => i === 0 || x > p.selectedLayers[i - 1]), `${label} increasing`);
          assert.ok(p.selectedLayers[0] === 0 && p.selectedLayers.at(-1) === L - 1, `${label} first and last kept`);
        }
      }
    }
  }
});

test('nLoops = 1 is the identity plan for every init', () => {
  for (const init of INIT_METHODS) {
    const p = planSharing({ sourceLayers: 7, nLoops: 1, init });
    assert.deepEqual(slots(p), iota(7));
    assert.deepEqual(loops(p), Array(7).fill(0));
    assert.deepEqual(p.slotSources, iota(7).map((i) => [i]), init);
    const m = planSharing({ sourceLayers: 7, nLoops: 1, init, strategy: 'middle-sequence' });
    assert.deepEqual(slots(m), iota(7));
    assert.deepEqual(m.slotSources, iota(7).map((i) => [i]), `middle ${init}`);
  }
});

test('a plan survives a JSON round trip unchanged', () => {
  for (const strategy of STRATEGIES) {
    for (const init of INIT_METHODS) {
      const p = planSharing({ sourceLayers: 13, nLoops: 2, strategy, init, seed: 3 });
      assert.deepEqual(JSON.parse(JSON.stringify(p)), p);
    }
  }
});

test('bad options throw InputError bad_option with a message naming the problem', () => {
  const bad = (opts: Parameters<typeof planSharing>[0], re: RegExp): void => {
    assert.throws(() => planSharing(opts), (e: unknown) => e instanceof InputError && e.code === 'bad_option' && re.test(e.message));
  };
  bad({ sourceLayers: 6, nLoops: 0 }, /nLoops must be a positive integer, got 0/);
  bad({ sourceLayers: 6, nLoops: -2 }, /nLoops/);
  bad({ sourceLayers: 6, nLoops: 1.5 }, /nLoops must be a positive integer, got 1.5/);
  bad({ sourceLayers: 6, nLoops: NaN }, /nLoops/);
  bad({ sourceLayers: 4, nLoops: 5 }, /nLoops = 5 exceeds the model's 4 layers/);
  bad({ sourceLayers: 5, nLoops: 4, strategy: 'middle-cycle' }, /nLoops = 4 exceeds the 3 middle layers/);
  bad({ sourceLayers: 2, nLoops: 1, strategy: 'middle-sequence' }, /needs L ≥ 3/);
  bad({ sourceLayers: 0, nLoops: 1 }, /sourceLayers must be a positive integer/);
  bad({ sourceLayers: 6.5, nLoops: 1 }, /sourceLayers/);
  bad({ sourceLayers: 6, nLoops: 2, strategy: 'cycle-rev' as never }, /unknown sharing strategy 'cycle-rev'/);
  bad({ sourceLayers: 6, nLoops: 2, init: 'mean' as never }, /unknown init method 'mean'/);
  bad({ sourceLayers: 6, nLoops: 2, init: 'random', seed: 0.5 }, /seed must be an integer/);
  assert.throws(() => linspaceRounded(0, 1, -1), InputError);
});
