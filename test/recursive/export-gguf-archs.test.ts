// GGUF export of the architectures beside llama (qwen3, olmo2, phi3, gemma2, gemma3): the tensor names and ggml
// shapes llama.cpp's loaders ask for (src/models/<arch>.cpp), the same names, shapes and
// architecture keys as llama.cpp's own converter writes for the same fixture
// (fixtures/gguf/*-llamacpp.gguf), f32 logits read back bit for bit, recursive models written
// unrolled with the reason, and refusals that name the supported architectures.
// llama.cpp's own run of these files: npm run check:llamacpp.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { InputError } from '../../src/errors.js';
import { openGguf, type GgufFile } from '../../src/formats/gguf.js';
import { loadModel } from '../../src/models/load.js';
import { convertToRecursive } from '../../src/recursive/convert.js';
import { exportGguf } from '../../src/recursive/export-gguf.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { writeSafetensors } from '../../src/formats/safetensors.js';
import { configFromHf, profileForArch } from '../../src/models/profiles/index.js';
import { openSafetensors } from '../../src/formats/safetensors.js';
import { gemmaQueryScalar } from '../../src/formats/gguf-archs.js';
import { expectedShape } from '../../src/models/weights.js';
import { assertClose, randint, randn } from '../helpers.js';

const root = new URL('../../', import.meta.url).pathname;
const TOK = join(root, 'assets/stories260K/tok512.bin');
const fixture = (name: string) => join(root, 'fixtures/hf', name);
const tmp = mkdtempSync(join(tmpdir(), 'rrt-gguf-archs-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const IDS = randint(2 * 20, 512, 11);

const logits = (path: string) => noGrad(() => loadModel(path, { tokenizer: path.endsWith('.gguf') ? undefined : TOK }).decoder.forward(IDS, 2, 20).logits.f32.slice());
const shapes = (f: GgufFile) => new Map(f.names().map((n) => [n, f.ggmlShape(n).join('×')]));
const withFile = <T>(path: string, fn: (f: GgufFile) => T): T => {
  const f = openGguf(path);
  try {
    return fn(f);
  } finally {
    f.close();
  }
};

/** Block 0's tensors as llama.cpp's load_arch_tensors creates them: ggml ne (input dim first). */
const BLOCK0: Record<string, Record<string, string>> = {
  // fixtures: hidden 64, ffn 160; qwen3 8 heads × 16 (q 128), 2 kv heads; olmo2/phi3 4 heads × 16, 2 kv heads
  qwen3: {
    attn_norm: '64', attn_q: '64×128', attn_k: '64×32', attn_v: '64×32', attn_output: '128×64', attn_q_norm: '16', attn_k_norm: '16',
    ffn_norm: '64', ffn_gate: '64×160', ffn_up: '64×160', ffn_down: '160×64',
  },
  olmo2: {
    attn_q: '64×64', attn_k: '64×32', attn_v: '64×32', attn_output: '64×64', attn_q_norm: '64', attn_k_norm: '32', post_attention_norm: '64',
    ffn_gate: '64×160', ffn_up: '64×160', ffn_down: '160×64', post_ffw_norm: '64',
  },
  phi3: { attn_norm: '64', attn_qkv: '64×128', attn_output: '64×64', ffn_norm: '64', ffn_up: '64×320', ffn_down: '160×64' },
  // gemma: hidden 64, ffn 128, 4 heads × 16; gemma2 2 kv heads, gemma3 1
  gemma2: {
    attn_norm: '64', post_attention_norm: '64', ffn_norm: '64', post_ffw_norm: '64', attn_q: '64×64', attn_k: '64×32', attn_v: '64×32', attn_output: '64×64',
    ffn_gate: '64×128', ffn_up: '64×128', ffn_down: '128×64',
  },
  gemma3: {
    attn_norm: '64', post_attention_norm: '64', ffn_norm: '64', post_ffw_norm: '64', attn_q: '64×64', attn_k: '64×16', attn_v: '64×16', attn_output: '64×64',
    attn_q_norm: '16', attn_k_norm: '16', ffn_gate: '64×128', ffn_up: '64×128', ffn_down: '128×64',
  },
};

/** A copy of fixtures/hf/`src` with config fields replaced, in tmp/name (made once). */
function edited(src: string, name: string, edit: Record<string, unknown>): string {
  const dir = join(tmp, name);
  if (existsSync(dir)) return dir;
  mkdirSync(dir);
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...JSON.parse(readFileSync(join(fixture(src), 'config.json'), 'utf8')), ...edit }));
  copyFileSync(join(fixture(src), 'model.safetensors'), join(dir, 'model.safetensors'));
  return dir;
}
/** fixtures/hf/gemma2 at query_pre_attn_scalar 16, its head size (llama.cpp's gemma2 has no key for its 24) */
const gemma2 = () => edited('gemma2', 'gemma2-qpas16', { query_pre_attn_scalar: 16 });

