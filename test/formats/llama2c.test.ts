// llama2.c legacy checkpoints: stories260K's header becomes the HF config, tensors sit where
// an independent offset computation says, the q/k permutation turns Meta's interleaved RoPE
// layout into HF's rotate-half layout (same attention scores), an unshared classifier is
// found after freq_cis, and bad headers or sizes get FormatErrors that show the numbers.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLlama2c } from '../../src/formats/llama2c.js';
import { randn, expectFormatError } from '../helpers.js';

const STORIES = new URL('../../assets/stories260K/stories260K.bin', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'rrt-l2c-'));
after(() => rmSync(tmp, { recursive: true, force: true }));


/** Header and float reads by hand (DataView), independent of the reader. */
function raw(path: string) {
  const buf = readFileSync(path);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const [dim, hidden, layers, heads, kvHeads, vocab, seq] = Array.from({ length: 7 }, (_, i) => dv.getInt32(4 * i, true));
  const floats = (at: number, n: number) => Float32Array.from({ length: n }, (_, i) => dv.getFloat32(at + 4 * i, true));
  return { buf, dim, hidden, layers, heads, kvHeads, vocab, seq, floats };
}

/** transformers' convert_llama_weights_to_hf.py permute(w, n_heads, dim1, dim2), written out for the test. */
function hfPermute(w: Float32Array, rows: number, cols: number, nHeads: number): Float32Array {
  const out = new Float32Array(w.length);
  const hd = rows / nHeads, half = hd / 2;
  // view(nHeads, half, 2, cols).transpose(1, 2): element (h, i, j) moves to (h, j, i)
  for (let h = 0; h < nHeads; h++) for (let i = 0; i < half; i++) for (let j = 0; j < 2; j++) {
    out.set(w.subarray((h * hd + i * 2 + j) * cols, (h * hd + i * 2 + j + 1) * cols), (h * hd + j * half + i) * cols);
  }
  return out;
}

function matvec(w: Float32Array, x: Float64Array, rows: number, cols: number): Float64Array {
  const y = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < cols; c++) s += w[r * cols + c] * x[c];
    y[r] = s;
  }
  return y;
}

/** llama2.c run.c RoPE: pairs (2i, 2i+1) within each head. */
function ropeInterleaved(v: Float64Array, hd: number, pos: number): Float64Array {
  const out = Float64Array.from(v);
  for (let i = 0; i < v.length; i += 2) {
    const freq = 1 / Math.pow(10000, (i % hd) / hd);
    const c = Math.cos(pos * freq), s = Math.sin(pos * freq);
    out[i] = v[i] * c - v[i + 1] * s;
    out[i + 1] = v[i] * s + v[i + 1] * c;
  }
  return out;
}

/** HF rotate_half RoPE: pairs (i, i + hd/2) within each head. */
function ropeHalf(v: Float64Array, hd: number, pos: number): Float64Array {
  const out = Float64Array.from(v);
  const half = hd / 2;
  for (let h = 0; h < v.length / hd; h++) for (let i = 0; i < half; i++) {
    const freq = 1 / Math.pow(10000, (2 * i) / hd);
    const c = Math.cos(pos * freq), s = Math.sin(pos * freq);
    const a = v[h * hd + i], b = v[h * hd + i + half];
    out[h * hd + i] = a * c - b * s;
    out[h * hd + i + half] = b * c + a * s;
  }
  return out;
}

/** q·k per query head (GQA: query head h reads kv head h / (heads / kvHeads)). */
function scores(q: Float64Array, k: Float64Array, heads: number, kvHeads: number, hd: number): number[] {
  return Array.from({ length: heads }, (_, h) => {
    const g = Math.floor(h / (heads / kvHeads));
    let s = 0;
    for (let d = 0; d < hd; d++) s += q[h * hd + d] * k[g * hd + d];
    return s;
  });
}

