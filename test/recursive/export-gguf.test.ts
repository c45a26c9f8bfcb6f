// GGUF export (rrt export MODEL DST.gguf): the llama fixture, a relaxed recursive conversion of
// it, the bundled stories260K, a GGUF source and a byte-level BPE vocabulary are written in F32
// and F16, read back through loadModel, and compared with their sources; bad input is refused.
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { InputError } from '../../src/errors.js';
import { openGguf } from '../../src/formats/gguf.js';
import { writeSafetensors } from '../../src/formats/safetensors.js';
import { f16ArrayToF32, f32ArrayToF16, interleavedToHalfSplit } from '../../src/formats/tensor-source.js';
import { loadTokenizer } from '../../src/formats/tokenizers/index.js';
import { generateIds } from '../../src/models/generate.js';
import { BUNDLED_MODEL, loadModel, type LoadedModel } from '../../src/models/load.js';
import { convertToRecursive } from '../../src/recursive/convert.js';
import { exportGguf, halfSplitToInterleaved } from '../../src/recursive/export-gguf.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { assertClose, randint, randn } from '../helpers.js';

const root = new URL('../../', import.meta.url).pathname;
const LLAMA = join(root, 'fixtures/hf/llama');
const TOK512 = join(root, 'assets/stories260K/tok512.bin');
const tmp = mkdtempSync(join(tmpdir(), 'rrt-gguf-'));
const IDS = randint(2 * 20, 512, 7);

const logits = (m: LoadedModel) => noGrad(() => m.decoder.forward(IDS, 2, 20).logits.f32.slice());

/** The model with every matrix rounded to f16 (what an F16 GGUF stores), norms untouched. */
function roundedToF16(m: LoadedModel): LoadedModel {
  const round = (a: Float32Array) => a.set(f16ArrayToF32(f32ArrayToF16(a)));
  const w = m.decoder.weights;
  for (const t of new Set([w.embed, w.head])) round(t.f32);
  for (const layer of w.layers) for (const lin of Object.values(layer.proj)) round(lin!.w.f32);
  return m;
}

/**
 * Exports `model` to F32 and F16 and checks both against the source. F32: the file holds the
 * merged weights exactly, so logits agree to f32 rounding (1e-5 of the largest logit). F16:
 * logits must equal those of the F32 export with its matrices rounded to f16 (1e-5 again: the
 * rounding is the only difference), and stay within 5e-3 of the largest source logit: about ten
 * times f16's 2^-11 relative weight error, room for its accumulation over the layers (measured:
 * 1.0e-3 on the llama fixture, 5e-4 on stories260K).
 */
function checkBothDtypes(model: string, label: string, opts: { tokenizer?: string } = {}): { f32: string; f16: string } {
  const src = logits(loadModel(model, opts));
  const f32 = join(tmp, `${label}-f32.gguf`), f16 = join(tmp, `${label}-f16.gguf`);
  exportGguf(model, f32, { ...opts, dtype: 'f32' });
  exportGguf(model, f16, { ...opts, dtype: 'f16' });
  assertClose(logits(loadModel(f32)), src, { rel: 1e-5, label: `${label} f32 GGUF vs source` });
  const half = logits(loadModel(f16));
  assertClose(half, logits(roundedToF16(loadModel(f32))), { rel: 1e-5, label: `${label} f16 GGUF vs f16-rounded weights` });
  assertClose(half, src, { rel: 5e-3, label: `${label} f16 GGUF vs source` });
  assert.ok(half.some((v, i) => v !== src[i]), 'the f16 file is not lossless');
  return { f32, f16 };
}

test('halfSplitToInterleaved applies llama.cpp permute() (rows r0 r2 r1 r3 for one 4-row head) and inverts interleavedToHalfSplit', () => {
  const w = Float32Array.from([0, 0, 1, 1, 2, 2, 3, 3]);
  assert.deepEqual([...halfSplitToInterleaved(w, 4, 2, 1)], [0, 0, 2, 2, 1, 1, 3, 3]);
  for (const [rows, cols, heads] of [[8, 1, 2], [24, 7, 3], [64, 33, 4]]) {
    const x = randn(rows * cols, rows);
    assert.deepEqual(interleavedToHalfSplit(halfSplitToInterleaved(x, rows, cols, heads), rows, cols, heads), x);
  }
  assert.throws(() => halfSplitToInterleaved(new Float32Array(12), 6, 2, 2), RangeError);
});

