// ggufToHf on the architectures beside llama: files written by llama.cpp's own converter from the
// HF fixtures (fixtures/gguf/*-llamacpp.gguf, F16; scripts/fixtures/make_llamacpp_gguf_fixtures.py)
// read as the fixture with its matrices rounded to f16, logits bit for bit (Gemma's as llama.cpp
// runs its converter's files, which leave out query_pre_attn_scalar and layer_types); q, k, v fused into one
// attn_qkv or kept apart read alike whichever form the architecture's profile wants (values and
// Q8_0 blocks); files rrt cannot run the same way are refused with the reason.
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ConfigError } from '../../src/errors.js';
import { ggufMetadataEntries, ggufToHf, openGguf, writeGguf, type GgufTensorToWrite, type GgufType, type GgufValue } from '../../src/formats/gguf.js';
import { openSafetensors } from '../../src/formats/safetensors.js';
import { f16ArrayToF32, f32ArrayToF16 } from '../../src/formats/tensor-source.js';
import { loadModel, type LoadedModel } from '../../src/models/load.js';
import { exportGguf } from '../../src/recursive/export-gguf.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { assertClose, expectFormatError } from '../helpers.js';

const root = new URL('../../', import.meta.url).pathname;
const TOK = join(root, 'assets/stories260K/tok512.bin');
const fixture = (name: string) => join(root, 'fixtures/hf', name);
const llamacpp = (name: string) => join(root, 'fixtures/gguf', `${name}-llamacpp.gguf`);
const tmp = mkdtempSync(join(tmpdir(), 'rrt-gguf-archs-read-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** The fixture's reference input (2 × 24 ids) through rrt; with it, transformers' logits. */
function run(m: LoadedModel, hf: string): { got: Float32Array; transformers: Float32Array } {
  const ref = openSafetensors(join(fixture(hf), 'reference.safetensors'));
  const ids = Int32Array.from(ref.read('input_ids').data as Int32Array);
  const transformers = ref.readF32('logits');
  ref.close();
  return { got: noGrad(() => m.decoder.forward(ids, 2, ids.length / 2).logits.f32.slice()), transformers };
}

/** An HF checkpoint (a fixture) with every matrix rounded to f16 (what an F16 GGUF holds), norms as they are. */
function roundedToF16(dir: string): LoadedModel {
  const m = loadModel(dir, { tokenizer: TOK });
  const w = m.decoder.weights;
  const round = (a: Float32Array) => a.set(f16ArrayToF32(f32ArrayToF16(a)));
  for (const t of new Set([w.embed, w.head])) round(t.f32);
  for (const layer of w.layers) for (const lin of Object.values(layer.proj)) round(lin!.w.f32);
  return m;
}

test('llama.cpp\'s own files (qwen3; olmo2 with fused attn_qkv; phi3 with partial rotary; phi3 longrope) read as the f16-rounded fixture, logits bit for bit', () => {
  for (const [file, hf] of [['qwen3', 'qwen3'], ['olmo2-fused', 'olmo2'], ['phi3', 'phi3'], ['phi3-longrope', 'phi3-longrope']]) {
    const m = loadModel(llamacpp(file));
    assert.equal(m.config.arch, hf.startsWith('phi3') ? 'phi3' : hf, file);
    const { got, transformers } = run(m, hf);
    assert.deepEqual(got, run(roundedToF16(fixture(hf)), hf).got, `${file} vs the f16-rounded fixture`);
    // and near transformers' f32 logits: f16 weights move them by up to 1.1e-3 of the largest (measured)
    assertClose(got, transformers, { rel: 2.5e-3, label: `${file} vs transformers` });
  }
});

/** fixtures/hf/`hf` with config fields replaced, in tmp. */
function edited(hf: string, edit: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmp, `${hf}-`));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...JSON.parse(readFileSync(join(fixture(hf), 'config.json'), 'utf8')), ...edit }));
  copyFileSync(join(fixture(hf), 'model.safetensors'), join(dir, 'model.safetensors'));
  return dir;
}