test('stories260K: the 7-int header becomes the HF llama config, with a shared classifier', () => {
  const r = raw(STORIES);
  const { config, source } = openLlama2c(STORIES);
  try {
    assert.deepEqual([r.dim, r.hidden, r.layers, r.heads, r.kvHeads, r.vocab, r.seq], [64, 172, 5, 8, 4, 512, 512]);
    assert.equal(config.model_type, 'llama');
    assert.equal(config.hidden_size, r.dim);
    assert.equal(config.intermediate_size, r.hidden);
    assert.equal(config.num_hidden_layers, r.layers);
    assert.equal(config.num_attention_heads, r.heads);
    assert.equal(config.num_key_value_heads, r.kvHeads);
    assert.equal(config.vocab_size, r.vocab);
    assert.equal(config.max_position_embeddings, r.seq);
    assert.equal(config.head_dim, r.dim / r.heads);
    assert.equal(config.rms_norm_eps, 1e-5);
    assert.equal(config.rope_theta, 10000);
    assert.equal(config.tie_word_embeddings, true, 'positive vocab_size: shared classifier');
    assert.equal(config.bos_token_id, 1);
    assert.deepEqual(config.eos_token_id, [2, 1]);
    assert.equal(source.names().length, 2 + 9 * r.layers, 'embed, final norm and 9 per layer; no lm_head, no freq_cis');
    assert.ok(!source.names().includes('lm_head.weight'));
    let params = 0;
    for (const n of source.names()) params += source.readF32(n).length;
    const kvDim = (r.dim / r.heads) * r.kvHeads;
    assert.equal(params, r.vocab * r.dim + r.layers * (2 * r.dim + 2 * r.dim * r.dim + 2 * kvDim * r.dim + 3 * r.dim * r.hidden) + r.dim);
  } finally {
    source.close();
  }
});

test('stories260K tensors sit at independently computed offsets; wq/wk come back HF-permuted, the rest verbatim', () => {
  const r = raw(STORIES);
  const { source } = openLlama2c(STORIES);
  const { dim, hidden, layers: L, heads, kvHeads, vocab } = r;
  const kvDim = (dim / heads) * kvHeads;
  // offsets in floats after the 28-byte header, in run.c's memory_map_weights order
  const emb = 0, rmsAtt = emb + vocab * dim, wq = rmsAtt + L * dim, wk = wq + L * dim * dim, wv = wk + L * kvDim * dim;
  const wo = wv + L * kvDim * dim, rmsFfn = wo + L * dim * dim, w1 = rmsFfn + L * dim, w2 = w1 + L * dim * hidden, w3 = w2 + L * hidden * dim;
  const rmsFinal = w3 + L * dim * hidden;
  const at = (f: number) => 28 + 4 * f;
  try {
    assert.deepEqual(source.readF32('model.embed_tokens.weight'), r.floats(at(emb), vocab * dim));
    assert.deepEqual(source.readF32('model.norm.weight'), r.floats(at(rmsFinal), dim));
    for (const l of [0, 3, L - 1]) {
      const p = `model.layers.${l}.`;
      assert.deepEqual(source.readF32(`${p}input_layernorm.weight`), r.floats(at(rmsAtt + l * dim), dim));
      assert.deepEqual(source.readF32(`${p}self_attn.q_proj.weight`), hfPermute(r.floats(at(wq + l * dim * dim), dim * dim), dim, dim, heads));
      assert.deepEqual(source.readF32(`${p}self_attn.k_proj.weight`), hfPermute(r.floats(at(wk + l * kvDim * dim), kvDim * dim), kvDim, dim, kvHeads));
      assert.deepEqual(source.readF32(`${p}self_attn.v_proj.weight`), r.floats(at(wv + l * kvDim * dim), kvDim * dim));
      assert.deepEqual(source.readF32(`${p}self_attn.o_proj.weight`), r.floats(at(wo + l * dim * dim), dim * dim));
      assert.deepEqual(source.readF32(`${p}post_attention_layernorm.weight`), r.floats(at(rmsFfn + l * dim), dim));
      assert.deepEqual(source.readF32(`${p}mlp.gate_proj.weight`), r.floats(at(w1 + l * dim * hidden), hidden * dim));
      assert.deepEqual(source.readF32(`${p}mlp.down_proj.weight`), r.floats(at(w2 + l * dim * hidden), dim * hidden));
      assert.deepEqual(source.readF32(`${p}mlp.up_proj.weight`), r.floats(at(w3 + l * dim * hidden), hidden * dim));
      assert.deepEqual(source.info(`${p}mlp.down_proj.weight`).shape, [dim, hidden]);
      assert.deepEqual(source.info(`${p}self_attn.k_proj.weight`).shape, [kvDim, dim]);
    }
  } finally {
    source.close();
  }
});

