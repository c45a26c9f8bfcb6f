// Phi-3: its config (fused qkv_proj [q; k; v] and gate_up_proj [gate; up], no biases, partial
// rotary, longrope within the original context) is read, what it does not implement and unknown
// fields are refused by name; a recursive model puts its adapters on the fused projections, trains them (gradients match finite
// differences), and survives a save and reload and an export under Phi-3's tensor names.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '../../src/errors.js';
import { openSafetensors } from '../../src/formats/safetensors.js';
import { loadModel } from '../../src/models/load.js';
import { configFromHf, profileForArch } from '../../src/models/profiles/index.js';
import { saveModel } from '../../src/models/save.js';
import { convertToRecursive } from '../../src/recursive/convert.js';
import { exportUnrolled } from '../../src/recursive/export.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { decodeLayerAvailable } from '../../src/tensor/ops/decode-layer.js';
import * as ops from '../../src/tensor/ops/index.js';
import { assertClose, assertGradMatchesFd, randint } from '../helpers.js';

const HF = new URL('../../fixtures/hf/', import.meta.url).pathname;
const PHI3 = join(HF, 'phi3');
const json = () => JSON.parse(readFileSync(join(PHI3, 'config.json'), 'utf8')) as Record<string, unknown>;
const tmp = mkdtempSync(join(tmpdir(), 'rrt-phi3-'));

test('phi3 config: fused qkv and gate_up projections, GQA, partial rotary', () => {
  const c = configFromHf(json());
  assert.equal(c.arch, 'phi3');
  assert.equal(c.qkvLayout, 'fusedBlocks');
  assert.equal(c.gated, true);
  assert.equal(c.act, 'silu');
  assert.equal(c.nHeads, 4);
  assert.equal(c.nKvHeads, 2);
  assert.equal(c.headDim, 16);
  assert.equal(c.rotaryDim, 8, 'partial_rotary_factor 0.5 of head_dim 16');
  const names = profileForArch('phi3').layer(c, 1).map((e) => `${e.key}=${e.hf}`);
  assert.deepEqual(names, [
    'attnNorm.w=model.layers.1.input_layernorm.weight',
    'mlpNorm.w=model.layers.1.post_attention_layernorm.weight',
    'qkv.w=model.layers.1.self_attn.qkv_proj.weight',
    'o.w=model.layers.1.self_attn.o_proj.weight',
    'gateUp.w=model.layers.1.mlp.gate_up_proj.weight',
    'down.w=model.layers.1.mlp.down_proj.weight',
  ]);
  const m = loadModel(PHI3);
  const l = m.decoder.weights.layers[0];
  assert.deepEqual(l.proj.qkv!.w.shape, [(4 + 2 * 2) * 16, 64]);
  assert.deepEqual(l.proj.gateUp!.w.shape, [2 * 160, 64]);
  assert.equal(l.proj.qkv!.b, null);
  // the native fused layer takes q, k, v and gate, up as row ranges of the fused weights, no copies
  assert.equal(m.decoder.fusedSpec !== null, decodeLayerAvailable);
  const w = m.decoder.fusedWeights(l)!;
  const qkv = l.proj.qkv!.w.data, gateUp = l.proj.gateUp!.w.data;
  const rows = (t: { w: { data: ArrayBufferView; shape: readonly number[] } }, of: ArrayBufferView) => [t.w.data.buffer === of.buffer ? (t.w.data.byteOffset - of.byteOffset) / 4 / 64 : -1, t.w.shape[0]];
  assert.deepEqual([w.q, w.k, w.v].map((p) => rows(p, qkv)), [[0, 64], [64, 32], [96, 32]]);
  assert.deepEqual([w.gate, w.up].map((p) => rows(p, gateUp)), [[0, 160], [160, 160]]);
  assert.equal(m.decoder.fusedWeights(l)!.q.w, w.q.w, 'the same range tensors every call');
});