const SIX = ['sliding_attention', 'sliding_attention', 'sliding_attention', 'sliding_attention', 'sliding_attention', 'full_attention'];

test('llama.cpp\'s own Gemma files read as llama.cpp runs them: gemma2 at 1/√head size (its converter drops query_pre_attn_scalar 24), gemma3 with every 6th layer full (it drops layer_types); f16-rounded logits bit for bit', () => {
  for (const [name, edit] of [['gemma2', { query_pre_attn_scalar: 16 }], ['gemma3', { layer_types: SIX }]] as const) {
    const m = loadModel(llamacpp(name));
    assert.equal(m.config.arch, name);
    assert.deepEqual(run(m, name).got, run(roundedToF16(edited(name, edit)), name).got, name);
  }
  // with the pattern given (rrt writes one bool per block; here the period), the file is the fixture: near transformers' logits,
  // which f16 weights move by up to 1.5 % of the largest in this sensitive fixture (measured)
  const period3 = rewrite(llamacpp('gemma3'), join(tmp, 'gemma3-period3.gguf'), () => {}, (kv) => kv.set('gemma3.attention.sliding_window_pattern', [3, 'u32']));
  const { got, transformers } = run(loadModel(period3), 'gemma3');
  assert.deepEqual(got, run(roundedToF16(fixture('gemma3')), 'gemma3').got);
  assertClose(got, transformers, { rel: 2.5e-2, label: 'gemma3 with its pattern vs transformers' });
});

test('the HF config of llama.cpp\'s Gemma files: norms back to HF\'s w, soft-caps (llama.cpp\'s 50 and 30 when absent), windows, per-type rotary bases', () => {
  const read = (path: string) => {
    const { config, source } = ggufToHf(openGguf(path));
    return { config, source };
  };
  const g2 = read(llamacpp('gemma2'));
  assert.deepEqual(['model_type', 'query_pre_attn_scalar', 'attn_logit_softcapping', 'final_logit_softcapping', 'sliding_window', 'hidden_activation', 'tie_word_embeddings'].map((k) => g2.config[k]),
    ['gemma2', 16, 2, 10, 6, 'gelu_pytorch_tanh', true]);
  assert.deepEqual(g2.config.layer_types, ['sliding_attention', 'full_attention', 'sliding_attention', 'full_attention']);
  // stored 1 + w: what comes back gives the model's own 1 + w exactly
  const st = openSafetensors(join(fixture('gemma2'), 'model.safetensors'));
  for (const n of ['model.layers.1.post_attention_layernorm.weight', 'model.norm.weight']) assert.deepEqual(g2.source.readF32(n).map((w) => w + 1), st.readF32(n).map((w) => w + 1), n);
  st.close();
  g2.source.close();
  const g3 = read(llamacpp('gemma3'));
  assert.deepEqual(['model_type', 'rope_theta', 'rope_local_base_freq', 'sliding_window', 'final_logit_softcapping'].map((k) => g3.config[k]), ['gemma3_text', 1e6, 1e4, 5, undefined]);
  assert.deepEqual([g3.config.rope_scaling, g3.config.layer_types], [{ rope_type: 'linear', factor: 2 }, SIX]);
  assert.ok(g3.source.names().includes('model.layers.5.self_attn.k_norm.weight'));
  g3.source.close();
  const noCaps = rewrite(llamacpp('gemma2'), join(tmp, 'gemma2-nocaps.gguf'), () => {}, (kv) => {
    kv.delete('gemma2.attn_logit_softcapping');
    kv.delete('gemma2.final_logit_softcapping');
  });
  const c = read(noCaps);
  c.source.close();
  assert.deepEqual([c.config.attn_logit_softcapping, c.config.final_logit_softcapping], [50, 30]);
});