test('the q/k permutation is the right one: interleaved RoPE on Meta weights and rotate-half RoPE on the HF weights give the same q·k', () => {
  const r = raw(STORIES);
  const { source } = openLlama2c(STORIES);
  const { dim, heads, kvHeads, vocab, layers: L } = r;
  const hd = dim / heads, kvDim = hd * kvHeads;
  const l = 2;
  const wqMeta = r.floats(28 + 4 * (vocab * dim + L * dim + l * dim * dim), dim * dim);
  const wkMeta = r.floats(28 + 4 * (vocab * dim + L * dim + L * dim * dim + l * kvDim * dim), kvDim * dim);
  const wqHf = source.readF32(`model.layers.${l}.self_attn.q_proj.weight`);
  const wkHf = source.readF32(`model.layers.${l}.self_attn.k_proj.weight`);
  source.close();
  const x1 = Float64Array.from(randn(dim, 21));
  const x2 = Float64Array.from(randn(dim, 22));
  let worstControl = 0;
  for (const [pq, pk] of [[0, 0], [5, 3], [17, 17], [100, 1]]) {
    const meta = scores(ropeInterleaved(matvec(wqMeta, x1, dim, dim), hd, pq), ropeInterleaved(matvec(wkMeta, x2, kvDim, dim), hd, pk), heads, kvHeads, hd);
    const hf = scores(ropeHalf(matvec(wqHf, x1, dim, dim), hd, pq), ropeHalf(matvec(wkHf, x2, kvDim, dim), hd, pk), heads, kvHeads, hd);
    const scale = Math.max(...meta.map(Math.abs));
    for (let h = 0; h < heads; h++) assert.ok(Math.abs(meta[h] - hf[h]) <= 1e-9 * scale, `positions ${pq},${pk} head ${h}: ${meta[h]} vs ${hf[h]}`);
    // control: rotate-half RoPE on the unpermuted weights is a different model
    const wrong = scores(ropeHalf(matvec(wqMeta, x1, dim, dim), hd, pq), ropeHalf(matvec(wkMeta, x2, kvDim, dim), hd, pk), heads, kvHeads, hd);
    for (let h = 0; h < heads; h++) worstControl = Math.max(worstControl, Math.abs(wrong[h] - meta[h]) / scale);
  }
  assert.ok(worstControl > 1e-2, `the control should differ, max relative gap ${worstControl}`);
});

/** A small random llama2.c file; vocabSigned < 0 appends a separate classifier after freq_cis. */
function writeTiny(path: string, vocabSigned: number, extraBytes = 0) {
  const dim = 16, hidden = 24, L = 2, heads = 4, kvHeads = 2, seq = 8, vocab = Math.abs(vocabSigned);
  const hd = dim / heads, kvDim = hd * kvHeads;
  const blocks: [string, number][] = [
    ['emb', vocab * dim], ['rmsAtt', L * dim], ['wq', L * dim * dim], ['wk', L * kvDim * dim], ['wv', L * kvDim * dim], ['wo', L * dim * dim],
    ['rmsFfn', L * dim], ['w1', L * hidden * dim], ['w2', L * dim * hidden], ['w3', L * hidden * dim], ['rmsFinal', dim],
    ['freqReal', seq * hd / 2], ['freqImag', seq * hd / 2],
  ];
  if (vocabSigned < 0) blocks.push(['wcls', vocab * dim]);
  const data = new Map(blocks.map(([n, len], i) => [n, randn(len, 200 + i)]));
  const header = Buffer.alloc(28);
  [dim, hidden, L, heads, kvHeads, vocabSigned, seq].forEach((v, i) => header.writeInt32LE(v, 4 * i));
  writeFileSync(path, Buffer.concat([header, ...[...data.values()].map((a) => Buffer.from(a.buffer)), Buffer.alloc(extraBytes)]));
  return { data, dim, hidden, L, heads, kvHeads, vocab, kvDim };
}

