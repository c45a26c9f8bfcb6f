// Conversion to (relaxed) Recursive Transformers on every transformers-made fixture: the
// invariants of the method, the checkpoint round trip, export, and bad input.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { InputError } from '../../src/errors.js';
import { openSafetensors } from '../../src/formats/safetensors.js';
import { generateIds } from '../../src/models/generate.js';
import { BUNDLED_MODEL, loadModel } from '../../src/models/load.js';
import { convertToRecursive } from '../../src/recursive/convert.js';
import { exportUnrolled } from '../../src/recursive/export.js';
import { INIT_METHODS, STRATEGIES } from '../../src/recursive/sharing.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { assertClose } from '../helpers.js';

const root = new URL('../../', import.meta.url).pathname;
const HF = join(root, 'fixtures/hf');
const FIXTURES = ['llama', 'llama-tied', 'gemma', 'gemma2', 'gemma3', 'gemma3-mm', 'qwen2', 'qwen3', 'olmo2', 'phi3', 'phi3-longrope', 'gpt2', 'gpt-neox', 'mistral-swa', 'qwen2-swa', 'phi3-swa'];
const tmp = mkdtempSync(join(tmpdir(), 'rrt-convert-'));

function inputIds(name: string): Int32Array {
  const f = openSafetensors(join(HF, name, 'reference.safetensors'));
  const ids = f.read('input_ids').data as Int32Array;
  f.close();
  return ids;
}

const logitsOf = (model: string, ids: Int32Array) => noGrad(() => loadModel(model).decoder.forward(ids, 2, 24).logits.f32);

for (const name of FIXTURES) {
  test(`${name}: full-rank LoRA with per-layer norms reproduces the original logits; rank 0 equals strict recursion; export round-trips`, () => {
    const ids = inputIds(name);
    const original = logitsOf(join(HF, name), ids);
    const full = join(tmp, `${name}-full`);
    convertToRecursive(join(HF, name), full, { nLoops: 2, init: 'average', loraRank: 1_000_000, untieNorms: true });
    const relaxed = logitsOf(full, ids);
    assertClose(relaxed, original, { rel: 1e-5, label: `${name} full rank vs original` });

    const strict = join(tmp, `${name}-strict`);
    convertToRecursive(join(HF, name), strict, { nLoops: 2, init: 'average' });
    const rank0 = join(tmp, `${name}-rank0`);
    convertToRecursive(join(HF, name), rank0, { nLoops: 2, init: 'average', loraRank: 0 });
    const zero = join(tmp, `${name}-zero`);
    convertToRecursive(join(HF, name), zero, { nLoops: 2, init: 'average', loraRank: 4, loraInit: 'zero' });
    const strictLogits = logitsOf(strict, ids);
    assert.deepEqual(logitsOf(rank0, ids), strictLogits, 'rank 0 is strict recursion');
    assertClose(logitsOf(zero, ids), strictLogits, { rel: 0, label: 'zero-init adapters add nothing' });
    // sharing must change the function (the test could not fail otherwise)
    assert.ok(strictLogits.some((v, i) => Math.abs(v - original[i]) > 1e-2), 'strict recursion equals the original?');

    const relaxedLow = join(tmp, `${name}-r8`);
    convertToRecursive(join(HF, name), relaxedLow, { nLoops: 2, init: 'stepwise', loraRank: 8 });
    const exported = join(tmp, `${name}-r8-unrolled`);
    exportUnrolled(relaxedLow, exported);
    const cfg = JSON.parse(readFileSync(join(exported, 'config.json'), 'utf8'));
    assert.equal(cfg.recursive, undefined);
    assertClose(logitsOf(exported, ids), logitsOf(relaxedLow, ids), { rel: 1e-5, label: `${name} export vs recursive` });
  });

  test(`${name}: every strategy × init converts strictly and runs`, () => {
    const ids = inputIds(name);
    for (const strategy of STRATEGIES)
      for (const init of INIT_METHODS) {
        const dst = join(tmp, `${name}-${strategy}-${init}`);
        const s = convertToRecursive(join(HF, name), dst, { nLoops: 2, strategy, init, seed: 3 });
        const m = loadModel(dst);
        assert.equal(m.decoder.nLayers, s.plan.unrolled.length);
        const logits = noGrad(() => m.decoder.forward(ids, 2, 24).logits.f32);
        assert.ok(logits.every(Number.isFinite), `${strategy}/${init} logits finite`);
        // the shared block is stored once: unique layer tensors = slots
        assert.equal(new Set(m.decoder.weights.layers.map((l) => l.proj.o!.w)).size, s.plan.slotSources.length);
      }
  });
}

test('with a layer dropped, each depth keeps its source layer\'s sliding window (Mistral, Qwen2, Phi-3)', () => {
  const want: Record<string, number[]> = { 'mistral-swa': [5, 5, 5], 'qwen2-swa': [0, 6, 6], 'phi3-swa': [7, 7, 7] };
  for (const [name, windows] of Object.entries(want)) {
    const dst = join(tmp, `${name}-3loops`);
    const s = convertToRecursive(join(HF, name), dst, { nLoops: 3, init: 'average' });
    assert.deepEqual(s.plan.selectedLayers, [0, 2, 3], name);
    assert.deepEqual(loadModel(dst).config.windows, windows, name);
  }
});

