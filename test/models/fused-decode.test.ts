// The decoder's fused single-token step (decode_layer_f32) against its composed ops (forward with
// fused: false): on every fixture architecture, bf16 checkpoints, the bundled stories260K and
// recursive conversions of it, decoding with and without it gives the same logits bit for bit (so
// the same greedy tokens) and the same KV caches; it runs in every layer where it applies (llama,
// gemma, qwen2, qwen3 with its per-head q/k norms, OLMo-2 with its norms after the sublayers and
// whole-projection q/k norms, Gemma 2/3's norms before and after, sliding windows (decoding past
// them), soft-cap and Gemma 3's local rotary base, Phi-3's fused qkv and gate_up weights (cut into
// row ranges; f32, bf16, q8_0, q4_0), its partial rotary and longrope, with or without LoRA adapters)
// and nowhere else (GPT-2, GPT-NeoX, packed weights cut inside a panel, prefill).
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Decoder } from '../../src/models/decoder.js';
import { KvCache } from '../../src/models/kv-cache.js';
import { BUNDLED_MODEL, loadModel } from '../../src/models/load.js';
import { convertToRecursive } from '../../src/recursive/convert.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { native } from '../../src/tensor/kernels.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { forEachIsa, randint, randn, skipWithoutNative } from '../helpers.js';
import { phi3, randomModel, toDtype } from '../../bench/random-model.js';

const skip = skipWithoutNative(native);
const HF = new URL('../../fixtures/hf/', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'rrt-fused-'));

/** Counts decode_layer_f32 calls made by fn. */
function countFused<T>(fn: () => T): { result: T; calls: number } {
  const nat = native!;
  const orig = nat.decode_layer_f32;
  let calls = 0;
  nat.decode_layer_f32 = (...args) => {
    calls++;
    return orig(...args);
  };
  try {
    return { result: fn(), calls };
  } finally {
    nat.decode_layer_f32 = orig;
  }
}

function sameBits(a: Float32Array, b: Float32Array): number {
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length), y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  return x.findIndex((v, i) => v !== y[i]);
}

/**
 * Prefills `prompt` into two caches, then decodes `steps` greedy tokens in lockstep, fused and
 * composed, asserting equal logits and caches; returns the number of fused layer calls.
 */
function decodeBoth(d: Decoder, prompt: number[], steps: number, label: string): number {
  const total = prompt.length + steps;
  const fusedCache = new KvCache(d.config, total, d.nLayers), plainCache = new KvCache(d.config, total, d.nLayers);
  const ids = Int32Array.from(prompt);
  let logits = noGrad(() => d.forward(ids, 1, ids.length, { caches: [fusedCache], lastOnly: true }).logits.f32);
  noGrad(() => d.forward(ids, 1, ids.length, { caches: [plainCache], lastOnly: true, fused: false }));
  let calls = 0;
  for (let s = 0; s < steps; s++) {
    const id = logits.reduce((best, v, i) => (v > logits[best] ? i : best), 0);
    const step = Int32Array.of(id);
    const f = countFused(() => noGrad(() => d.forward(step, 1, 1, { caches: [fusedCache] }).logits.f32));
    const plain = noGrad(() => d.forward(step, 1, 1, { caches: [plainCache], fused: false }).logits.f32);
    calls += f.calls;
    const i = sameBits(f.result, plain);
    assert.equal(i, -1, `${label} step ${s}: logit ${i} is ${f.result[i]} fused, ${plain[i]} composed`);
    logits = plain;
  }
  for (let l = 0; l < d.nLayers; l++) {
    assert.equal(sameBits(fusedCache.k[l], plainCache.k[l]), -1, `${label}: keys of layer ${l}`);
    assert.equal(sameBits(fusedCache.v[l], plainCache.v[l]), -1, `${label}: values of layer ${l}`);
  }
  return calls;
}

const STEPS = 6;
const fixtures: [string, boolean][] = [
  ['llama', true], ['llama-tied', true], ['gemma', true], ['qwen2', true], ['llama-bf16', true], ['gemma-bf16', true],
  ['qwen3', true], ['olmo2', true], ['gemma3-full', true], ['gemma2', true], ['gemma3', true], ['gpt2', false], ['gpt-neox', false],
  ['phi3', true], ['phi3-longrope', true], ['phi3-swa', true], ['phi3-partial', true],
];

/** Fixtures made from others by a config change: gemma3-full, Gemma 3 with its sliding window as long as its context (full attention, no windows); phi3-partial, Phi-3 rotating half of each head (Phi-4-mini's partial rotary). */
const VARIANTS: Record<string, [string, (cfg: Record<string, unknown>) => Record<string, unknown>]> = {
  'gemma3-full': ['gemma3', (cfg) => ({ ...cfg, sliding_window: cfg.max_position_embeddings })],
  'phi3-partial': ['phi3', (cfg) => ({ ...cfg, partial_rotary_factor: 0.5 })],
};