test('the HF config of llama.cpp\'s files: head_dim, partial rotary, longrope factors and attention factor, the window where rrt stops', () => {
  const config = (file: string) => {
    const { config, source } = ggufToHf(openGguf(llamacpp(file)));
    const names = source.names();
    source.close();
    return { config, names };
  };
  const q = config('qwen3');
  assert.deepEqual([q.config.model_type, q.config.head_dim, q.config.num_attention_heads, q.config.num_key_value_heads, q.config.tie_word_embeddings], ['qwen3', 16, 8, 2, false]);
  assert.ok(q.names.includes('model.layers.3.self_attn.q_norm.weight'));
  const o = config('olmo2-fused');
  assert.ok(o.names.includes('model.layers.0.self_attn.k_proj.weight') && o.names.includes('model.layers.0.post_feedforward_layernorm.weight'));
  assert.equal(o.config.model_type, 'olmo2');
  const p = config('phi3');
  assert.equal(p.config.partial_rotary_factor, 0.5);
  assert.ok(p.names.includes('model.layers.0.self_attn.qkv_proj.weight') && p.names.includes('model.layers.0.mlp.gate_up_proj.weight'));
  const l = config('phi3-longrope');
  const s = l.config.rope_scaling as { rope_type: string; short_factor: number[]; long_factor: number[]; factor: number; attention_factor: number };
  assert.equal(s.rope_type, 'longrope');
  assert.deepEqual([s.factor, l.config.original_max_position_embeddings, s.long_factor[0]], [4, 128, 4]);
  assert.ok(Math.abs(s.short_factor[1] - 2.9403) < 1e-6 && Math.abs(s.attention_factor - Math.sqrt(1 + Math.log(4) / Math.log(128))) < 1e-6);
  assert.equal(loadModel(llamacpp('phi3-longrope')).config.maxPositions, 128, 'the context ends at the original one (long factors are not run)');
  // llama.cpp runs Phi-3 without its sliding window; rrt stops at the window, where the two agree
  const windowed = rewrite(llamacpp('phi3'), join(tmp, 'phi3-window.gguf'), () => {}, (kv) => kv.set('phi3.attention.sliding_window', [100, 'u32']));
  assert.deepEqual([loadModel(windowed).config.maxPositions, loadModel(windowed).config.windows], [100, undefined]);
  const wide = rewrite(llamacpp('phi3'), join(tmp, 'phi3-wide-window.gguf'), () => {}, (kv) => kv.set('phi3.attention.sliding_window', [1000, 'u32']));
  assert.deepEqual([loadModel(wide).config.maxPositions, loadModel(wide).config.windows], [256, undefined]);
});

/** `src` rewritten with its tensors' bytes as they are (F32, F16, Q8_0), through `edit`: name → [ggml type, shape, raw bytes]. */
function rewrite(src: string, dst: string, edit: (t: Map<string, [string, number[], Uint8Array]>) => void, meta: (kv: Map<string, [GgufValue, GgufType]>) => void = () => {}): string {
  const f = openGguf(src);
  const t = new Map(f.names().map((n) => [n, [f.info(n).ggmlType, f.info(n).shape, f.readRaw(n)] as [string, number[], Uint8Array]]));
  const kv = new Map(ggufMetadataEntries(f).map(([k, v, ty]) => [k, [v, ty] as [GgufValue, GgufType]]));
  f.close();
  edit(t);
  meta(kv);
  const tensors: GgufTensorToWrite[] = [...t].map(([name, [type, shape, raw]]) => {
    const buf = raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length);
    if (type === 'F32') return { name, dtype: 'f32', shape, data: new Float32Array(buf) };
    if (type === 'F16') return { name, dtype: 'f16', shape, data: new Uint16Array(buf) };
    assert.equal(type, 'Q8_0');
    return { name, dtype: 'q8_0', shape, data: raw };
  });
  writeGguf(dst, [...kv].map(([k, [v, ty]]) => [k, v, ty]), tensors);
  return dst;
}

const cat = (...a: Uint8Array[]) => Uint8Array.from(Buffer.concat(a));

