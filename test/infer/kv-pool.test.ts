// The paged KV pool with sliding-window depths: pages behind a depth's window go back to the free
// list as a sequence advances, so its pages in use there stay within the window plus a page;
// attention with that window gives the bits of a pool that keeps every page; reservations keep
// windowed sequences from running out while others allocate; misuse fails loudly.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KvPool, type KvRun, type KvSeq } from '../../src/infer/kv-pool.js';
import { kernels } from '../../src/tensor/kernels.js';
import { randn } from '../helpers.js';

const H = 4, Hkv = 2, Dh = 16, rowSize = Hkv * Dh, P = 16, scale = 0.25;

const held = (seq: KvSeq, depth: number) => seq.pages[depth].filter((p) => p >= 0).length;

test('a windowed depth holds at most the window plus one page over a long sequence, and attention gives the bits of the unbounded pool', () => {
  const W = 40, prompt = 20, total = 640, softcap = 5;
  const opts = { budgetBytes: 2 * 2 * (total / P + 2) * P * rowSize * 4, nDepths: 2, rowSize, pageSize: P, debug: true };
  const bounded = new KvPool({ ...opts, windows: [0, W], maxRun: prompt });
  const full = new KvPool(opts);
  const a = bounded.allocate(total)!, b = full.allocate(total)!;
  assert.ok(a && b);
  const write = (pos0: number, T: number, seed: number) => {
    const k = randn(2 * T * rowSize, seed, 3), v = randn(2 * T * rowSize, seed + 1);
    const runs = (seq: KvSeq): KvRun[] => [{ seq, depth: 0, pos0, T }, { seq, depth: 1, pos0, T }];
    bounded.write(k, v, runs(a));
    full.write(k, v, runs(b));
  };

  // the prompt as one chunk: attention over gathered keys with the window (released positions would read as NaN)
  write(0, prompt, 1);
  const qp = randn(prompt * H * Dh, 3, 3);
  const chunk = (pool: KvPool, seq: KvSeq) => {
    const { k, v } = pool.gather(seq, 1, prompt), out = new Float32Array(qp.length);
    kernels.attention_fwd_f32(out, null, qp, k, v, prompt, prompt, H, Hkv, Dh, 0, scale, W, softcap);
    return out;
  };
  assert.deepEqual(chunk(bounded, a), chunk(full, b));

  let maxHeld = 0;
  for (let pos = prompt; pos < total; pos++) {
    write(pos, 1, 10 + 2 * pos);
    const q = randn(H * Dh, 5000 + pos, 3);
    for (const [depth, window, cap] of [[0, 0, 0], [1, W, softcap]]) {
      const run = (pool: KvPool, seq: KvSeq) => {
        const out = new Float32Array(H * Dh);
        pool.attendDecode(out, q, [{ seq, depth, pos, row: 0 }], H, Hkv, Dh, scale, window, cap);
        return out;
      };
      const got = run(bounded, a);
      assert.deepEqual(got, run(full, b), `depth ${depth} position ${pos}`);
      assert.ok(got.every(Number.isFinite));
    }
    maxHeld = Math.max(maxHeld, held(a, 1));
    assert.ok(held(a, 1) <= Math.ceil(W / P) + 1, `position ${pos}: ${held(a, 1)} pages held at the windowed depth`);
    // the gathered window still matches after pages went back
    if (pos % 97 === 0) {
      const g = bounded.gather(a, 1, pos + 1), h = full.gather(b, 1, pos + 1), from = (pos + 1 - W) * rowSize;
      assert.deepEqual(g.k.subarray(from), h.k.subarray(from));
      assert.ok(Number.isNaN(g.k[0]), 'released positions read as NaN');
    }
  }
  assert.equal(maxHeld, Math.ceil(W / P) + 1, 'the bound is reached, so the check above is not vacuous');
  assert.equal(held(a, 0), total / P, 'the full depth keeps every page');
  assert.equal(bounded.bytesUsed, (total / P + held(a, 1)) * bounded.pageBytes);
  assert.equal(full.bytesUsed, (2 * total) / P * full.pageBytes);
  // without the window the attention would read released pages: the kernel refuses them
  assert.throws(() => bounded.attendDecode(new Float32Array(H * Dh), randn(H * Dh, 1), [{ seq: a, depth: 1, pos: total - 1, row: 0 }], H, Hkv, Dh, scale), /outside the pool/);
  bounded.release(a);
  full.release(b);
  assert.equal(bounded.freePages, bounded.nPages);
  assert.equal(bounded.bytesUsed, 0);
});