test('a negative vocab_size means a separate classifier, read from after freq_cis; the embedding stays the first block', () => {
  const path = join(tmp, 'unshared.bin');
  const t = writeTiny(path, -40);
  const { config, source } = openLlama2c(path);
  try {
    assert.equal(config.tie_word_embeddings, false);
    assert.equal(config.vocab_size, 40);
    assert.deepEqual(source.readF32('lm_head.weight'), t.data.get('wcls'));
    assert.deepEqual(source.info('lm_head.weight').shape, [40, t.dim]);
    assert.deepEqual(source.readF32('model.embed_tokens.weight'), t.data.get('emb'));
    assert.deepEqual(source.readF32('model.norm.weight'), t.data.get('rmsFinal'));
    const wk = t.data.get('wk')!;
    const l1 = wk.subarray(t.kvDim * t.dim, 2 * t.kvDim * t.dim);
    assert.deepEqual(source.readF32('model.layers.1.self_attn.k_proj.weight'), hfPermute(l1, t.kvDim, t.dim, t.kvHeads));
  } finally {
    source.close();
  }
  const shared = join(tmp, 'shared.bin');
  writeTiny(shared, 40);
  const s = openLlama2c(shared);
  assert.equal(s.config.tie_word_embeddings, true);
  assert.ok(!s.source.names().includes('lm_head.weight'));
  s.source.close();
});

test('bad llama2.c headers and sizes throw FormatError naming the header fields and byte counts', () => {
  const good = readFileSync(STORIES);
  const variant = (name: string, edit: (b: Buffer) => Buffer) => {
    const p = join(tmp, name);
    writeFileSync(p, edit(Buffer.from(good)));
    return p;
  };
  const setInt = (i: number, v: number) => (b: Buffer) => { b.writeInt32LE(v, 4 * i); return b; };
  expectFormatError(() => openLlama2c(variant('tiny.bin', (b) => b.subarray(0, 20))), 'truncated', '20 bytes');
  expectFormatError(() => openLlama2c(variant('cut.bin', (b) => b.subarray(0, b.length - 100))), 'truncated', String(good.length - 100), String(good.length), 'dim=64');
  expectFormatError(() => openLlama2c(variant('long.bin', (b) => Buffer.concat([b, Buffer.alloc(4)]))), 'shape_size_mismatch', String(good.length + 4));
  expectFormatError(() => openLlama2c(variant('sign.bin', setInt(5, -512))), 'truncated', 'sign of vocab_size');
  expectFormatError(() => openLlama2c(variant('dim0.bin', setInt(0, 0))), 'bad_header', 'dim = 0');
  expectFormatError(() => openLlama2c(variant('neg.bin', setInt(2, -5))), 'bad_header', 'n_layers = -5');
  expectFormatError(() => openLlama2c(variant('absurd.bin', setInt(6, 2 ** 30))), 'bad_header', `seq_len = ${2 ** 30}`);
  expectFormatError(() => openLlama2c(variant('heads.bin', setInt(3, 3))), 'bad_header', '3 heads');
  expectFormatError(() => openLlama2c(variant('kv.bin', setInt(4, 3))), 'bad_header', '3 kv heads');
  expectFormatError(() => openLlama2c(variant('v1.bin', setInt(0, 0x616b3432))), 'bad_version', 'ak42');
  expectFormatError(() => openLlama2c(join(tmp, 'missing.bin')), 'not_found');
  const extra = join(tmp, 'extra.bin');
  writeTiny(extra, -40, 8);
  expectFormatError(() => openLlama2c(extra), 'shape_size_mismatch', 'separate classifier');
});
