// The bundled real model: stories260K (llama2.c format, MIT) must reproduce the text
// published in llama2.c's documentation, greedy from BOS (assets/stories260K/reference_outputs.json).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { generateIds } from '../../src/models/generate.js';
import { BUNDLED_MODEL, loadModel } from '../../src/models/load.js';
import { noGrad } from '../../src/tensor/autograd.js';
import * as ops from '../../src/tensor/ops/index.js';

const ref = JSON.parse(readFileSync(new URL('../../assets/stories260K/reference_outputs.json', import.meta.url), 'utf8'));

test('stories260K greedy from BOS generates the published 256-token story', () => {
  const m = loadModel(BUNDLED_MODEL);
  const ids = [...generateIds(m.decoder, [1], { maxTokens: 256, eosIds: [1] })];
  assert.deepEqual(ids, ref.unconditional_greedy.generated_ids);
  assert.equal(m.tokenizer!.decode([1, ...ids], { skipSpecialTokens: true }), ref.unconditional_greedy.text);
});

test('stories260K top-5 logits at position 0 match the reference within 1e-4 of the max', () => {
  const m = loadModel(BUNDLED_MODEL);
  const logits = noGrad(() => m.decoder.forward(Int32Array.of(1), 1, 1).logits.f32);
  const top5 = ref.unconditional_greedy.logits_pos0_top5 as { id: number; logit: number }[] | [number, number][];
  for (const e of top5) {
    const [id, value] = Array.isArray(e) ? e : [e.id, e.logit];
    assert.ok(Math.abs(logits[id] - value) <= 1e-4 * 17.0235, `logit of ${id}: ${logits[id]} vs ${value}`);
  }
});

test('stories260K continues "Once upon a time" as the reference does (run.c encoding)', () => {
  const m = loadModel(BUNDLED_MODEL);
  const r = ref.prompt_once_upon_a_time;
  const prompt = m.tokenizer!.encode(r.prompt, { addSpecialTokens: true });
  assert.deepEqual(prompt, r.prompt_ids_runc_encode);
  assert.deepEqual([...generateIds(m.decoder, prompt, { maxTokens: 64, eosIds: [1] })], r.generated_ids_64);
});

test('stories260K teacher-forced mean NLL on its greedy text is 0.457346 nats', () => {
  const m = loadModel(BUNDLED_MODEL);
  const seq = [1, ...ref.unconditional_greedy.generated_ids] as number[];
  const inputs = Int32Array.from(seq.slice(0, -1));
  const targets = Int32Array.from(seq.slice(1));
  const nll = noGrad(() => ops.crossEntropy(ops.reshape(m.decoder.forward(inputs, 1, inputs.length).logits, [inputs.length, 512]), targets)).f32[0];
  assert.ok(Math.abs(nll - ref.teacher_forced_nll_on_unconditional_greedy.mean_nll_nats) < 5e-6, `mean NLL ${nll}`);
});
