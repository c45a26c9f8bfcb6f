// Gemma 2 and Gemma 3 (text): their configs (sandwich norms, soft-caps, sliding-window layers,
// Gemma 3's per-type rotary bases) are read and unknown fields refused by name; the windows and
// caps matter on the fixtures (switching them off moves the logits); the post-sublayer norms and
// the caps train (gradients match finite differences); the norms are shared or per depth in a
// recursive model and survive a save and reload; multimodal Gemma 3 checkpoints read as their text
// model. Parity with transformers: parity.test.ts.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '../../src/errors.js';
import { Decoder } from '../../src/models/decoder.js';
import { openSafetensors, writeSafetensors } from '../../src/formats/safetensors.js';
import { loadModel, openModelSource } from '../../src/models/load.js';
import { configFromHf } from '../../src/models/profiles/index.js';
import { saveModel } from '../../src/models/save.js';
import { convertToRecursive } from '../../src/recursive/convert.js';
import { noGrad } from '../../src/tensor/autograd.js';
import * as ops from '../../src/tensor/ops/index.js';
import { decodeLayerAvailable } from '../../src/tensor/ops/decode-layer.js';
import { assertGradMatchesFd, randint } from '../helpers.js';

const HF = new URL('../../fixtures/hf/', import.meta.url).pathname;
const json = (name: string) => JSON.parse(readFileSync(join(HF, name, 'config.json'), 'utf8')) as Record<string, unknown>;
const tmp = mkdtempSync(join(tmpdir(), 'rrt-gemma2-'));

test('gemma2 config: sandwich norms, both soft-caps, query_pre_attn_scalar, a window on alternate layers', () => {
  const c = configFromHf(json('gemma2'));
  assert.equal(c.arch, 'gemma2');
  assert.equal(c.normPlacement, 'sandwich');
  assert.equal(c.normKind, 'rmsPlusOne');
  assert.equal(c.attnSoftcap, 2);
  assert.equal(c.finalSoftcap, 10);
  assert.equal(c.attnScale, 1 / Math.sqrt(24));
  assert.deepEqual(c.windows, [6, 0, 6, 0]);
  assert.equal(c.qkNorm, undefined);
  const m = loadModel(join(HF, 'gemma2'));
  const l = m.decoder.weights.layers[1];
  assert.deepEqual([l.attnNorm, l.postAttnNorm!, l.mlpNorm, l.postMlpNorm!].map((n) => n.w.shape), [[64], [64], [64], [64]]);
  // the native fused layer takes the norms before and after, each depth's window and the soft-cap
  assert.equal(m.decoder.fusedSpec !== null, decodeLayerAvailable);
  if (decodeLayerAvailable) {
    assert.equal(m.decoder.fusedSpec!.softcap, 2);
    assert.deepEqual([0, 1].map((d) => m.decoder.fusedSpecAt(d)!.window), [6, 0]);
    const w = m.decoder.fusedWeights(l)!;
    assert.deepEqual([w.attnNorm, w.postAttnNorm, w.mlpNorm, w.postMlpNorm], [l.attnNorm.w, l.postAttnNorm!.w, l.mlpNorm.w, l.postMlpNorm!.w]);
  }
});

test('gemma3 config: per-head q/k norms, the layer_types pattern, a rotary base per layer type (legacy fields too)', () => {
  const c = configFromHf(json('gemma3'));
  assert.equal(c.arch, 'gemma3');
  assert.equal(c.qkNorm, 'perHead');
  assert.deepEqual(c.windows, [5, 5, 0, 5, 5, 0]);
  assert.equal(c.attnSoftcap, undefined);
  assert.equal(c.ropeTheta, 1e6);
  assert.deepEqual(c.ropeScaling, { type: 'linear', factor: 2 });
  assert.equal(c.localRopeTheta, 1e4);
  // the older form of the same config: rope_theta, rope_scaling and rope_local_base_freq at the top level
  const { rope_parameters: _, layer_types: __, ...rest } = json('gemma3');
  const legacy = configFromHf({ ...rest, rope_theta: 1e6, rope_scaling: { rope_type: 'linear', factor: 2 }, rope_local_base_freq: 1e4, sliding_window_pattern: 3 });
  assert.deepEqual([legacy.ropeTheta, legacy.ropeScaling, legacy.localRopeTheta, legacy.windows], [c.ropeTheta, c.ropeScaling, c.localRopeTheta, c.windows]);
});

