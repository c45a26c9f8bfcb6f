// Llama 3 rope scaling through GGUF: rope_freqs.weight as llama.cpp's converter computes it, and
// llama3 parameters recovered from it whose frequencies equal the original's; the llama3-rope
// fixture written to GGUF and read back to transformers' logits; factors no llama3 scaling gives
// are refused by name.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ConfigError } from '../../src/errors.js';
import { openGguf } from '../../src/formats/gguf.js';
import { llama3FromRopeFreqs, llama3RopeFreqs } from '../../src/formats/gguf-rope.js';
import { openSafetensors } from '../../src/formats/safetensors.js';
import { ropeInvFreq } from '../../src/models/config.js';
import { loadModel } from '../../src/models/load.js';
import { configFromHf } from '../../src/models/profiles/index.js';
import { exportGguf } from '../../src/recursive/export-gguf.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { assertClose } from '../helpers.js';

const root = new URL('../../', import.meta.url).pathname;
const TOK = join(root, 'assets/stories260K/tok512.bin');
const tmp = mkdtempSync(join(tmpdir(), 'rrt-gguf-rope-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const llama = (headDim: number, theta: number, rope: Record<string, number>) =>
  configFromHf({
    architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: headDim * 2, intermediate_size: 64, num_hidden_layers: 1,
    num_attention_heads: 2, num_key_value_heads: 2, head_dim: headDim, vocab_size: 16, max_position_embeddings: 131072, rms_norm_eps: 1e-5,
    rope_parameters: { rope_theta: theta, rope_type: 'llama3', ...rope },
  });

// Llama 3.2 1B's rope; the fixture's (two pairs between the bounds); head 8 (none between); head 16 (one)
const CASES: [string, number, number, Record<string, number>][] = [
  ['Llama 3.2 1B', 64, 500000, { factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 }],
  ['fixtures/hf/llama3-rope', 32, 10000, { factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 32 }],
  ['head 8, no pair between', 8, 10000, { factor: 4, low_freq_factor: 1, high_freq_factor: 1.5, original_max_position_embeddings: 600 }],
  ['head 16, one pair between', 16, 10000, { factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 600 }],
];

for (const [name, headDim, theta, rope] of CASES) {
  test(`llama3 rope (${name}): parameters read back from rope_freqs give the same frequencies`, () => {
    const cfg = llama(headDim, theta, rope);
    const freqs = llama3RopeFreqs(cfg);
    assert.ok(freqs.some((f) => f === 1) && freqs.some((f) => f === rope.factor), 'both ends of the scaling are present');
    const back = llama3FromRopeFreqs(freqs, theta, headDim, 'x.gguf');
    assert.ok(back);
    assert.equal(back.factor, rope.factor);
    assertClose(ropeInvFreq(llama(headDim, theta, back)), ropeInvFreq(cfg), { rel: 1e-6, label: 'inverse frequencies' });
    if (name === 'Llama 3.2 1B') {
      // with low_freq_factor 1 (Llama's own), the fit finds Llama's parameters themselves
      assert.ok(Math.abs(back.original_max_position_embeddings - 8192) < 1e-2 && Math.abs(back.high_freq_factor - 4) < 1e-5, JSON.stringify(back));
    }
  });
}

test('rope_freqs that no llama3 scaling gives are refused by name; all ones are no scaling', () => {
  const freqs = llama3RopeFreqs(llama(32, 10000, CASES[1][3]));
  freqs.reverse();
  assert.throws(() => llama3FromRopeFreqs(freqs, 10000, 32, 'x.gguf'), (e: unknown) => e instanceof ConfigError && e.field === 'rope_freqs.weight' && /not a llama3 rope scaling/.test(e.message));
  assert.throws(() => llama3FromRopeFreqs(new Float32Array(4), 10000, 32, 'x.gguf'), /has 4 factors, the rotary dims 32 need 16/);
  assert.equal(llama3FromRopeFreqs(new Float32Array(16).fill(1), 10000, 32, 'x.gguf'), null);
});

test("fixtures/hf/llama3-rope through GGUF: rope_freqs as llama.cpp's converter writes it, read back to transformers' logits", () => {
  const src = join(root, 'fixtures/hf/llama3-rope');
  const out = join(tmp, 'llama3.gguf');
  exportGguf(src, out, { tokenizer: TOK });
  const f = openGguf(out);
  const mine = f.readF32('rope_freqs.weight');
  f.close();
  const theirsPath = join(root, 'fixtures/gguf/llama3-rope-llamacpp.gguf');
  assert.ok(existsSync(theirsPath));
  const g = openGguf(theirsPath);
  const theirs = g.readF32('rope_freqs.weight');
  g.close();
  assert.deepEqual(mine, theirs);

  const m = loadModel(out);
  assert.equal(m.config.ropeScaling?.type, 'llama3');
  // the reference input reaches position 47, past the original context of 32
  const ref = openSafetensors(join(src, 'reference.safetensors'));
  const ids = Int32Array.from(ref.read('input_ids').data as Int32Array);
  const [B, T] = ref.info('input_ids').shape;
  assert.ok(T > 32);
  const got = noGrad(() => m.decoder.forward(ids, B, T).logits.f32.slice());
  assertClose(got, ref.read('logits').data as Float32Array, { rel: 1e-4, label: 'logits vs transformers' });
  // llama.cpp's own file reads as llama3 scaling with transformers' frequencies
  const theirsModel = loadModel(theirsPath);
  assertClose(ropeInvFreq(theirsModel.config), ref.read('inv_freq').data as Float32Array, { rel: 1e-6, label: "inv_freq from llama.cpp's rope_freqs" });
});
