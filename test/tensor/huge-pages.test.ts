// Weights on 2 MB pages: the native arena allocator checks its argument, and packTensors moves a
// model's tensors into one arena without changing a bit of what the model computes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { configFromHf } from '../../src/models/profiles/index.js';
import { Decoder } from '../../src/models/decoder.js';
import type { Layer, Weights } from '../../src/models/weights.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { packTensors } from '../../src/tensor/huge-pages.js';
import { native } from '../../src/tensor/kernels.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { randn, skipWithoutNative } from '../helpers.js';

const skip = skipWithoutNative(native);

test('alloc_huge_pages gives a zeroed, writable buffer of exactly the bytes asked, and refuses bad sizes', { skip }, () => {
  const nat = native!;
  for (const n of [1, 4097, (2 << 20) + 3]) {
    const b = nat.alloc_huge_pages(n);
    assert.equal(b.byteLength, n);
    const u = new Uint8Array(b);
    assert.ok(u.every((x) => x === 0), 'zeroed');
    u.fill(7);
    assert.equal(u[n - 1], 7);
  }
  // past 4 GiB N-API cannot make the buffer (and crashed on its failure path): refused before mapping
  for (const bad of [0, -1, 1.5, NaN, Infinity, 2 ** 32 + 1, 2 ** 41]) assert.throws(() => nat.alloc_huge_pages(bad), /alloc_huge_pages.*bytes must be/, String(bad));
  assert.throws(() => nat.alloc_huge_pages('8' as unknown as number), TypeError);
  assert.throws(() => (nat.alloc_huge_pages as (...a: unknown[]) => ArrayBuffer)(), TypeError);
});

/** A random llama-shaped model of ~10 MB (over packTensors' 8 MB floor), slot 0 shared by layers 0 and 2. */
function model(): { config: ReturnType<typeof configFromHf>; weights: Weights } {
  const config = configFromHf({ model_type: 'llama', hidden_size: 256, intermediate_size: 512, num_hidden_layers: 3, num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 8192, max_position_embeddings: 64, rms_norm_eps: 1e-5, tie_word_embeddings: false });
  let seed = 1;
  const mat = (o: number, i: number) => Tensor.param(randn(o * i, seed++, 1 / Math.sqrt(i)), [o, i], `m${seed}`);
  const D = 256, F = 512;
  const slot = () => ({ q: mat(D, D), k: mat(128, D), v: mat(128, D), o: mat(D, D), gate: mat(F, D), up: mat(F, D), down: mat(D, F) });
  const slots = [slot(), slot()];
  const norm = { w: new Tensor(new Float32Array(D).fill(1), [D]), b: null };
  const layers: Layer[] = [0, 1, 0].map((s) => ({
    attnNorm: norm, mlpNorm: norm,
    proj: Object.fromEntries(Object.entries(slots[s]).map(([k, w]) => [k, { w, b: null, lora: null }])),
  }));
  return { config, weights: { embed: mat(8192, D), pos: null, layers, finalNorm: norm, head: mat(8192, D) } };
}

test('packTensors moves every tensor into one arena: same values and metadata, shared tensors stay shared, same logits', { skip }, () => {
  const { config, weights } = model();
  const packed = packTensors(weights);
  assert.notEqual(packed, weights);
  const q0 = packed.layers[0].proj.q!.w;
  assert.equal(packed.layers[2].proj.q!.w, q0, 'a shared slot is one tensor after packing');
  assert.equal(packed.layers[0].attnNorm, packed.layers[1].mlpNorm, 'a shared norm object stays shared');
  assert.equal(packed.pos, null);
  const buffers = new Set([packed.embed, packed.head, q0, packed.finalNorm.w].map((t) => t.data.buffer));
  assert.equal(buffers.size, 1, 'one arena');
  assert.notEqual(q0.data.buffer, weights.layers[0].proj.q!.w.data.buffer);
  assert.deepEqual(q0.data, weights.layers[0].proj.q!.w.data);
  assert.deepEqual(packed.head.data, weights.head.data);
  assert.equal(q0.requiresGrad, true);
  assert.equal(q0.name, weights.layers[0].proj.q!.w.name);
  const ids = Int32Array.from({ length: 12 }, (_, i) => (i * 977) % 8192);
  const run = (w: Weights) => noGrad(() => new Decoder(config, w).forward(ids, 2, 6).logits.f32.slice());
  assert.deepEqual(run(packed), run(weights));
});

test('packTensors splits arenas at a size limit (4 GiB by default): same values, sharing kept, a tensor past the limit left in place', { skip }, () => {
  const mb = (n: number, seed: number) => Tensor.param(randn(n * 262144, seed), [n, 262144], `t${seed}`);
  const small = Array.from({ length: 10 }, (_, i) => mb(1, i + 1)); // 1 MB each
  const big = mb(12, 99);
  const weights = { small, big, again: small[3] };
  const limit = 3 << 20;
  const packed = packTensors(weights, limit);
  assert.equal(packed.big, big, 'the 12 MB tensor is past the 3 MB limit: left as it was');
  const arenas = new Set(packed.small.map((t) => t.data.buffer));
  assert.ok(arenas.size >= 4, `10 MB in arenas of at most 3 MB: ${arenas.size}`);
  for (const buf of arenas) assert.ok(buf.byteLength <= limit, `arena of ${buf.byteLength} bytes`);
  packed.small.forEach((t, i) => {
    assert.notEqual(t.data.buffer, small[i].data.buffer, 'moved');
    assert.deepEqual(t.data, small[i].data);
    assert.equal(t.name, small[i].name);
  });
  assert.equal(packed.again, packed.small[3], 'a tensor reached twice is one copy');
});

test('packTensors leaves small models and RRT_HUGE_PAGES=0 alone', { skip }, () => {
  const small = { w: new Tensor(new Float32Array(1000), [1000]) };
  assert.equal(packTensors(small), small);
  const { weights } = model();
  const saved = process.env.RRT_HUGE_PAGES;
  process.env.RRT_HUGE_PAGES = '0';
  try {
    assert.equal(packTensors(weights), weights);
  } finally {
    if (saved === undefined) delete process.env.RRT_HUGE_PAGES;
    else process.env.RRT_HUGE_PAGES = saved;
  }
});
