// Qwen3: its config (per-head q/k norms, head_dim of its own) is read and its unknown fields
// refused by name; the q/k norms train (gradients match finite differences), are shared or
// per-depth in a recursive model, and survive a save and reload.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '../../src/errors.js';
import { loadModel } from '../../src/models/load.js';
import { configFromHf } from '../../src/models/profiles/index.js';
import { saveModel } from '../../src/models/save.js';
import { convertToRecursive } from '../../src/recursive/convert.js';
import { noGrad } from '../../src/tensor/autograd.js';
import * as ops from '../../src/tensor/ops/index.js';
import { decodeLayerAvailable } from '../../src/tensor/ops/decode-layer.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { assertClose, assertGradMatchesFd, randint } from '../helpers.js';

const HF = new URL('../../fixtures/hf/', import.meta.url).pathname;
const QWEN3 = join(HF, 'qwen3');
const json = () => JSON.parse(readFileSync(join(QWEN3, 'config.json'), 'utf8')) as Record<string, unknown>;
const tmp = mkdtempSync(join(tmpdir(), 'rrt-qwen3-'));

test('qwen3 config: per-head q/k norms, head_dim 16 beside hidden 64 / 8 heads, no projection biases', () => {
  const c = configFromHf(json());
  assert.equal(c.arch, 'qwen3');
  assert.equal(c.qkNorm, 'perHead');
  assert.equal(c.headDim, 16);
  assert.equal(c.nHeads, 8);
  assert.equal(c.nKvHeads, 2);
  assert.equal(c.attnScale, 1 / 4);
  const m = loadModel(QWEN3);
  const l = m.decoder.weights.layers[0];
  assert.deepEqual(l.qNorm!.w.shape, [16]);
  assert.deepEqual(l.kNorm!.w.shape, [16]);
  assert.equal(l.proj.q!.b, null);
  // the native fused layer takes the per-head q/k norms (where the addon is in use)
  assert.equal(m.decoder.fusedSpec !== null, decodeLayerAvailable);
  if (decodeLayerAvailable) {
    const w = m.decoder.fusedWeights(l)!;
    assert.equal(w.qNorm, l.qNorm!.w);
    assert.equal(w.kNorm, l.kNorm!.w);
    // a q/k norm of another width (the whole projection's, OLMo-2's layout) does not fit it
    assert.equal(m.decoder.fusedWeights({ ...l, qNorm: { w: new Tensor(new Float32Array(8 * 16), [8 * 16]), b: null } }), null);
    assert.equal(m.decoder.fusedWeights({ ...l, kNorm: null }), null);
  }
});

test('qwen3 config: a field rrt does not know, or an unknown layer type, is refused by name', () => {
  const refused = (extra: Record<string, unknown>, field: string) =>
    assert.throws(() => configFromHf({ ...json(), ...extra }), (e: unknown) => e instanceof ConfigError && e.field === field && e.message.includes(field), field);
  refused({ attn_logit_softcapping: 30 }, 'attn_logit_softcapping');
  refused({ mlp_bias: true }, 'mlp_bias');
  refused({ layer_types: ['full_attention', 'chunked_attention', 'full_attention', 'full_attention'] }, 'layer_types');
  // known fields that do not change the math are read as usual
  assert.equal(configFromHf({ ...json(), use_cache: false, _name_or_path: 'x' }).arch, 'qwen3');
});

test('qwen3: gradients of the q and k norms (shared and per-depth) match finite differences', () => {
  const untied = join(tmp, 'untied');
  convertToRecursive(QWEN3, untied, { nLoops: 2, init: 'stepwise', loraRank: 4, untieNorms: true });
  for (const path of [QWEN3, untied]) {
    const m = loadModel(path);
    const ids = randint(2 * 10, m.config.vocabSize, 3), targets = randint(2 * 10, m.config.vocabSize, 4);
    const loss = () => ops.crossEntropy(ops.reshape(m.decoder.forward(ids, 2, 10).logits, [20, m.config.vocabSize]), targets);
    const layers = m.decoder.weights.layers;
    for (const p of [layers[1].qNorm!.w, layers[layers.length - 1].kNorm!.w]) {
      assertGradMatchesFd(p, loss, [0, 7, 15], path);
    }
  }
});

test('qwen3 recursive: q/k norms are shared by slot by default, per depth when untied, and survive save and reload', () => {
  const shared = join(tmp, 'shared');
  convertToRecursive(QWEN3, shared, { nLoops: 2, init: 'average', loraRank: 4 });
  const s = loadModel(shared).decoder.weights.layers;
  assert.equal(s[0].qNorm!.w, s[2].qNorm!.w, 'depths 0 and 2 share slot 0');
  const untied = join(tmp, 'untied-2');
  convertToRecursive(QWEN3, untied, { nLoops: 2, init: 'average', loraRank: 4, untieNorms: true });
  const m = loadModel(untied);
  const u = m.decoder.weights.layers;
  assert.notEqual(u[0].kNorm!.w, u[2].kNorm!.w, 'untied: each depth its own');
  assert.deepEqual(u[2].kNorm!.w.f32, loadModel(QWEN3).decoder.weights.layers[2].kNorm!.w.f32, 'a copy of the layer the depth replaces');
  // a trained-looking change to one depth's norm is written and read back
  u[3].qNorm!.w.f32[5] += 0.25;
  const saved = join(tmp, 'saved');
  saveModel(m.config, m.decoder.weights, saved);
  const ids = randint(16, m.config.vocabSize, 9);
  const before = noGrad(() => m.decoder.forward(ids, 1, 16).logits.f32);
  const after = noGrad(() => loadModel(saved).decoder.forward(ids, 1, 16).logits.f32);
  assert.deepEqual(after, before);
});
