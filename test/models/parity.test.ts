// Parity with Hugging Face transformers (5.17; the qwen3, olmo2, phi3, phi3-longrope, llama3-rope, gemma2, gemma3, gemma3-mm and *-swa fixtures 5.23, see versions.json): every
// fixture's logits, hidden states and greedy generations (made by transformers, fixtures/hf/*/reference.safetensors).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { openSafetensors } from '../../src/formats/safetensors.js';
import { generateIds } from '../../src/models/generate.js';
import { KvCache } from '../../src/models/kv-cache.js';
import { ropeInvFreq } from '../../src/models/config.js';
import { loadModel } from '../../src/models/load.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { assertClose } from '../helpers.js';

const HF = new URL('../../fixtures/hf/', import.meta.url).pathname;

function reference(name: string) {
  const f = openSafetensors(`${HF}${name}/reference.safetensors`);
  const out = new Map<string, { shape: number[]; data: Float32Array | Int32Array }>();
  for (const n of f.names()) {
    const t = f.read(n);
    out.set(n, { shape: t.shape, data: t.data as Float32Array | Int32Array });
  }
  f.close();
  return out;
}

// max|Δ| ≤ 1e-4 · max|logit| (the parity bar)
const LOGIT_TOL = 1e-4;

// llama3-rope: Llama 3's rope scaling (rope_type llama3, original_max_position_embeddings 32 under
// 48-token sequences, wavelengths in all three bands); made by scripts/fixtures/make_hf_fixtures_llama3.py.
// *-swa: sliding windows (5, 6, 7) shorter than the 8-token prompt and the 24-token sequence: Mistral
// and Phi-3 on every layer, Qwen2 from max_window_layers on; made by scripts/fixtures/make_hf_fixtures_swa.py
const SWA = ['mistral-swa', 'qwen2-swa', 'phi3-swa'];
// gemma3-mm: Gemma3ForConditionalGeneration (tiny vision tower in the file), its text-only forward
for (const name of ['llama', 'llama-tied', 'gemma', 'gemma2', 'gemma3', 'gemma3-mm', 'qwen2', 'qwen3', 'olmo2', 'phi3', 'phi3-longrope', 'gpt2', 'gpt-neox', 'llama3-rope', ...SWA]) {
  test(`${name}: logits and every hidden state match transformers within 1e-4 of the max`, () => {
    const ref = reference(name);
    const m = loadModel(`${HF}${name}`);
    const ids = ref.get('input_ids')!;
    const [B, T] = ids.shape;
    const { logits, hidden } = noGrad(() => m.decoder.forward(ids.data as Int32Array, B, T, { hiddenStates: true }));
    hidden.forEach((h, i) => assertClose(h.f32, ref.get(`hidden_states.${i}`)!.data, { rel: LOGIT_TOL, label: `${name} hidden_states.${i}` }));
    assertClose(logits.f32, ref.get('logits')!.data, { rel: LOGIT_TOL, label: `${name} logits` });
  });

  test(`${name}: greedy generation through the KV cache gives transformers' tokens`, () => {
    const ref = reference(name);
    const m = loadModel(`${HF}${name}`);
    const prompt = ref.get('greedy_prompt')!;
    const expected = ref.get('greedy_output')!;
    const [B, P] = prompt.shape;
    const L = expected.shape[1];
    for (let b = 0; b < B; b++) {
      const p = Array.from(prompt.data.subarray(b * P, (b + 1) * P));
      const got = [...p, ...generateIds(m.decoder, p, { maxTokens: L - P, eosIds: [] })];
      const want = Array.from(expected.data.subarray(b * L, (b + 1) * L));
      assert.deepEqual(got, want, `${name} row ${b}`);
    }
  });
}

for (const [name, refName] of [['llama-bf16', 'llama'], ['gemma-bf16', 'gemma']]) {
  test(`${name}: bf16 checkpoint logits match transformers' logits_from_bf16 within 1e-4 of the max`, () => {
    const ref = reference(refName);
    const m = loadModel(`${HF}${name}`);
    const ids = ref.get('input_ids')!;
    const [B, T] = ids.shape;
    const { logits } = noGrad(() => m.decoder.forward(ids.data as Int32Array, B, T));
    assertClose(logits.f32, ref.get('logits_from_bf16')!.data, { rel: LOGIT_TOL, label: `${name} logits` });
  });
}