test('gemma2/3 config: what rrt does not implement is refused by name', () => {
  const refused = (name: string, extra: Record<string, unknown>, field: string) =>
    assert.throws(() => configFromHf({ ...json(name), ...extra }), (e: unknown) => e instanceof ConfigError && e.field === field && e.message.includes(field), field);
  refused('gemma2', { use_bidirectional_attention: true }, 'use_bidirectional_attention');
  refused('gemma2', { attention_bias: true }, 'attention_bias');
  refused('gemma2', { some_new_scale: 2 }, 'some_new_scale');
  refused('gemma2', { layer_types: ['sliding_attention', 'chunked_attention', 'sliding_attention', 'full_attention'] }, 'layer_types');
  refused('gemma3', { rope_parameters: { full_attention: { rope_type: 'default', rope_theta: 1e6 }, sliding_attention: { rope_type: 'yarn', factor: 2 } } }, 'rope_parameters');
  refused('gemma2', { attn_logit_softcapping: -1 }, 'attn_logit_softcapping');
  // and a model type rrt does not read at all lists the ones it does
  assert.throws(() => configFromHf({ ...json('gemma3'), model_type: 'gemma3n_text' }), /gemma2, gemma3_text/);
});

/** The fixture's logits with the config changed: windows or caps off must move them (they matter on this input). */
function logitsWith(name: string, change: (c: ReturnType<typeof configFromHf>) => void): Float32Array {
  const m = loadModel(join(HF, name));
  change(m.config);
  const dec = new Decoder(m.config, m.decoder.weights);
  const ids = randint(24, m.config.vocabSize, 5);
  return noGrad(() => dec.forward(ids, 1, 24).logits.f32);
}

test('gemma2/3: on the fixtures (24 tokens), the sliding windows, the caps and the local rotary base each change the logits', () => {
  const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);
  const base2 = logitsWith('gemma2', () => {});
  for (const [what, change] of [
    ['windows', (c) => (c.windows = undefined)],
    ['attention cap', (c) => (c.attnSoftcap = undefined)],
    ['final cap', (c) => (c.finalSoftcap = undefined)],
  ] as [string, (c: ReturnType<typeof configFromHf>) => void][])
    assert.ok(maxDiff(base2, logitsWith('gemma2', change)) > 0.05, `gemma2 without its ${what}`);
  const base3 = logitsWith('gemma3', () => {});
  assert.ok(maxDiff(base3, logitsWith('gemma3', (c) => (c.windows = undefined))) > 0.05, 'gemma3 without its windows');
  assert.ok(maxDiff(base3, logitsWith('gemma3', (c) => (c.localRopeTheta = undefined))) > 0.05, 'gemma3 without its local rotary base');
});

test('gemma2/3: gradients of the post-sublayer and q/k norms, through windows and both caps, match finite differences', () => {
  for (const name of ['gemma2', 'gemma3']) {
    const m = loadModel(join(HF, name));
    const ids = randint(2 * 12, m.config.vocabSize, 3), targets = randint(2 * 12, m.config.vocabSize, 4);
    const loss = () => ops.crossEntropy(ops.reshape(m.decoder.forward(ids, 2, 12).logits, [24, m.config.vocabSize]), targets);
    const layers = m.decoder.weights.layers;
    assertGradMatchesFd(layers[0].postAttnNorm!.w, loss, [0, 9, 33], `${name} postAttnNorm`);
    assertGradMatchesFd(layers[1].postMlpNorm!.w, loss, [2, 40], `${name} postMlpNorm`);
    // v: linear up to the attention (Gemma 3's per-head q norm makes a 1e-2 step's difference quotient too coarse for q)
    assertGradMatchesFd(layers[0].proj[name === 'gemma2' ? 'q' : 'v']!.w, loss, [0, 100, 700], `${name} (through the window${name === 'gemma2' ? ' and the attention cap' : ''})`);
    if (name === 'gemma3') assertGradMatchesFd(layers[2].kNorm!.w, loss, [1, 11], `${name} kNorm`);
  }
});