/** A fixture's path (VARIANTS written on first use). */
function fixture(name: string): string {
  const variant = VARIANTS[name];
  if (!variant) return `${HF}${name}`;
  const path = join(tmp, name);
  if (!existsSync(path)) {
    mkdirSync(path);
    const cfg = JSON.parse(readFileSync(`${HF}${variant[0]}/config.json`, 'utf8'));
    writeFileSync(join(path, 'config.json'), JSON.stringify(variant[1](cfg)));
    symlinkSync(`${HF}${variant[0]}/model.safetensors`, join(path, 'model.safetensors'));
  }
  return path;
}

for (const [name, applies] of fixtures) {
  test(`${name}: fused decode steps give the composed logits and caches bit for bit (${applies ? 'every layer fused' : 'never fused'})`, { skip }, () => {
    const m = loadModel(fixture(name));
    const prompt = Array.from(randint(5, m.config.vocabSize, 7));
    const calls = decodeBoth(m.decoder, prompt, STEPS, name);
    assert.equal(calls, applies ? STEPS * m.decoder.nLayers : 0, 'fused layer calls');
  });
}

test('stories260K, f32 and bf16 weights: fused decode equals composed decode for 40 tokens', { skip }, () => {
  for (const dtype of ['f32', 'bf16'] as const) {
    const m = loadModel(BUNDLED_MODEL, { dtype });
    const calls = decodeBoth(m.decoder, [1, 403, 407], 40, `stories260K ${dtype}`);
    assert.equal(calls, 40 * m.decoder.nLayers);
  }
});

test('recursive stories260K: shared layers fuse, and so do layers with LoRA adapters (same bits as the composed path)', { skip }, () => {
  const plain = join(tmp, 'c2');
  convertToRecursive(BUNDLED_MODEL, plain, { nLoops: 2, strategy: 'cycle', init: 'average' });
  const p = loadModel(plain);
  assert.equal(decodeBoth(p.decoder, [1, 20, 30], STEPS, 'recursive'), STEPS * p.decoder.nLayers);

  const lora = join(tmp, 'mc3-lora');
  convertToRecursive(BUNDLED_MODEL, lora, { nLoops: 3, strategy: 'middle-cycle', init: 'stepwise', loraRank: 4, untieNorms: true });
  const r = loadModel(lora);
  const adapted = r.decoder.weights.layers.filter((l) => Object.values(l.proj).some((x) => x?.lora)).length;
  assert.ok(adapted > 0, 'the conversion made adapters');
  assert.equal(decodeBoth(r.decoder, [1, 20, 30], STEPS, 'recursive + LoRA'), STEPS * r.decoder.nLayers);
});

for (const name of ['qwen3', 'olmo2', 'gemma3-full', 'gemma2', 'gemma3'])
  test(`recursive ${name}: per-depth norms (q/k too where it has them) and LoRA adapters on shared projections fuse, with the composed bits`, { skip }, () => {
    const path = join(tmp, `${name}-c2`);
    convertToRecursive(fixture(name), path, { nLoops: 2, strategy: 'cycle', init: 'stepwise', loraRank: 4, untieNorms: true });
    const r = loadModel(path);
    const layers = r.decoder.weights.layers;
    const [first, second] = [layers[0], layers[layers.length / 2]];
    assert.notEqual(first.attnNorm.w, second.attnNorm.w, 'untied: each depth its own norms');
    if (first.qNorm) assert.notEqual(first.qNorm.w, second.qNorm!.w, 'untied: each depth its own q norm');
    assert.ok(layers.some((l) => l.proj.q!.lora), 'the conversion made adapters');
    assert.equal(decodeBoth(r.decoder, [1, 20, 30], STEPS, `recursive ${name} + LoRA`), STEPS * r.decoder.nLayers);
  });

test('phi3-partial rotates half of each head (the fused rotDim below Dh)', { skip }, () => {
  const m = loadModel(fixture('phi3-partial'));
  assert.equal(m.config.rotaryDim * 2, m.config.headDim);
  assert.equal(m.decoder.fusedSpec?.rope?.rotDim, m.config.rotaryDim);
});

// Phi-3's fused qkv and gate_up weights go in as row ranges: packed ones cut at 16-row panels
for (const dtype of ['bf16', 'q8_0', 'q4_0'] as const)
  for (const name of ['phi3', 'phi3-partial'])
    test(`${name} (${dtype}): fused decode steps give the composed bits in every layer, on every ISA level`, { skip }, () => {
      const m = loadModel(fixture(name), { dtype });
      const prompt = Array.from(randint(5, m.config.vocabSize, 8));
      forEachIsa(native!, (isa) => assert.equal(decodeBoth(m.decoder, prompt, STEPS, `${name} ${dtype} ${isa}`), STEPS * m.decoder.nLayers));
    });