test('llama fixture: F32 GGUF reproduces the logits, F16 equals the f16-rounded weights; keys, names and dtypes follow llama.cpp', () => {
  const { f16 } = checkBothDtypes(LLAMA, 'llama', { tokenizer: TOK512 });
  const f = openGguf(f16);
  try {
    const md = f.metadata;
    assert.equal(md.get('general.architecture'), 'llama');
    assert.equal(md.get('general.file_type'), 1);
    assert.equal(md.get('llama.block_count'), 6);
    assert.equal(md.get('llama.attention.head_count_kv'), 2);
    assert.equal(md.get('llama.rope.dimension_count'), 16);
    assert.equal(md.get('tokenizer.ggml.model'), 'llama');
    assert.equal(f.alignment, 32);
    assert.equal(f.info('blk.0.attn_norm.weight').ggmlType, 'F32');
    assert.equal(f.info('output_norm.weight').ggmlType, 'F32');
    assert.equal(f.info('blk.5.ffn_down.weight').ggmlType, 'F16');
    assert.deepEqual(f.ggmlShape('blk.0.attn_k.weight'), [64, 32]);
    assert.ok(f.names().includes('output.weight'));
  } finally {
    f.close();
  }
});

test('tied llama fixture: output.weight is omitted and the reloaded model ties its head', () => {
  const out = join(tmp, 'tied.gguf');
  const src = loadModel(join(root, 'fixtures/hf/llama-tied'), { tokenizer: TOK512 });
  exportGguf(join(root, 'fixtures/hf/llama-tied'), out, { tokenizer: TOK512 });
  const f = openGguf(out);
  assert.ok(!f.names().includes('output.weight'));
  f.close();
  const back = loadModel(out);
  assert.equal(back.config.tiedHead, true);
  assertClose(logits(back), logits(src), { rel: 1e-5, label: 'tied' });
});

test('recursive llama (cycle ×2, rank-8 LoRA): the GGUF is the unrolled model with adapters merged', () => {
  const rec = join(tmp, 'llama-rec');
  convertToRecursive(LLAMA, rec, { nLoops: 2, strategy: 'cycle', loraRank: 8 });
  const { f32 } = checkBothDtypes(rec, 'recursive', { tokenizer: TOK512 });
  // the adapters matter: without them the logits would differ
  const plain = logits(loadModel(LLAMA));
  assert.ok(logits(loadModel(f32)).some((v, i) => Math.abs(v - plain[i]) > 1e-3), 'recursive export equals the source model?');
  const f = openGguf(f32);
  assert.equal(f.metadata.get('llama.block_count'), 6);
  f.close();
});

test('stories260K: the embedded tokenizer encodes "Once upon a time" as [1, 403, 407, 261, 378]; greedy generation (F32 and F16) matches the .bin', () => {
  const { f32, f16 } = checkBothDtypes(BUNDLED_MODEL, 'stories');
  const bin = loadModel(BUNDLED_MODEL);
  const want = [...generateIds(bin.decoder, [1], { maxTokens: 64, eosIds: [] })];
  for (const file of [f32, f16]) {
    const m = loadModel(file);
    assert.deepEqual(m.tokenizer!.encode('Once upon a time'), [1, 403, 407, 261, 378], file);
    assert.equal(m.tokenizer!.decode(m.tokenizer!.encode('Once upon a time')), bin.tokenizer!.decode(bin.tokenizer!.encode('Once upon a time')));
  }
  for (const file of [f32, f16]) assert.deepEqual([...generateIds(loadModel(file).decoder, [1], { maxTokens: 64, eosIds: [] })], want, `${file} greedy tokens`);
});

test('a GGUF source keeps its tokenizer metadata and its weights', () => {
  const src = join(root, 'fixtures/gguf/llama-2-tiny-random.gguf');
  const out = join(tmp, 'regguf.gguf');
  exportGguf(src, out);
  const a = openGguf(src), b = openGguf(out);
  for (const [k, v] of a.metadata) if (k.startsWith('tokenizer.')) assert.deepEqual(b.metadata.get(k), v, k);
  a.close();
  b.close();
  const m = loadModel(src);
  const ids = Int32Array.from({ length: 10 }, (_, i) => (i * 37) % m.config.vocabSize);
  const run = (x: LoadedModel) => noGrad(() => x.decoder.forward(ids, 1, 10).logits.f32.slice());
  assertClose(run(loadModel(out)), run(m), { rel: 1e-5, label: 'GGUF → GGUF' });
});