test('gemma2/3 recursive: the four norms per depth when untied, shared by slot otherwise; save and reload keep the model', () => {
  for (const name of ['gemma2', 'gemma3']) {
    const shared = join(tmp, `${name}-shared`);
    convertToRecursive(join(HF, name), shared, { nLoops: 2, init: 'average', loraRank: 4 });
    const s = loadModel(shared).decoder.weights.layers;
    const half = s.length / 2;
    assert.equal(s[0].postMlpNorm!.w, s[half].postMlpNorm!.w, `${name}: depths 0 and ${half} share slot 0`);
    const untied = join(tmp, `${name}-untied`);
    convertToRecursive(join(HF, name), untied, { nLoops: 2, init: 'stepwise', loraRank: 4, untieNorms: true });
    const m = loadModel(untied);
    const u = m.decoder.weights.layers;
    assert.notEqual(u[0].postAttnNorm!.w, u[half].postAttnNorm!.w, `${name} untied: each depth its own`);
    assert.deepEqual(u[1].postAttnNorm!.w.f32, loadModel(join(HF, name)).decoder.weights.layers[1].postAttnNorm!.w.f32, 'a copy of the layer the depth replaces');
    u[half].postMlpNorm!.w.f32[3] += 0.25;
    const saved = join(tmp, `${name}-saved`);
    saveModel(m.config, m.decoder.weights, saved);
    const ids = randint(20, m.config.vocabSize, 9);
    const before = noGrad(() => m.decoder.forward(ids, 1, 20).logits.f32);
    const after = noGrad(() => loadModel(saved).decoder.forward(ids, 1, 20).logits.f32);
    assert.deepEqual(after, before, name);
  }
});

test('gemma3: a window spanning the whole context is full attention that keeps the local rotary base', () => {
  const m = loadModel(join(HF, 'gemma3'));
  const ids = randint(24, m.config.vocabSize, 5);
  const logits = (window: number) => {
    const cfg = configFromHf({ ...json('gemma3'), sliding_window: window });
    return noGrad(() => new Decoder(cfg, m.decoder.weights).forward(ids, 1, 24).logits.f32.slice());
  };
  const maxPositions = m.config.maxPositions;
  // both windows cover the 24 tokens, so they must give the same logits
  assert.deepEqual(logits(maxPositions), logits(30));
  assert.notDeepEqual(logits(30), logits(5));
});

test('gemma3 converted with layers dropped: each depth keeps its source layer type', () => {
  const dst = join(tmp, 'gemma3-4loops');
  const r = convertToRecursive(join(HF, 'gemma3'), dst, { nLoops: 4, strategy: 'cycle', init: 'stepwise' });
  const source = configFromHf(json('gemma3')).windows!;
  const selected = r.plan.selectedLayers;
  assert.equal(selected.length, 4);
  const m = loadModel(dst);
  assert.deepEqual(m.config.windows, selected.map((l) => source[l]));
  assert.ok(m.config.windows!.includes(0) && m.config.windows!.some((w) => w > 0), JSON.stringify({ selected, windows: m.config.windows }));
});

// gemma3-mm: Gemma3ForConditionalGeneration, read as its text model (src/models/profiles/gemma3-mm.ts)
const mmConfig = () => json('gemma3-mm');
const withoutHf = (c: ReturnType<typeof configFromHf>) => ({ ...c, hf: undefined });

test('gemma3 multimodal config: text_config read as gemma3_text; the top-level head tie and eos win; the Hub\'s sparse text_config gets Gemma3TextConfig\'s defaults', () => {
  const c = configFromHf(mmConfig());
  assert.deepEqual(withoutHf(c), withoutHf(configFromHf(json('gemma3'))));
  assert.equal(c.hf.model_type, 'gemma3_text');
  assert.deepEqual(c.hf.architectures, ['Gemma3ForCausalLM']);
  assert.equal(c.hf.text_config, undefined);
  assert.equal(c.hf.vision_config, undefined);
  // gemma-3-4b-it's config.json, vision_config cut short
  const hub = configFromHf({
    architectures: ['Gemma3ForConditionalGeneration'], boi_token_index: 255999, eoi_token_index: 256000, eos_token_id: [1, 106],
    image_token_index: 262144, initializer_range: 0.02, mm_tokens_per_image: 256, model_type: 'gemma3',
    text_config: { hidden_size: 2560, intermediate_size: 10240, model_type: 'gemma3_text', num_hidden_layers: 34, rope_scaling: { factor: 8.0, rope_type: 'linear' }, sliding_window: 1024 },
    torch_dtype: 'bfloat16', transformers_version: '4.50.0.dev0', vision_config: { model_type: 'siglip_vision_model' },
  });
  assert.deepEqual([hub.vocabSize, hub.hidden, hub.nLayers, hub.nHeads, hub.nKvHeads, hub.headDim, hub.maxPositions], [262208, 2560, 34, 8, 4, 256, 131072]);
  assert.deepEqual(hub.eosIds, [1, 106]);
  assert.equal(hub.bosId, 2);
  assert.equal(hub.tiedHead, true);
  assert.equal(hub.attnScale, 1 / 16);
  assert.deepEqual(hub.windows!.slice(0, 6), [1024, 1024, 1024, 1024, 1024, 0]);
  assert.deepEqual([hub.ropeTheta, hub.localRopeTheta, hub.ropeScaling], [1e6, 1e4, { type: 'linear', factor: 8 }]);
  // the top-level flag ties the head, as Gemma3ForConditionalGeneration does
  assert.equal(configFromHf({ ...mmConfig(), tie_word_embeddings: false }).tiedHead, false);
});