/** q, k, v of every block stacked into attn_qkv, as llama.cpp's converter does with --fuse-qkv. */
const fuse = (t: Map<string, [string, number[], Uint8Array]>) => {
  for (let l = 0; t.has(`blk.${l}.attn_q.weight`); l++) {
    const [q, k, v] = ['q', 'k', 'v'].map((x) => t.get(`blk.${l}.attn_${x}.weight`)!);
    for (const x of ['q', 'k', 'v']) t.delete(`blk.${l}.attn_${x}.weight`);
    t.set(`blk.${l}.attn_qkv.weight`, [q[0], [q[1][0] + k[1][0] + v[1][0], q[1][1]], cat(q[2], k[2], v[2])]);
  }
};

test('q, k, v fused into attn_qkv read as kept apart (qwen3, olmo2, llama with its permuted rows), as values and as Q8_0 blocks; Phi-3\'s attn_qkv given apart reads as fused', () => {
  const logits = (path: string, dtype: 'f32' | 'auto') => {
    const m = loadModel(path, { dtype });
    const ids = Int32Array.from({ length: 16 }, (_, i) => (i * 29 + 3) % 512);
    return noGrad(() => m.decoder.forward(ids, 1, 16).logits.f32.slice());
  };
  for (const [name, dtype] of [['qwen3', 'f32'], ['olmo2', 'q8_0'], ['llama', 'q8_0']] as const) {
    const apart = join(tmp, `${name}-${dtype}.gguf`);
    exportGguf(fixture(name), apart, { tokenizer: TOK, dtype });
    const fused = rewrite(apart, join(tmp, `${name}-${dtype}-fused.gguf`), fuse);
    const f = openGguf(fused);
    assert.ok(f.names().includes('blk.0.attn_qkv.weight') && !f.names().includes('blk.0.attn_q.weight'));
    f.close();
    // 'auto' keeps Q8_0 blocks packed: the rows of attn_qkv are cut as bytes (readRaw)
    for (const load of ['f32', 'auto'] as const) assert.deepEqual(logits(fused, load), logits(apart, load), `${name} ${dtype} loaded ${load}`);
  }
  const fusedPhi = join(tmp, 'phi3.gguf');
  exportGguf(fixture('phi3'), fusedPhi, { tokenizer: TOK, dtype: 'q8_0' });
  const apartPhi = rewrite(fusedPhi, join(tmp, 'phi3-apart.gguf'), (t) => {
    for (let l = 0; t.has(`blk.${l}.attn_qkv.weight`); l++) {
      const [type, [, cols], raw] = t.get(`blk.${l}.attn_qkv.weight`)!;
      const rowBytes = raw.length / 128;
      t.delete(`blk.${l}.attn_qkv.weight`);
      // 4 query heads and 2 kv heads of 16: rows [0, 64) q, [64, 96) k, [96, 128) v
      for (const [x, a, b] of [['q', 0, 64], ['k', 64, 96], ['v', 96, 128]] as const) t.set(`blk.${l}.attn_${x}.weight`, [type, [b - a, cols], raw.slice(a * rowBytes, b * rowBytes)]);
    }
  });
  for (const load of ['f32', 'auto'] as const) assert.deepEqual(logits(apartPhi, load), logits(fusedPhi, load), `phi3 apart loaded ${load}`);
});

