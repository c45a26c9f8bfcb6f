// OLMo-2: its config (post-sublayer norms, q/k norms over the whole projection) is read and its
// unknown fields refused by name; the norms train (gradients match finite differences), are
// shared or per-depth in a recursive model, and survive a save and reload.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '../../src/errors.js';
import { loadModel } from '../../src/models/load.js';
import { configFromHf, profileForArch } from '../../src/models/profiles/index.js';
import { saveModel } from '../../src/models/save.js';
import { convertToRecursive } from '../../src/recursive/convert.js';
import { noGrad } from '../../src/tensor/autograd.js';
import * as ops from '../../src/tensor/ops/index.js';
import { decodeLayerAvailable } from '../../src/tensor/ops/decode-layer.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { assertClose, assertGradMatchesFd, randint } from '../helpers.js';

const HF = new URL('../../fixtures/hf/', import.meta.url).pathname;
const OLMO2 = join(HF, 'olmo2');
const json = () => JSON.parse(readFileSync(join(OLMO2, 'config.json'), 'utf8')) as Record<string, unknown>;
const tmp = mkdtempSync(join(tmpdir(), 'rrt-olmo2-'));

test('olmo2 config: norms after each sublayer, q/k norms over the whole projection, GQA', () => {
  const c = configFromHf(json());
  assert.equal(c.arch, 'olmo2');
  assert.equal(c.normPlacement, 'post');
  assert.equal(c.qkNorm, 'whole');
  assert.equal(c.headDim, 16);
  assert.equal(c.nHeads, 4);
  assert.equal(c.nKvHeads, 2);
  const names = profileForArch('olmo2').layer(c, 1).map((e) => `${e.key}=${e.hf}`);
  assert.ok(names.includes('attnNorm.w=model.layers.1.post_attention_layernorm.weight'));
  assert.ok(names.includes('mlpNorm.w=model.layers.1.post_feedforward_layernorm.weight'));
  assert.ok(!names.some((n) => n.includes('input_layernorm')));
  const m = loadModel(OLMO2);
  const l = m.decoder.weights.layers[0];
  assert.deepEqual(l.qNorm!.w.shape, [64]);
  assert.deepEqual(l.kNorm!.w.shape, [32]);
  assert.equal(l.proj.q!.b, null);
  // the native fused layer takes its norms where they sit: after the sublayers, q/k over the whole projection
  assert.equal(m.decoder.fusedSpec !== null, decodeLayerAvailable);
  if (decodeLayerAvailable) {
    const w = m.decoder.fusedWeights(l)!;
    assert.deepEqual([w.attnNorm, w.mlpNorm, w.postAttnNorm, w.postMlpNorm, w.qNorm, w.kNorm], [null, null, l.attnNorm.w, l.mlpNorm.w, l.qNorm!.w, l.kNorm!.w]);
    // a per-head q norm (Qwen3's layout) or a norm the description does not run does not fit it
    assert.equal(m.decoder.fusedWeights({ ...l, qNorm: { w: new Tensor(new Float32Array(16), [16]), b: null } }), null);
    assert.equal(m.decoder.fusedWeights({ ...l, postMlpNorm: l.mlpNorm }), null);
  }
});

test('olmo2 config: a field rrt does not know is refused by name', () => {
  const refused = (extra: Record<string, unknown>, field: string) =>
    assert.throws(() => configFromHf({ ...json(), ...extra }), (e: unknown) => e instanceof ConfigError && e.field === field && e.message.includes(field), field);
  refused({ mlp_bias: true }, 'mlp_bias');
  refused({ sliding_window: 64 }, 'sliding_window');
  refused({ clip_qkv: 8 }, 'clip_qkv');
  // known fields that do not change the math are read as usual
  assert.equal(configFromHf({ ...json(), use_cache: false, _name_or_path: 'x' }).arch, 'olmo2');
});

test('olmo2: gradients of the post-norms and q/k norms (shared and per-depth) match finite differences', () => {
  const untied = join(tmp, 'untied');
  convertToRecursive(OLMO2, untied, { nLoops: 2, init: 'stepwise', loraRank: 4, untieNorms: true });
  for (const path of [OLMO2, untied]) {
    const m = loadModel(path);
    const ids = randint(2 * 10, m.config.vocabSize, 3), targets = randint(2 * 10, m.config.vocabSize, 4);
    const loss = () => ops.crossEntropy(ops.reshape(m.decoder.forward(ids, 2, 10).logits, [20, m.config.vocabSize]), targets);
    const layers = m.decoder.weights.layers;
    const last = layers[layers.length - 1];
    for (const p of [layers[1].qNorm!.w, last.kNorm!.w, layers[0].attnNorm.w, last.mlpNorm.w]) {
      assertGradMatchesFd(p, loss, [0, 7, 31], path);
    }
  }
});

test('olmo2 recursive: post-norms and q/k norms are shared by slot by default, per depth when untied, and survive save and reload', () => {
  const shared = join(tmp, 'shared');
  convertToRecursive(OLMO2, shared, { nLoops: 2, init: 'average', loraRank: 4 });
  const s = loadModel(shared).decoder.weights.layers;
  assert.equal(s[0].qNorm!.w, s[2].qNorm!.w, 'depths 0 and 2 share slot 0');
  assert.equal(s[1].mlpNorm.w, s[3].mlpNorm.w, 'depths 1 and 3 share slot 1');
  const untied = join(tmp, 'untied-2');
  convertToRecursive(OLMO2, untied, { nLoops: 2, init: 'average', loraRank: 4, untieNorms: true });
  const m = loadModel(untied);
  const u = m.decoder.weights.layers;
  const orig = loadModel(OLMO2).decoder.weights.layers;
  assert.notEqual(u[0].kNorm!.w, u[2].kNorm!.w, 'untied: each depth its own');
  assert.notEqual(u[1].attnNorm.w, u[3].attnNorm.w);
  assert.deepEqual(u[2].kNorm!.w.f32, orig[2].kNorm!.w.f32, 'a copy of the layer the depth replaces');
  assert.deepEqual(u[3].mlpNorm.w.f32, orig[3].mlpNorm.w.f32);
  // a trained-looking change to depths' norms is written and read back
  u[3].qNorm!.w.f32[40] += 0.25;
  u[2].attnNorm.w.f32[5] -= 0.25;
  const saved = join(tmp, 'saved');
  saveModel(m.config, m.decoder.weights, saved);
  const ids = randint(16, m.config.vocabSize, 9);
  const before = noGrad(() => m.decoder.forward(ids, 1, 16).logits.f32);
  const after = noGrad(() => loadModel(saved).decoder.forward(ids, 1, 16).logits.f32);
  assert.deepEqual(after, before);
});