test('phi3 config: longrope within the original context; what it cannot do and unknown fields are refused by name', () => {
  const lr = () => JSON.parse(readFileSync(join(HF, 'phi3-longrope', 'config.json'), 'utf8')) as Record<string, unknown>;
  const c = configFromHf(lr());
  const s = c.ropeScaling!;
  assert.equal(s.type, 'longrope');
  assert.equal(s.shortFactor!.length, 8);
  assert.equal(s.factor, 4, 'max_position_embeddings / original_max_position_embeddings');
  assertClose([s.attentionFactor!], [Math.sqrt(1 + Math.log(4) / Math.log(128))], { rel: 1e-12 });
  assertClose([c.attnScale], [s.attentionFactor! ** 2 / 4], { rel: 1e-12, label: 'cos and sin scaled: q·k by its square' });
  assert.equal(c.maxPositions, 128, 'long_factor past the original context is not implemented: the context ends there');
  // the legacy spelling: rope_scaling of type su
  const params = lr().rope_parameters as Record<string, unknown>;
  const legacy = configFromHf({ ...lr(), rope_parameters: null, rope_scaling: { ...params, rope_type: undefined, type: 'su' } });
  assert.deepEqual(legacy.ropeScaling, s);
  const refused = (extra: Record<string, unknown>, field: string, words: string, base = lr()) =>
    assert.throws(() => configFromHf({ ...base, ...extra }), (e: unknown) => e instanceof ConfigError && e.field === field && e.message.includes(words), `${field} ${words}`);
  refused({ rope_parameters: { ...params, partial_rotary_factor: 0.5, short_factor: [1, 2, 3, 4] } }, 'rope_parameters', 'partial rotary');
  refused({ rope_parameters: { ...params, short_factor: [1, 2] } }, 'rope_parameters', 'short_factor');
  refused({ rope_parameters: { ...params, short_factor: undefined } }, 'rope_parameters', 'short_factor');
  refused({ mlp_bias: true }, 'mlp_bias', 'mlp_bias', json());
  refused({ attention_bias: true }, 'attention_bias', 'attention_bias', json());
  // longrope is read for Phi-3 only
  assert.throws(() => configFromHf({ ...JSON.parse(readFileSync(join(HF, 'llama', 'config.json'), 'utf8')), rope_parameters: null, rope_scaling: params }), /longrope/);
  // rope_scaling null is default rope; known fields that do not change the math are read as usual
  const d = configFromHf({ ...json(), rope_parameters: null, rope_scaling: null, rope_theta: 10000, partial_rotary_factor: 1, use_cache: false, _name_or_path: 'x' });
  assert.equal(d.ropeScaling, null);
  assert.equal(d.rotaryDim, 16);
  assert.equal(d.attnScale, 1 / 4);
  // a sliding window (Phi-3-mini-4k's 2047) slides every layer; the context stays
  const windowed = configFromHf({ ...json(), sliding_window: 64 });
  assert.deepEqual([windowed.maxPositions, windowed.windows], [256, [64, 64, 64, 64]]);
});

test('phi3 recursive: LoRA on the fused projections; its gradients match finite differences; save, reload and export keep the model', () => {
  const rec = join(tmp, 'r4');
  convertToRecursive(PHI3, rec, { nLoops: 2, init: 'stepwise', loraRank: 4 });
  const m = loadModel(rec);
  const layers = m.decoder.weights.layers;
  for (const p of ['qkv', 'o', 'gateUp', 'down'] as const) {
    assert.equal(layers[0].proj[p]!.lora!.a.shape[0], 4, `${p} has a rank-4 adapter`);
    assert.equal(layers[0].proj[p]!.w, layers[2].proj[p]!.w, `${p} shared by slot`);
  }
  const ids = randint(2 * 10, m.config.vocabSize, 3), targets = randint(2 * 10, m.config.vocabSize, 4);
  const loss = () => ops.crossEntropy(ops.reshape(m.decoder.forward(ids, 2, 10).logits, [20, m.config.vocabSize]), targets);
  // rows in the gate half and the up half of gate_up (160 rows each), in q, k and v of qkv (64, 32, 32)
  assertGradMatchesFd(layers[1].proj.gateUp!.lora!.b, loss, [0, 3 + 4 * 40, 3 + 4 * 170, 4 * 300 + 2], 'gate_up adapter B');
  assertGradMatchesFd(layers[2].proj.qkv!.lora!.b, loss, [0, 4 * 70 + 1, 4 * 100 + 2], 'qkv adapter B');
  layers[1].proj.gateUp!.lora!.b.f32[7] += 0.25;
  const saved = join(tmp, 'saved');
  saveModel(m.config, m.decoder.weights, saved);
  const tokens = randint(16, m.config.vocabSize, 9);
  const before = noGrad(() => m.decoder.forward(tokens, 1, 16).logits.f32);
  assert.deepEqual(noGrad(() => loadModel(saved).decoder.forward(tokens, 1, 16).logits.f32), before);
  const exported = join(tmp, 'exported');
  exportUnrolled(saved, exported);
  const f = openSafetensors(join(exported, 'model.safetensors'));
  const names = f.names();
  f.close();
  assert.ok(names.includes('model.layers.3.self_attn.qkv_proj.weight'));
  assert.ok(names.includes('model.layers.3.mlp.gate_up_proj.weight'));
  assert.ok(!names.some((n) => /\.(q_proj|k_proj|v_proj|gate_proj|up_proj)\./.test(n)), 'no split projection names');
  assertClose(noGrad(() => loadModel(exported).decoder.forward(tokens, 1, 16).logits.f32), before, { rel: 1e-5, label: 'export vs recursive' });
});
