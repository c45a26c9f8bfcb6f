// Fresh initialisation for pretraining: the checkpoint loads as the config it was made from,
// its statistics follow GPT-2's scheme, the seed fixes the bits, and other architectures are refused.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { InputError } from '../../src/errors.js';
import { loadModel } from '../../src/models/load.js';
import { configFromHf } from '../../src/models/profiles/index.js';
import { initModel, initWeights } from '../../src/train/init.js';

const tmp = mkdtempSync(join(tmpdir(), 'rrt-init-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const root = new URL('../../', import.meta.url).pathname;
const hf = { model_type: 'llama', hidden_size: 64, intermediate_size: 160, num_hidden_layers: 4, num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 512, max_position_embeddings: 128, rms_norm_eps: 1e-5, tie_word_embeddings: true };
const std = (x: Float32Array) => Math.sqrt(x.reduce((s, v) => s + v * v, 0) / x.length);

test('an initialised checkpoint loads with its config and tokenizer, and runs', () => {
  const dir = join(tmp, 'a');
  initModel(hf, dir, { seed: 1, tokenizerFrom: join(root, 'assets/stories260K/tok512.bin') });
  const m = loadModel(dir);
  assert.equal(m.config.nLayers, 4);
  assert.equal(m.config.nKvHeads, 2);
  assert.ok(m.tokenizer, 'tokenizer copied');
  const logits = m.decoder.forward(Int32Array.from([1, 2, 3]), 1, 3).logits.f32;
  assert.ok(logits.every(Number.isFinite));
  // a fresh model predicts close to uniformly: mean log-prob near −ln V
  assert.ok(std(logits) < 1, `logits spread ${std(logits)}`);
});

test('weights are normal(0, 0.02), residual outputs scaled by 1/√(2L), norms at 1; the seed fixes the bits', () => {
  const cfg = configFromHf(hf);
  const w = initWeights(cfg, { seed: 3 });
  const q = w.layers[0].proj.q!.w.f32, down = w.layers[2].proj.down!.w.f32;
  assert.ok(Math.abs(std(q) - 0.02) < 0.002, `q std ${std(q)}`);
  assert.ok(Math.abs(std(down) - 0.02 / Math.sqrt(8)) < 0.001, `down std ${std(down)}`);
  assert.ok(Math.abs(q.reduce((a, b) => a + b, 0) / q.length) < 0.002);
  assert.ok(w.layers[1].attnNorm.w.f32.every((v) => v === 1));
  assert.equal(w.head, w.embed, 'tied head');
  assert.deepEqual(initWeights(cfg, { seed: 3 }).layers[0].proj.q!.w.f32, q);
  assert.notDeepEqual(initWeights(cfg, { seed: 4 }).layers[0].proj.q!.w.f32, q);
  initModel(hf, join(tmp, 'b'), { seed: 5 });
  initModel(hf, join(tmp, 'c'), { seed: 5 });
  assert.deepEqual(readFileSync(join(tmp, 'b/model.safetensors')), readFileSync(join(tmp, 'c/model.safetensors')));
});

test('architectures other than llama are refused with a clear message', () => {
  const gpt2 = { model_type: 'gpt2', n_embd: 64, n_layer: 2, n_head: 4, vocab_size: 100, n_positions: 64 };
  assert.throws(() => initModel(gpt2, join(tmp, 'g')), (e: unknown) => e instanceof InputError && /llama-architecture/.test(e.message));
});