const EXPORTED = [
  ['qwen3', 'qwen3', 4], ['olmo2', 'olmo2', 4], ['phi3', 'phi3', 4], ['phi3-longrope', 'phi3', 4], ['gemma2', 'gemma2', 4], ['gemma3', 'gemma3', 6],
] as const;

for (const [name, arch, blocks] of EXPORTED) {
  test(`${name}: written as llama.cpp's ${arch} (names, shapes, keys as its converter writes them) and read back to the same f32 logits`, () => {
    const out = join(tmp, `${name}.gguf`);
    const src = name === 'gemma2' ? gemma2() : fixture(name);
    const r = exportGguf(src, out, { tokenizer: TOK });
    assert.deepEqual([r.architecture, r.layers, r.loops], [arch, blocks, 1]);
    const mine = withFile(out, (f) => ({ shapes: shapes(f), md: new Map(f.metadata) }));
    const block0 = [...mine.shapes].filter(([n]) => n.startsWith('blk.0.'));
    assert.deepEqual(Object.fromEntries(block0.map(([n, s]) => [n.slice(6, -7), s])), BLOCK0[arch]);
    assert.equal([...mine.shapes.keys()].filter((n) => n.startsWith('blk.')).length, blocks * block0.length);
    assert.equal(mine.md.get('general.architecture'), arch);
    assert.equal(mine.md.get(`${arch}.block_count`), blocks);
    assert.equal(mine.md.get(`${arch}.rope.dimension_count`), name === 'phi3' ? 8 : 16, 'phi3: partial rotary 0.5 of 16');

    // llama.cpp's converter, on the same fixture (olmo2 with --fuse-qkv: attn_qkv for q, k, v)
    const theirs = withFile(join(root, `fixtures/gguf/${name === 'olmo2' ? 'olmo2-fused' : name}-llamacpp.gguf`), (f) => ({ shapes: shapes(f), md: new Map(f.metadata) }));
    const fusedRows = (s: Map<string, string>) => new Map([...s].filter(([n]) => !/attn_[qkv]\.weight$/.test(n) && !n.includes('attn_qkv')));
    if (name === 'olmo2') assert.deepEqual(fusedRows(mine.shapes), fusedRows(theirs.shapes));
    else assert.deepEqual(mine.shapes, theirs.shapes);
    // every key of the architecture's they write, we write alike, but for rrt's shorter context (longrope stops at the original one)
    // and a Phi-3 sliding window of 0 and original context outside longrope, which llama.cpp reads as absent
    const same = (k: string) => !(name === 'phi3-longrope' && k === 'phi3.context_length') && !(k === 'phi3.attention.sliding_window' && theirs.md.get(k) === 0)
      && !(name === 'phi3' && k === 'phi3.rope.scaling.original_context_length');
    for (const [k, v] of theirs.md) if (k.startsWith(`${arch}.`) && same(k)) assert.deepEqual(mine.md.get(k), v, k);
    assert.deepEqual(logits(out), logits(src));
  });
}

test('phi3 longrope: short and long factors as rope_factors_* tensors, the attention factor and original context as keys; the context stops there', () => {
  const out = join(tmp, 'longrope-keys.gguf');
  exportGguf(fixture('phi3-longrope'), out, { tokenizer: TOK });
  const cfg = JSON.parse(readFileSync(join(fixture('phi3-longrope'), 'config.json'), 'utf8'));
  withFile(out, (f) => {
    assert.deepEqual([...f.readF32('rope_factors_short.weight')], cfg.rope_parameters.short_factor.map(Math.fround));
    assert.deepEqual([...f.readF32('rope_factors_long.weight')], cfg.rope_parameters.long_factor);
    assert.equal(f.metadata.get('phi3.rope.scaling.original_context_length'), 128);
    assert.equal(f.metadata.get('phi3.context_length'), 128);
    assert.ok(Math.abs((f.metadata.get('phi3.rope.scaling.attn_factor') as number) - Math.sqrt(1 + Math.log(4) / Math.log(128))) < 1e-6);
  });
  const back = loadModel(out).config;
  assert.equal(back.ropeScaling?.type, 'longrope');
  assert.equal(back.maxPositions, 128);
});