test('windowed depths reserve their pages: pagesFor counts the window, other sequences cannot take the promise, release returns all', () => {
  const W = 32, maxRun = 8;
  const pool = new KvPool({ budgetBytes: 40 * 2 * P * rowSize * 4, nDepths: 3, rowSize, pageSize: P, windows: [W, 0, 1], maxRun });
  assert.equal(pool.nPages, 40);
  // 200 positions: 13 pages at the full depth; ⌈(32 + 8 − 2)/16⌉ + 1 = 4 and ⌈(1 + 8 − 2)/16⌉ + 1 = 2 at the windowed ones
  assert.equal(pool.pagesFor(200), 13 + 4 + 2);
  assert.equal(pool.pagesFor(10), 1 + 1 + 1, 'a short sequence reserves no more than its length');
  const a = pool.allocate(200)!;
  assert.equal(pool.freePages, 40 - 19);
  assert.equal(pool.bytesUsed, 13 * pool.pageBytes, 'windowed pages are bound only as positions arrive');
  const b = pool.allocate(200)!;
  assert.equal(pool.freePages, 2);
  assert.equal(pool.allocate(30), null, 'promised pages are not handed out');
  for (let pos = 0; pos < 200; pos += maxRun) {
    const runs: KvRun[] = [0, 1, 2].map((depth) => ({ seq: a, depth, pos0: pos, T: maxRun }));
    pool.rowsFor(runs);
    assert.ok(held(a, 0) <= 4 && held(a, 2) <= 2);
    assert.equal(pool.freePages, 2, 'the free count net of promises does not move');
  }
  // a run longer than maxRun draws on unpromised pages, and fails once there are none
  pool.rowsFor([{ seq: b, depth: 2, pos0: 0, T: 64 }]); // 4 pages: the 2 promised and the 2 unpromised
  assert.equal(pool.freePages, 0);
  assert.equal(held(b, 2), 4);
  // the next run first returns those 4, then needs 6
  assert.throws(() => pool.rowsFor([{ seq: b, depth: 2, pos0: 64, T: 96 }]), /beyond its reservation/);
  assert.throws(() => pool.rowsFor([{ seq: a, depth: 0, pos0: 100, T: 1 }]), /behind its window/);
  pool.release(a);
  pool.release(b);
  assert.equal(pool.freePages, pool.nPages);
  assert.equal(pool.bytesUsed, 0);
});

test('copyPosition binds pages at a windowed target depth; bad windows are refused', () => {
  const pool = new KvPool({ budgetBytes: 20 * 2 * P * rowSize * 4, nDepths: 2, rowSize, pageSize: P, windows: [0, 20], maxRun: 1, debug: true });
  const seq = pool.allocate(100)!;
  for (let pos = 0; pos < 100; pos++) {
    pool.write(randn(rowSize, pos), randn(rowSize, pos + 1000), [{ seq, depth: 0, pos0: pos, T: 1 }]);
    pool.copyPosition(seq, 0, 1, pos);
    const at = (d: number) => (seq.pages[d][Math.floor(pos / P)] * P + (pos % P)) * rowSize;
    assert.deepEqual(pool.k.subarray(at(1), at(1) + rowSize), pool.k.subarray(at(0), at(0) + rowSize));
    assert.ok(held(seq, 1) <= Math.ceil(20 / P) + 1);
  }
  assert.throws(() => pool.copyPosition(seq, 1, 0, 10), /not bound/);
  const bad = (windows: number[]) => () => new KvPool({ budgetBytes: 1 << 20, nDepths: 2, rowSize, windows });
  assert.throws(bad([0]), /KV windows must be 2 non-negative integers/);
  assert.throws(bad([0, -4]), /KV windows must be/);
  assert.throws(bad([0, 1.5]), /KV windows must be/);
  assert.throws(() => new KvPool({ budgetBytes: 1 << 20, nDepths: 1, rowSize, windows: [4], maxRun: 0 }), /maxRun must be a positive integer/);
});