test('rrt logits runs on converted models of every fixture (CLI)', () => {
  for (const name of FIXTURES) {
    const dst = join(tmp, `${name}-cli`);
    const conv = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), 'convert', join(HF, name), dst, '--loops', '2', '--strategy', 'middle-cycle', '--init', 'stepwise', '--lora-rank-mlp', '8'], { encoding: 'utf8', cwd: root });
    assert.equal(conv.status, 0, conv.stderr);
    assert.match(conv.stdout, /sharing +middle-cycle/);
    const out = join(tmp, `${name}-cli-logits.safetensors`);
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), 'logits', dst, '--input', join(HF, name, 'reference.safetensors'), '--out', out], { encoding: 'utf8', cwd: root });
    assert.equal(r.status, 0, r.stderr);
    const f = openSafetensors(out);
    assertClose(f.readF32('logits'), logitsOf(dst, inputIds(name)), { rel: 1e-6, label: `${name} rrt logits` });
    f.close();
  }
});

test('stories260K (5 layers) converts with middle-cycle × 3 loops and full-rank LoRA, and still tells the published story', () => {
  const dst = join(tmp, 'stories-mc3');
  const s = convertToRecursive(BUNDLED_MODEL, dst, { nLoops: 3, strategy: 'middle-cycle', init: 'average', loraRank: 1000, untieNorms: true });
  assert.equal(s.plan.selectionNote, null);
  const m = loadModel(dst);
  const ref = JSON.parse(readFileSync(join(root, 'assets/stories260K/reference_outputs.json'), 'utf8'));
  const ids = [...generateIds(m.decoder, [1], { maxTokens: 64 })];
  assert.deepEqual(ids, ref.unconditional_greedy.generated_ids.slice(0, 64));
  assert.ok(m.tokenizer, 'the tokenizer travels with the converted model');
});

test('stories260K converts with 2 loops after layer selection and says which layer it dropped', () => {
  const s = convertToRecursive(BUNDLED_MODEL, join(tmp, 'stories-2'), { nLoops: 2, loraRank: 16 });
  assert.deepEqual(s.plan.selectedLayers, [0, 1, 3, 4]);
  assert.match(s.plan.selectionNote!, /dropped layer 2/);
});

test('bad conversions are refused with a clear message and leave nothing behind', () => {
  const src = join(HF, 'llama');
  const cases: [Parameters<typeof convertToRecursive>[2], RegExp][] = [
    [{ nLoops: 7 }, /loops/],
    [{ nLoops: 0 }, /loops/i],
    [{ nLoops: 2, loraRank: -1 }, /non-negative integer/],
    [{ nLoops: 2, loraRank: 1.5 }, /non-negative integer/],
    [{ nLoops: 2, loraRank: 4, loraModules: ['q_proj', 'c_attn'] }, /unknown projection "c_attn" for llama/],
    [{ nLoops: 2, strategy: 'spiral' as never }, /strategy/],
    [{ nLoops: 2, init: 'magic' as never }, /init/],
  ];
  for (const [opts, pattern] of cases) {
    const dst = join(tmp, 'bad');
    assert.throws(() => convertToRecursive(src, dst, opts), (e: unknown) => e instanceof InputError && pattern.test((e as Error).message), String(pattern));
    assert.equal(existsSync(dst), false);
  }
  const exists = join(tmp, 'exists');
  convertToRecursive(src, exists, { nLoops: 2 });
  assert.throws(() => convertToRecursive(src, exists, { nLoops: 3 }), /already exists; pass --force/);
  convertToRecursive(src, exists, { nLoops: 3, force: true });
  assert.equal(loadModel(exists).config.recursive!.plan.nLoops, 3);
  assert.throws(() => convertToRecursive(exists, join(tmp, 'twice'), { nLoops: 2 }), /already a recursive model/);
});

test('an interrupted conversion leaves no directory that loads (and no temporary files)', () => {
  const dst = join(tmp, 'interrupted');
  let n = 0;
  assert.throws(() =>
    convertToRecursive(join(HF, 'llama'), dst, {
      nLoops: 2,
      loraRank: 4,
      onProgress: () => {
        if (++n === 20) throw new Error('killed');
      },
    }), /killed/);
  assert.equal(existsSync(dst), false);
  assert.deepEqual(readdirSync(tmp).filter((f) => f.includes('.tmp-')), []);
});

test('a tokenizer named at conversion travels with a model whose source has none', () => {
  const tok = join(root, 'assets/stories260K/tok512.bin');
  const dst = join(tmp, 'qwen3-with-tokenizer');
  convertToRecursive(join(HF, 'qwen3'), dst, { nLoops: 2, tokenizer: tok });
  assert.deepEqual(readFileSync(join(dst, 'tokenizer.bin')), readFileSync(tok));
  const m = loadModel(dst);
  assert.deepEqual(m.tokenizer!.encode('Once upon a time'), loadModel(BUNDLED_MODEL).tokenizer!.encode('Once upon a time'));
  // a source with its own tokenizer keeps it
  const llama2c = join(tmp, 'stories-own-tokenizer');
  convertToRecursive(BUNDLED_MODEL, llama2c, { nLoops: 2 });
  assert.ok(existsSync(join(llama2c, 'tokenizer.bin')));
});