test('sliding windows llama.cpp does not run (llama from Mistral, qwen3, phi3): context_length is the smallest window, with a warning; read back, the context ends there and the logits within it are the model\'s', () => {
  const dir = join(tmp, 'qwen3-swa');
  mkdirSync(dir);
  const cfg = JSON.parse(readFileSync(join(fixture('qwen3'), 'config.json'), 'utf8'));
  const types = ['sliding_attention', 'full_attention', 'sliding_attention', 'full_attention'];
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, use_sliding_window: true, sliding_window: 6, layer_types: types }));
  copyFileSync(join(fixture('qwen3'), 'model.safetensors'), join(dir, 'model.safetensors'));
  for (const [src, arch, window] of [[fixture('mistral-swa'), 'llama', 5], [dir, 'qwen3', 6], [fixture('phi3-swa'), 'phi3', 7]] as const) {
    const out = join(tmp, `${arch}-swa.gguf`);
    const r = exportGguf(src, out, { tokenizer: TOK });
    assert.equal(r.architecture, arch);
    assert.ok(r.warnings.some((w) => w === `context_length ${window} (the model's is 256): llama.cpp's ${arch} attends without the model's sliding window of ${window}, which agrees with it only within the window`), r.warnings.join('; '));
    withFile(out, (f) => {
      assert.equal(f.metadata.get(`${arch}.context_length`), window);
      assert.equal(f.metadata.get(`${arch}.attention.sliding_window`), undefined);
    });
    const back = loadModel(out), model = loadModel(src, { tokenizer: TOK });
    assert.deepEqual([back.config.maxPositions, back.config.windows], [window, undefined]);
    const ids = IDS.subarray(0, window);
    assertClose(noGrad(() => back.decoder.forward(ids, 1, window).logits.f32), noGrad(() => model.decoder.forward(ids, 1, window).logits.f32), { rel: 1e-5, label: `${arch} within the window` });
  }
});

test('olmo2 with a tied head: output.weight is written anyway (llama.cpp\'s olmo2 requires it), equal to the embedding', () => {
  const dir = join(tmp, 'olmo2-tied');
  mkdirSync(dir);
  const cfg = JSON.parse(readFileSync(join(fixture('olmo2'), 'config.json'), 'utf8'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, tie_word_embeddings: true }));
  copyFileSync(join(fixture('olmo2'), 'model.safetensors'), join(dir, 'model.safetensors'));
  const out = join(tmp, 'olmo2-tied.gguf');
  exportGguf(dir, out, { tokenizer: TOK });
  withFile(out, (f) => assert.deepEqual(f.readF32('output.weight'), f.readF32('token_embd.weight')));
  assert.deepEqual(logits(out), logits(dir));
});

test('a model named like Phi-3 whose vocabulary lacks Phi-3\'s special tokens is written without general.name (llama.cpp would refuse it), saying so', () => {
  const out = join(tmp, 'named.gguf');
  const r = exportGguf(fixture('phi3'), out, { tokenizer: TOK });
  assert.match(r.warnings.join('\n'), /general.name "phi3" left out: .*lacks <\|endoftext\|>/);
  withFile(out, (f) => assert.ok(!f.metadata.has('general.name')));
  const q = exportGguf(fixture('qwen3'), join(tmp, 'named-q.gguf'), { tokenizer: TOK });
  assert.deepEqual(q.warnings, []);
  withFile(join(tmp, 'named-q.gguf'), (f) => assert.equal(f.metadata.get('general.name'), 'qwen3'));
});