test('a byte-level BPE tokenizer.json (GPT-2) is embedded as gpt2 with merges and pre "gpt-2", encoding as the source does', () => {
  const dir = join(tmp, 'bpe-llama');
  mkdirSync(dir);
  const V = 50257, D = 16, F = 32;
  const cfg = {
    architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: D, intermediate_size: F, num_hidden_layers: 1,
    num_attention_heads: 2, num_key_value_heads: 1, max_position_embeddings: 64, rms_norm_eps: 1e-5, vocab_size: V,
    tie_word_embeddings: true, bos_token_id: 50256, eos_token_id: 50256,
  };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg));
  const p = 'model.layers.0';
  const t = (name: string, shape: number[], seed: number) => ({ name, dtype: 'f32' as const, shape, data: randn(shape.reduce((a, b) => a * b), seed, 0.1) });
  writeSafetensors(join(dir, 'model.safetensors'), [
    t('model.embed_tokens.weight', [V, D], 1), t('model.norm.weight', [D], 2),
    t(`${p}.input_layernorm.weight`, [D], 3), t(`${p}.post_attention_layernorm.weight`, [D], 4),
    t(`${p}.self_attn.q_proj.weight`, [D, D], 5), t(`${p}.self_attn.k_proj.weight`, [D / 2, D], 6), t(`${p}.self_attn.v_proj.weight`, [D / 2, D], 7),
    t(`${p}.self_attn.o_proj.weight`, [D, D], 8), t(`${p}.mlp.gate_proj.weight`, [F, D], 9), t(`${p}.mlp.up_proj.weight`, [F, D], 10),
    t(`${p}.mlp.down_proj.weight`, [D, F], 11),
  ]);
  copyFileSync(join(root, 'fixtures/tokenizers/gpt2/tokenizer.json'), join(dir, 'tokenizer.json'));
  const out = join(tmp, 'bpe.gguf');
  const r = exportGguf(dir, out);
  assert.equal(r.tokenizerModel, 'gpt2');
  assert.deepEqual(r.warnings, []);
  const f = openGguf(out);
  assert.equal(f.metadata.get('tokenizer.ggml.pre'), 'gpt-2');
  assert.equal((f.metadata.get('tokenizer.ggml.merges') as string[])[0], 'Ġ t');
  f.close();
  const hf = loadTokenizer(join(dir, 'tokenizer.json'));
  const back = loadModel(out).tokenizer!;
  for (const text of ["Hello world, it's 2024!\n\n  ok", 'naïve café 日本語 <|endoftext|> end']) assert.deepEqual(back.encode(text), hf.encode(text), text);
});

test('bad input: an architecture llama.cpp export does not write, an existing destination without force, no tokenizer, a non-.gguf name', () => {
  assert.throws(() => exportGguf(join(root, 'fixtures/hf/gemma'), join(tmp, 'gemma.gguf')), (e: unknown) => e instanceof InputError && /llama, qwen3, olmo2, phi3/.test(e.message) && /this one is gemma/.test(e.message));
  assert.throws(() => exportGguf(join(root, 'fixtures/hf/gpt2'), join(tmp, 'gpt2.gguf')), (e: unknown) => e instanceof InputError && /llama, qwen3, olmo2, phi3/.test(e.message));
  const dst = join(tmp, 'exists.gguf');
  writeFileSync(dst, 'not a gguf');
  assert.throws(() => exportGguf(BUNDLED_MODEL, dst), (e: unknown) => e instanceof InputError && e.code === 'exists');
  assert.equal(readFileSync(dst, 'utf8'), 'not a gguf', 'the existing file is untouched');
  exportGguf(BUNDLED_MODEL, dst, { force: true });
  const written = openGguf(dst);
  assert.equal(written.metadata.get('general.architecture'), 'llama');
  written.close();
  assert.throws(() => exportGguf(LLAMA, join(tmp, 'notok.gguf')), (e: unknown) => e instanceof InputError && /--tokenizer/.test(e.message));
  assert.ok(!existsSync(join(tmp, 'notok.gguf')));
  assert.throws(() => exportGguf(BUNDLED_MODEL, join(tmp, 'x.bin')), (e: unknown) => e instanceof InputError && /\.gguf/.test(e.message));
  assert.throws(() => exportGguf(BUNDLED_MODEL, join(tmp, 'y.gguf'), { dtype: 'q4' as 'f16' }), InputError);
  assert.ok(statSync(tmp).isDirectory());
});