test('gemma3 multimodal config: what would change the text model, or is not understood, is refused by name', () => {
  const refused = (cfg: Record<string, unknown>, field: string) =>
    assert.throws(() => configFromHf(cfg), (e: unknown) => e instanceof ConfigError && e.field === field, field);
  const text = mmConfig().text_config as Record<string, unknown>;
  refused({ ...mmConfig(), text_config: undefined }, 'text_config');
  refused({ ...mmConfig(), text_config: { ...text, model_type: 'gemma2' } }, 'text_config');
  refused({ ...mmConfig(), text_config: { ...text, use_bidirectional_attention: true } }, 'use_bidirectional_attention');
  refused({ ...mmConfig(), some_new_scale: 2 }, 'some_new_scale');
});

test('gemma3 multimodal checkpoint: the language model\'s tensors under Gemma3ForCausalLM\'s names, the vision tower skipped; other layouts load the same, a stray tensor is refused', () => {
  const s = openModelSource(join(HF, 'gemma3-mm'));
  const names = s.source.names();
  s.source.close();
  assert.equal(s.textOnly?.skipped, 34);
  assert.equal(names.length, 6 * 13 + 2);
  assert.ok(names.every((n) => n.startsWith('model.layers.') || n === 'model.embed_tokens.weight' || n === 'model.norm.weight'), names.join());
  const ids = randint(24, 512, 9);
  const logits = (dir: string) => noGrad(() => loadModel(dir).decoder.forward(ids, 1, 24).logits.f32);
  const want = logits(join(HF, 'gemma3-mm'));
  // transformers' module names (model.language_model.*), the head untied and stored as lm_head
  const src = openSafetensors(join(HF, 'gemma3-mm', 'model.safetensors'));
  const rewrite = (dir: string, rename: (n: string) => string, extra: { name: string; data: Float32Array }[] = [], cfg = mmConfig()) => {
    mkdirSync(dir);
    writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg));
    const ts = src.names().map((n) => ({ name: rename(n), dtype: 'f32' as const, shape: src.info(n).shape, data: src.readF32(n) }));
    const embed = src.readF32('language_model.model.embed_tokens.weight');
    ts.push(...extra.map((e) => ({ ...e, dtype: 'f32' as const, shape: [e.data.length] })), { name: 'lm_head.weight', dtype: 'f32', shape: [512, 64], data: embed });
    writeSafetensors(join(dir, 'model.safetensors'), ts);
  };
  const modern = join(tmp, 'gemma3-mm-modern');
  rewrite(modern, (n) => n.replace(/^language_model\.model\./, 'model.language_model.').replace(/^(vision_tower|multi_modal_projector)\./, 'model.$1.'), [], { ...mmConfig(), tie_word_embeddings: false });
  assert.deepEqual(logits(modern), want);
  const stray = join(tmp, 'gemma3-mm-stray');
  rewrite(stray, (n) => n, [{ name: 'audio_tower.weight', data: new Float32Array(4) }]);
  src.close();
  assert.throws(() => loadModel(stray), /'audio_tower\.weight' is neither the language model's nor the vision tower's/);
});

test('gemma3 multimodal: converted, it is a gemma3_text recursive checkpoint; rrt info says the vision tower is not loaded', () => {
  const dst = join(tmp, 'gemma3-mm-rec');
  convertToRecursive(join(HF, 'gemma3-mm'), dst, { nLoops: 2, init: 'average' });
  const cfg = JSON.parse(readFileSync(join(dst, 'config.json'), 'utf8'));
  assert.equal(cfg.model_type, 'gemma3_text');
  assert.deepEqual(cfg.architectures, ['Gemma3ForCausalLM']);
  assert.equal(cfg.text_config, undefined);
  assert.equal(cfg.recursive.source.modelType, 'gemma3_text');
  const f = openSafetensors(join(dst, 'model.safetensors'));
  assert.ok(f.names().every((n) => n.startsWith('model.layers.') || n.startsWith('model.embed') || n.startsWith('model.norm')), f.names().join());
  f.close();
  const root = new URL('../../', import.meta.url).pathname;
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), 'info', join(HF, 'gemma3-mm')], { encoding: 'utf8', cwd: root });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /multimodal +text model only; vision tower not loaded \(34 tensors\)/);
  assert.match(r.stdout, /gemma3 \(6 layers/);
});