// bf16 weights kept in memory (loadModel dtype 'bf16'): every linear rounds its input to bf16, as a
// bf16 model does, so the bar is bf16's, not 1e-4. Both the prefill (GEMM, > 16 rows) and the
// one-token decode path (the vdpbf16ps GEMV on CPUs that have it) are held to it.
const BF16_TOL = 1e-2;
for (const [name, refName] of [['llama-bf16', 'llama'], ['gemma-bf16', 'gemma']]) {
  test(`${name} with bf16 weights in memory: prefill and token-by-token decode logits within ${BF16_TOL} of the max of transformers' logits_from_bf16`, () => {
    const ref = reference(refName);
    const m = loadModel(`${HF}${name}`, { dtype: 'bf16' });
    assert.equal(m.decoder.weights.layers[0].proj.q!.w.dtype, 'bf16');
    const ids = ref.get('input_ids')!, want = ref.get('logits_from_bf16')!.data as Float32Array;
    const [B, T] = ids.shape, V = want.length / (B * T);
    const { logits } = noGrad(() => m.decoder.forward(ids.data as Int32Array, B, T));
    assertClose(logits.f32, want, { rel: BF16_TOL, label: `${name} prefill` });
    const cache = new KvCache(m.config, T, m.decoder.nLayers);
    const steps = new Float32Array(T * V);
    for (let t = 0; t < T; t++) {
      const step = noGrad(() => m.decoder.forward(Int32Array.of(ids.data[t]), 1, 1, { caches: [cache] }).logits.f32);
      steps.set(step, t * V);
    }
    assertClose(steps, want.subarray(0, T * V), { rel: BF16_TOL, label: `${name} decode, row 0` });
  });
}

test("llama3-rope: rrt's scaled inverse frequencies are transformers' inv_freq, and the scaling matters", () => {
  const ref = reference('llama3-rope');
  const m = loadModel(`${HF}llama3-rope`);
  assert.equal(m.config.ropeScaling?.type, 'llama3');
  assertClose(ropeInvFreq(m.config), ref.get('inv_freq')!.data, { rel: 1e-6, label: 'llama3-rope inv_freq' });
  // the same weights with the scaling left out must miss the reference by far more than the bar
  const ids = ref.get('input_ids')!;
  const [B, T] = ids.shape;
  assert.ok(T > m.config.ropeScaling!.originalMaxPositions!);
  const dir = mkdtempSync(join(tmpdir(), 'rrt-llama3-'));
  const json = JSON.parse(readFileSync(`${HF}llama3-rope/config.json`, 'utf8'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...json, rope_parameters: { rope_theta: json.rope_parameters.rope_theta, rope_type: 'default' } }));
  symlinkSync(`${HF}llama3-rope/model.safetensors`, join(dir, 'model.safetensors'));
  const plain = loadModel(dir);
  rmSync(dir, { recursive: true });
  const unscaled = noGrad(() => plain.decoder.forward(ids.data as Int32Array, B, T).logits.f32);
  const want = ref.get('logits')!.data as Float32Array;
  let maxAbs = 0, maxDiff = 0;
  want.forEach((w, i) => {
    maxAbs = Math.max(maxAbs, Math.abs(w));
    maxDiff = Math.max(maxDiff, Math.abs(unscaled[i] - w));
  });
  assert.ok(maxDiff > 1e-2 * maxAbs, `unscaled rope misses by only ${maxDiff} of ${maxAbs}`);
});

test('llama-sharded (10 shards + index) loads and matches the llama fixture', () => {
  const ref = reference('llama');
  const sharded = loadModel(`${HF}llama-sharded`);
  const ids = ref.get('input_ids')!;
  const [B, T] = ids.shape;
  const { logits } = noGrad(() => sharded.decoder.forward(ids.data as Int32Array, B, T));
  assertClose(logits.f32, ref.get('logits')!.data, { rel: LOGIT_TOL, label: 'llama-sharded logits' });
});

test('batched forward equals per-sequence forward (rows do not leak into each other)', () => {
  const ref = reference('qwen2');
  const m = loadModel(`${HF}qwen2`);
  const ids = ref.get('input_ids')!.data as Int32Array;
  const [B, T] = ref.get('input_ids')!.shape;
  const all = noGrad(() => m.decoder.forward(ids, B, T).logits.f32);
  const V = m.config.vocabSize;
  for (let b = 0; b < B; b++) {
    const one = noGrad(() => m.decoder.forward(ids.subarray(b * T, (b + 1) * T), 1, T).logits.f32);
    assertClose(one, all.subarray(b * T * V, (b + 1) * T * V), { rel: 1e-6, label: `row ${b}` });
  }
});

test('*-swa: the windows are read per layer and the context is not capped at them', () => {
  const want: Record<string, number[]> = { 'mistral-swa': [5, 5, 5, 5], 'qwen2-swa': [0, 0, 6, 6], 'phi3-swa': [7, 7, 7, 7] };
  for (const name of SWA) {
    const m = loadModel(`${HF}${name}`);
    assert.deepEqual(m.config.windows, want[name], name);
    assert.equal(m.config.maxPositions, 256, name);
  }
});