test('recursive qwen3 (strict, 2 loops) is written unrolled as qwen3, naming why; --looped is refused with that reason', () => {
  const rec = join(tmp, 'qwen3-c2');
  convertToRecursive(fixture('qwen3'), rec, { nLoops: 2, strategy: 'cycle', init: 'stepwise', tokenizer: TOK });
  const out = join(tmp, 'qwen3-c2.gguf');
  const r = exportGguf(rec, out, { tokenizer: TOK });
  assert.deepEqual([r.architecture, r.layers, r.loops], ['qwen3', 4, 1], '4 source layers → 2 shared × 2 loops, unrolled to 4');
  assert.match(r.warnings.join('\n'), /written unrolled .*llama.cpp's looped architecture runs llama blocks, not qwen3 ones/);
  assert.throws(() => exportGguf(rec, join(tmp, 'l.gguf'), { tokenizer: TOK, layout: 'looped' }), { name: 'InputError', message: /cannot be exported looped: llama.cpp's looped architecture runs llama blocks/ });
  assert.ok(!existsSync(join(tmp, 'l.gguf')));
  assert.deepEqual(logits(out), logits(rec));
});

test('relaxed phi3 and olmo2 (rank-4 LoRA): every depth written with its adapters merged, logits as the recursive model\'s', () => {
  for (const name of ['phi3', 'olmo2']) {
    const rec = join(tmp, `${name}-r4`);
    convertToRecursive(fixture(name), rec, { nLoops: 2, strategy: 'cycle', init: 'average', loraRank: 4, tokenizer: TOK });
    const out = join(tmp, `${name}-r4.gguf`);
    const r = exportGguf(rec, out, { tokenizer: TOK });
    assert.deepEqual([r.architecture, r.layers], [name, 4]);
    const want = logits(rec);
    assertClose(logits(out), want, { rel: 1e-5, label: `${name} relaxed` });
    // depths 0 and 2 share slot 0; their adapters differ, so the merged blocks do too
    withFile(out, (f) => {
      const t = name === 'phi3' ? 'attn_qkv' : 'attn_q';
      assert.notDeepEqual(f.readF32(`blk.0.${t}.weight`), f.readF32(`blk.2.${t}.weight`));
    });
  }
});

test('Q8_0 files of the new architectures: matrices Q8_0, norms and rope factors F32; Q8_0 logits near the source', () => {
  // the gemma3 fixture is far more sensitive to rounded weights: Q8_0 moves its logits by 9 % of
  // the largest (measured), rrt's own q8_0 load of the fixture by 14 %
  const tolerance: Record<string, number> = { gemma3: 0.15 };
  for (const name of ['qwen3', 'olmo2', 'phi3-longrope', 'gemma3']) {
    const out = join(tmp, `${name}-q8.gguf`);
    exportGguf(fixture(name), out, { tokenizer: TOK, dtype: 'q8_0' });
    withFile(out, (f) => {
      for (const n of f.names()) assert.equal(f.info(n).ggmlType, f.ggmlShape(n).length === 1 ? 'F32' : 'Q8_0', n);
      assert.equal(f.metadata.get('general.file_type'), 7);
    });
    assertClose(logits(out), logits(fixture(name)), { rel: tolerance[name] ?? 3e-2, label: `${name} q8_0` });
  }
});

test('refusals name the supported architectures and leave no file: other architectures, biases, partial rotary outside phi3, query dims ≠ hidden for olmo2/phi3, another MLP, llama3 rope outside llama', () => {
  const refused = (model: string, ...mentions: RegExp[]) => {
    const out = join(tmp, 'refused.gguf');
    assert.throws(() => exportGguf(model, out, { tokenizer: TOK }), (e: unknown) => e instanceof InputError && /llama, qwen3, olmo2, phi3/.test(e.message) && mentions.every((m) => m.test(e.message)));
    assert.ok(!existsSync(out));
  };
  for (const a of ['gpt2', 'gpt-neox', 'gemma', 'qwen2']) refused(fixture(a), new RegExp(`this one is ${a}`));
  const cfg = (src: string, edit: Record<string, unknown>) => ({ ...JSON.parse(readFileSync(join(fixture(src), 'config.json'), 'utf8')), ...edit });
  refused(randomCheckpoint('qwen3-bias', cfg('qwen3', { attention_bias: true })), /this qwen3 model has projection biases/);
  refused(randomCheckpoint('qwen3-partial', cfg('qwen3', { rope_parameters: { rope_theta: 1e6, rope_type: 'default', partial_rotary_factor: 0.5 } })),
    /partial rotary \(8 of 16 dims; llama.cpp's qwen3 rotates whole heads\)/);
  // 4 heads × 8 = 32 query dims: llama.cpp's olmo2 and phi3 size q and o [hidden, hidden]
  refused(randomCheckpoint('olmo2-hd8', cfg('olmo2', { head_dim: 8 })), /4 heads × 8 = 32 query dims ≠ hidden 64 \(llama.cpp's olmo2 needs them equal\)/);
  refused(randomCheckpoint('phi3-hd8', cfg('phi3', { head_dim: 8 })), /llama.cpp's phi3 needs them equal/);
  refused(randomCheckpoint('qwen3-gelu', cfg('qwen3', { hidden_act: 'gelu' })), /this qwen3 model has a gated geluErf MLP/);
  refused(randomCheckpoint('llama3-rope', cfg('qwen3', { rope_parameters: { rope_theta: 1e6, rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 } })), /llama3 rope scaling/);
});

test('gemma2 and gemma3: norms written as 1 + w (what llama.cpp\'s RMSNorm multiplies by), one bool per block for which slide, soft-caps and the sliding layers\' rotary base as keys; read back as the model', () => {
  const g2 = join(tmp, 'gemma2-keys.gguf'), g3 = join(tmp, 'gemma3-keys.gguf');
  exportGguf(gemma2(), g2, { tokenizer: TOK });
  exportGguf(fixture('gemma3'), g3, { tokenizer: TOK });
  const st = openSafetensors(join(fixture('gemma3'), 'model.safetensors'));
  withFile(g3, (f) => {
    for (const [g, hf] of [['blk.0.attn_norm.weight', 'model.layers.0.input_layernorm.weight'], ['blk.5.post_ffw_norm.weight', 'model.layers.5.post_feedforward_layernorm.weight'],
      ['blk.2.attn_q_norm.weight', 'model.layers.2.self_attn.q_norm.weight'], ['blk.3.attn_k_norm.weight', 'model.layers.3.self_attn.k_norm.weight'], ['output_norm.weight', 'model.norm.weight']]) {
      assert.deepEqual(f.readF32(g), st.readF32(hf).map((w) => w + 1), g);
    }
    assert.deepEqual(f.metadata.get('gemma3.attention.sliding_window_pattern'), [true, true, false, true, true, false]);
    assert.deepEqual([f.metadata.get('gemma3.attention.sliding_window'), f.metadata.get('gemma3.rope.freq_base_swa'), f.metadata.get('gemma3.rope.freq_base')], [5, 10000, 1e6]);
    assert.ok(!f.metadata.has('gemma3.final_logit_softcapping') && !f.metadata.has('gemma3.attn_logit_softcapping'), 'no caps in the fixture');
    assert.ok(!f.names().includes('output.weight'), 'tied: llama.cpp takes token_embd');
  });
  st.close();
  withFile(g2, (f) => {
    assert.deepEqual(f.metadata.get('gemma2.attention.sliding_window_pattern'), [true, false, true, false]);
    assert.deepEqual(['attn_logit_softcapping', 'final_logit_softcapping', 'attention.sliding_window'].map((k) => f.metadata.get(`gemma2.${k}`)), [2, 10, 6]);
  });
  const c3 = loadModel(g3).config, c2 = loadModel(g2).config;
  assert.deepEqual([c3.windows, c3.localRopeTheta, c3.ropeTheta, c3.ropeScaling, c3.finalSoftcap, c3.qkNorm], [[5, 5, 0, 5, 5, 0], 10000, 1e6, { type: 'linear', factor: 2 }, undefined, 'perHead']);
  assert.deepEqual([c2.windows, c2.attnSoftcap, c2.finalSoftcap, c2.attnScale, c2.act, c2.embedScale], [[6, 0, 6, 0], 2, 10, 0.25, 'geluTanh', 8]);
});

test('llama.cpp\'s Gemma attention scale: 1/√(hidden/heads) for the 27B block counts (46, 62), else 1/√head size', () => {
  assert.equal(gemmaQueryScalar('gemma2', 46, 4608, 32, 128), 144);
  assert.equal(gemmaQueryScalar('gemma3', 62, 5376, 32, 128), 168);
  assert.equal(gemmaQueryScalar('gemma2', 42, 3584, 16, 256), 256);
  assert.equal(gemmaQueryScalar('gemma3', 46, 5376, 32, 128), 128, '46 blocks is the 27B only for Gemma 2');
});

test('recursive gemma2 (strict) and gemma3 (relaxed, rank-4 LoRA merged) are written unrolled as their own architecture, every depth with its window; logits as the recursive model\'s', () => {
  for (const [name, src, opts] of [
    ['gemma2-c2', gemma2(), { nLoops: 2, strategy: 'cycle', init: 'stepwise' }],
    ['gemma3-r4', fixture('gemma3'), { nLoops: 2, strategy: 'cycle', init: 'average', loraRank: 4 }],
  ] as const) {
    const rec = join(tmp, name);
    convertToRecursive(src, rec, { ...opts, tokenizer: TOK });
    const out = join(tmp, `${name}.gguf`);
    const r = exportGguf(rec, out, { tokenizer: TOK });
    const arch = name.slice(0, 6);
    assert.deepEqual([r.architecture, r.layers, r.loops], [arch, arch === 'gemma2' ? 4 : 6, 1]);
    assert.match(r.warnings.join('\n'), new RegExp(`written unrolled .*runs llama blocks, not ${arch} ones`));
    withFile(out, (f) => assert.deepEqual(f.metadata.get(`${arch}.attention.sliding_window_pattern`), loadModel(rec).config.windows!.map((w) => w > 0)));
    assertClose(logits(out), logits(rec), { rel: 1e-5, label: name });
  }
});

test('Gemma models llama.cpp would run differently are refused, naming the field, and leave no file', () => {
  const refused = (model: string, why: RegExp) => {
    const out = join(tmp, 'refused-gemma.gguf');
    assert.throws(() => exportGguf(model, out, { tokenizer: TOK }), (e: unknown) => e instanceof InputError && why.test(e.message), String(why));
    assert.ok(!existsSync(out));
  };
  const cfg = (src: string, edit: Record<string, unknown>) => ({ ...JSON.parse(readFileSync(join(fixture(src), 'config.json'), 'utf8')), ...edit });
  refused(fixture('gemma2'), /query_pre_attn_scalar 24 \(llama.cpp's gemma2 scales attention by 1\/√16 for 4 blocks of head size 16, and its GGUF has no key for it\)/);
  refused(randomCheckpoint('gemma2-untied', cfg('gemma2', { query_pre_attn_scalar: 16, tie_word_embeddings: false })), /untied lm_head .*tie_word_embeddings false/);
  refused(randomCheckpoint('gemma2-nocap', cfg('gemma2', { query_pre_attn_scalar: 16, attn_logit_softcapping: null })), /no attn_logit_softcapping \(llama.cpp's gemma2 always caps/);
  refused(randomCheckpoint('gemma2-nofinal', cfg('gemma2', { query_pre_attn_scalar: 16, final_logit_softcapping: null })), /no final_logit_softcapping/);
  refused(randomCheckpoint('gemma2-erf', cfg('gemma2', { query_pre_attn_scalar: 16, hidden_activation: 'gelu' })), /a gated geluErf MLP .*hidden_activation/);
  refused(randomCheckpoint('gemma3-cap', cfg('gemma3', { attn_logit_softcapping: 30 })), /attn_logit_softcapping 30 \(llama.cpp's gemma3 does not cap/);
  refused(randomCheckpoint('gemma3-qpas', cfg('gemma3', { query_pre_attn_scalar: 32 })), /query_pre_attn_scalar 32 \(llama.cpp's gemma3 scales attention by 1\/√16/);
});

/** A random checkpoint of `config` (the shapes rrt's profile reads), in tmp/name. */
function randomCheckpoint(name: string, config: Record<string, unknown>): string {
  const dir = join(tmp, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  const c = configFromHf(config);
  const profile = profileForArch(c.arch);
  const entries = [...profile.globals(c), ...Array.from({ length: c.nLayers }, (_, l) => profile.layer(c, l)).flat()];
  writeSafetensors(join(dir, 'model.safetensors'), entries.map((e, i) => {
    const shape = expectedShape(c, e.key);
    return { name: e.hf, dtype: 'f32' as const, shape, data: randn(shape.reduce((a, b) => a * b), i + 1, 0.1) };
  }));
  return dir;
}