test('files rrt would run differently are refused with the reason; missing, unmapped and misshapen tensors name the tensor', () => {
  const base = join(tmp, 'base-qwen3.gguf');
  exportGguf(fixture('qwen3'), base, { tokenizer: TOK });
  const phi = join(tmp, 'base-longrope.gguf');
  exportGguf(fixture('phi3-longrope'), phi, { tokenizer: TOK });
  const olmo = join(tmp, 'base-olmo2.gguf');
  exportGguf(fixture('olmo2'), olmo, { tokenizer: TOK });
  let n = 0;
  const variant = (src: string, edit: (t: Map<string, [string, number[], Uint8Array]>) => void, meta?: (kv: Map<string, [GgufValue, GgufType]>) => void) => rewrite(src, join(tmp, `variant-${n++}.gguf`), edit, meta);
  const configError = (path: string, code: string, ...mentions: string[]) => {
    const f = openGguf(path);
    try {
      assert.throws(() => ggufToHf(f), (e: unknown) => e instanceof ConfigError && e.code === code && mentions.every((m) => e.message.includes(m)), mentions.join(', '));
    } finally {
      f.close();
    }
  };
  configError(variant(base, () => {}, (kv) => kv.set('general.architecture', ['gemma', 'string'])), 'unknown_architecture', '"gemma"', 'llama, qwen3, olmo2, phi3, gemma2, gemma3');
  const g2 = llamacpp('gemma2'), g3 = llamacpp('gemma3');
  configError(variant(g2, (t) => t.set('output.weight', t.get('token_embd.weight')!)), 'unsupported', 'output.weight in a gemma2 file');
  configError(variant(g2, () => {}, (kv) => kv.set('gemma2.rope.freq_base_swa', [5e5, 'f32'])), 'unsupported', 'gemma2.rope.freq_base_swa 500000 ≠ rope.freq_base 10000');
  configError(variant(g2, () => {}, (kv) => kv.set('gemma2.attention.sliding_window', [0, 'u32'])), 'bad_value', 'gemma2.attention.sliding_window is 0');
  configError(variant(g3, () => {}, (kv) => kv.set('gemma3.attention.sliding_window_pattern', [[true, false], 'bool'])), 'bad_value', 'gemma3.attention.sliding_window_pattern must hold one bool per block (6)');
  configError(variant(base, () => {}, (kv) => kv.set('qwen3.rope.dimension_count', [8, 'u32'])), 'unsupported', 'rotary dims 8 of head size 16', 'qwen3 rotates whole heads');
  configError(variant(base, () => {}, (kv) => kv.set('qwen3.rope.scaling.type', ['yarn', 'string'])), 'unsupported', "rope scaling 'yarn'");
  configError(variant(base, () => {}, (kv) => kv.set('qwen3.attention.value_length', [32, 'u32'])), 'unsupported', 'value head size 32');
  configError(variant(olmo, () => {}, (kv) => kv.set('olmo2.attention.sliding_window', [64, 'u32'])), 'unsupported', 'sliding-window attention layers');
  configError(variant(phi, (t) => t.delete('rope_factors_short.weight'), (kv) => kv.set('phi3.rope.scaling.type', ['longrope', 'string'])), 'missing_field', 'rope_factors_short.weight');
  configError(variant(base, (t) => t.set('rope_freqs.weight', ['F32', [8], new Uint8Array(32)])), 'unsupported', "'rope_freqs.weight' has no HF qwen3 equivalent");
  const open = (path: string) => () => {
    const f = openGguf(path);
    try {
      ggufToHf(f);
    } finally {
      f.close();
    }
  };
  expectFormatError(open(variant(base, (t) => t.delete('blk.2.attn_q_norm.weight'))), 'missing_tensor', "'blk.2.attn_q_norm.weight'");
  expectFormatError(open(variant(base, (t) => t.set('blk.1.attn_k_norm.weight', ['F32', [8], new Uint8Array(32)]))), 'shape_size_mismatch', "'blk.1.attn_k_norm.weight'", '[8]', '[16]');
  expectFormatError(open(variant(base, () => {}, (kv) => kv.set('qwen3.block_count', [9, 'u32']))), 'missing_tensor', "no tensor 'blk.4.attn_q.weight'");
  // a fused attn_qkv must hold q, k and v whole
  expectFormatError(open(variant(base, (t) => {
    fuse(t);
    const [type, [rows, cols], raw] = t.get('blk.0.attn_qkv.weight')!;
    t.set('blk.0.attn_qkv.weight', [type, [rows - 32, cols], raw.slice(0, (rows - 32) * cols * 4)]);
  })), 'shape_size_mismatch', "'blk.0.attn_qkv.weight'", '[160,64]', '[192,64]');
});