for (const [name, dtype] of [['phi3', 'f32'], ['phi3-longrope', 'bf16'], ['phi3-swa', 'f32'], ['phi3-partial', 'q8_0'], ['phi3-swa', 'q4_0']] as const)
  test(`recursive ${name} (${dtype}): untied norms and LoRA on the shared qkv and gate_up (A shared by the row ranges, B cut) fuse, with the composed bits on every ISA level`, { skip }, () => {
    const path = join(tmp, `${name}-c2-${dtype}`);
    convertToRecursive(fixture(name), path, { nLoops: 2, strategy: 'cycle', init: 'stepwise', loraRank: 4, untieNorms: true });
    const r = loadModel(path, { dtype });
    const layers = r.decoder.weights.layers;
    assert.notEqual(layers[0].attnNorm.w, layers[layers.length / 2].attnNorm.w, 'untied: each depth its own norms');
    assert.ok(layers.some((l) => l.proj.qkv?.lora) && layers.some((l) => l.proj.gateUp?.lora), 'the conversion made adapters on qkv and gate_up');
    forEachIsa(native!, (isa) => assert.equal(decodeBoth(r.decoder, [1, 20, 30, 40, 50, 60, 70, 80], STEPS, `recursive ${name} ${dtype} + LoRA ${isa}`), STEPS * r.decoder.nLayers));
  });

test('a Phi-3 whose k rows start inside a 16-row panel: packed weights take the composed path, bf16 ones the fused', { skip }, () => {
  // 8 heads of 8 and one kv head: q rows [0, 64), k [64, 72), v [72, 80); k and v share a panel
  const f32 = randomModel(phi3(2, 64, 8, 1, 96, 256)).decoder;
  const q = toDtype(f32, 'q8_0');
  assert.equal(decodeBoth(q, [1, 2, 3], 3, 'phi3 off panel q8_0'), 0);
  const b = toDtype(f32, 'bf16');
  assert.equal(decodeBoth(b, [1, 2, 3], 3, 'phi3 off panel bf16'), 3 * b.nLayers);
});

test('prefill (T > 1) and batched steps (B > 1) never take the fused path', { skip }, () => {
  const m = loadModel(`${HF}llama`);
  const cfg = m.config;
  const caches = [new KvCache(cfg, 8, m.decoder.nLayers), new KvCache(cfg, 8, m.decoder.nLayers)];
  const { calls } = countFused(() =>
    noGrad(() => {
      m.decoder.forward(Int32Array.of(1, 2, 3, 4), 2, 2, { caches });
      m.decoder.forward(Int32Array.of(5, 6), 2, 1, { caches });
    }),
  );
  assert.equal(calls, 0);
});

test('a full cache throws the same context_overflow error on the fused path', { skip }, () => {
  const m = loadModel(`${HF}llama`);
  const cache = new KvCache(m.config, 2, m.decoder.nLayers);
  noGrad(() => m.decoder.forward(Int32Array.of(1, 2), 1, 2, { caches: [cache] }));
  assert.throws(() => noGrad(() => m.decoder.forward(Int32Array.of(3), 1, 1, { caches: [cache] })), { code: 'context_overflow', message: /KV cache full: 2 \+ 1 tokens exceed its capacity of 2/ });
});

test('an adapter attached after decoding has begun is honoured on the fused path', { skip }, () => {
  const m = loadModel(`${HF}llama`);
  const d = m.decoder;
  const cache = new KvCache(m.config, 8, d.nLayers), plain = new KvCache(m.config, 8, d.nLayers), none = new KvCache(m.config, 8, d.nLayers);
  const step = (id: number, c: KvCache, fused: boolean) => noGrad(() => d.forward(Int32Array.of(id), 1, 1, { caches: [c], fused }).logits.f32);
  step(1, cache, true);
  step(1, plain, false);
  step(1, none, false);
  const without = step(2, none, false);
  const q = d.weights.layers[0].proj.q!;
  const [out, inp] = q.w.shape;
  q.lora = { a: new Tensor(randn(2 * inp, 3, 0.5), [2, inp]), b: new Tensor(randn(out * 2, 4, 0.5), [out, 2]) };
  try {
    const f = countFused(() => step(2, cache, true));
    assert.equal(f.calls, d.nLayers, 'every layer, the adapted one included');
    assert.equal(sameBits(f.result, step(2, plain, false)), -1, 'logits with the adapter, fused = composed');
    assert.notEqual(sameBits(f.result, without), -1, 'the adapter changed the logits');
  } finally {
    q.lora = null;
  }
});
