// GGUF reader, writer and the llama GGUF→HF mapping: the fixture reads (metadata, vocab,
// F16/F32 data equal to an independent decode) and rewrites byte for byte; writes round-trip;
// q8_0 stays within its error bound; ggufToHf undoes llama.cpp's q/k permutation; malformed
// headers get their own FormatError codes quickly, without huge allocations.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../src/errors.js';
import {
  type GgufTensorToWrite, type GgufType, type GgufValue, ggmlLoadForm, ggufMetadataEntries, ggufToHf, ggufTypeSummary, openGguf, quantizeQ8_0, writeGguf,
} from '../../src/formats/gguf.js';
import { f32ToBf16, f32ToF16 } from '../../src/formats/tensor-source.js';
import { randn, expectFormatError } from '../helpers.js';

const FIXTURE = new URL('../../fixtures/gguf/llama-2-tiny-random.gguf', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'rrt-gguf-'));
after(() => rmSync(tmp, { recursive: true, force: true }));


/** Half-precision decode written independently of the library (Math.pow, not a table). */
function halfToNumber(h: number): number {
  const s = h >> 15 ? -1 : 1, e = (h >> 10) & 31, m = h & 1023;
  if (e === 0) return s * Math.pow(2, -14) * (m / 1024);
  if (e === 31) return m ? NaN : s * Infinity;
  return s * Math.pow(2, e - 15) * (1 + m / 1024);
}

/** A minimal GGUF parser for the test: tensor table and data start, by hand. */
function rawParse(buf: Buffer) {
  let p = 4;
  const version = buf.readUInt32LE(p); p += 4;
  const nt = Number(buf.readBigUInt64LE(p)); p += 8;
  const nkv = Number(buf.readBigUInt64LE(p)); p += 8;
  const str = () => { const n = Number(buf.readBigUInt64LE(p)); p += 8; const s = buf.toString('utf8', p, p + n); p += n; return s; };
  const size: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
  const skip = (t: number) => { if (t === 8) str(); else p += size[t]; };
  const kv: Record<string, unknown> = {};
  for (let i = 0; i < nkv; i++) {
    const k = str();
    const t = buf.readUInt32LE(p); p += 4;
    if (t === 9) {
      const et = buf.readUInt32LE(p); const n = Number(buf.readBigUInt64LE(p + 4)); p += 12;
      for (let j = 0; j < n; j++) skip(et);
      kv[k] = n;
    } else if (t === 8) kv[k] = str();
    else if (t === 4) { kv[k] = buf.readUInt32LE(p); p += 4; } else skip(t);
  }
  const tensors: Record<string, { ne: number[]; type: number; offset: number }> = {};
  for (let i = 0; i < nt; i++) {
    const name = str();
    const nd = buf.readUInt32LE(p); p += 4;
    const ne = Array.from({ length: nd }, (_, d) => Number(buf.readBigUInt64LE(p + 8 * d))); p += 8 * nd;
    const type = buf.readUInt32LE(p); const offset = Number(buf.readBigUInt64LE(p + 4)); p += 12;
    tensors[name] = { ne, type, offset };
  }
  return { version, kv, tensors, dataStart: Math.ceil(p / 32) * 32 };
}

/** Little-endian byte builder for hand-made (and deliberately broken) GGUF files. */
class B {
  private parts: Buffer[] = [];
  private n = 0;
  raw(b: Buffer): this { this.parts.push(b); this.n += b.length; return this; }
  u32(v: number): this { const b = Buffer.alloc(4); b.writeUInt32LE(v >>> 0); return this.raw(b); }
  u64(v: number | bigint): this { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); return this.raw(b); }
  str(s: string): this { return this.u64(Buffer.byteLength(s)).raw(Buffer.from(s)); }
  pad(a: number): this { return this.raw(Buffer.alloc((a - (this.n % a)) % a)); }
  buf(): Buffer { return Buffer.concat(this.parts); }
}

interface RawTensor { name: string; ne: number[]; type: number; offset: number }
/** A hand-built GGUF; every field can be overridden to break it. */
function craft(name: string, o: { magic?: string; version?: number; nTensors?: bigint; nKv?: bigint; kv?: (b: B) => number; tensors?: RawTensor[]; data?: number; align?: number } = {}): string {
  const b = new B().raw(Buffer.from(o.magic ?? 'GGUF', 'latin1')).u32(o.version ?? 3);
  const tensors = o.tensors ?? [];
  const kvBody = new B();
  const nKv = o.kv ? o.kv(kvBody) : 0;
  b.u64(o.nTensors ?? BigInt(tensors.length)).u64(o.nKv ?? BigInt(nKv)).raw(kvBody.buf());
  for (const t of tensors) {
    b.str(t.name).u32(t.ne.length);
    for (const d of t.ne) b.u64(d);
    b.u32(t.type).u64(t.offset);
  }
  if (tensors.length) b.pad(o.align ?? 32);
  b.raw(Buffer.alloc(o.data ?? 0));
  const path = join(tmp, name);
  writeFileSync(path, b.buf());
  return path;
}
const f32Tensor = (name: string, n: number, offset = 0): RawTensor => ({ name, ne: [n], type: 0, offset });

test('reads llama-2-tiny-random.gguf: v3 metadata with types, the 32000-token vocab, and F16/F32 tensors equal to an independent decode', () => {
  const f = openGguf(FIXTURE);
  const buf = readFileSync(FIXTURE);
  const raw = rawParse(buf);
  try {
    assert.equal(f.version, 3);
    assert.equal(f.alignment, 32);
    assert.equal(f.dataOffset, raw.dataStart);
    assert.equal(f.metadata.get('general.architecture'), 'llama');
    assert.equal(f.metadata.get('llama.block_count'), 1);
    assert.equal(f.metadataTypes.get('llama.block_count'), 'u32');
    assert.equal(f.metadata.get('llama.embedding_length'), raw.kv['llama.embedding_length']);
    assert.equal(f.metadataTypes.get('llama.attention.layer_norm_rms_epsilon'), 'f32');
    assert.equal(f.metadata.get('llama.attention.layer_norm_rms_epsilon'), Math.fround(1e-5));
    const tokens = f.metadata.get('tokenizer.ggml.tokens') as string[];
    assert.equal(tokens.length, 32000);
    assert.equal(raw.kv['tokenizer.ggml.tokens'], 32000);
    assert.deepEqual(tokens.slice(0, 3), ['<unk>', '<s>', '</s>']);
    assert.equal(tokens[29871], '▁');
    assert.equal(f.metadataTypes.get('tokenizer.ggml.tokens'), 'string');
    assert.equal((f.metadata.get('tokenizer.ggml.scores') as number[]).length, 32000);
    assert.equal(f.metadataTypes.get('tokenizer.ggml.token_type'), 'i32');
    assert.deepEqual(f.names().sort(), Object.keys(raw.tensors).sort());
    const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    let f16 = 0, f32 = 0;
    for (const name of f.names()) {
      const t = raw.tensors[name];
      const info = f.info(name);
      assert.deepEqual(info.ggmlShape, t.ne);
      assert.deepEqual(f.ggmlShape(name), t.ne);
      assert.deepEqual(info.shape, [...t.ne].reverse(), `${name}: row-major shape is ne reversed`);
      assert.equal(info.dtype, t.type === 1 ? 'f16' : 'f32');
      assert.equal(info.ggmlType, t.type === 1 ? 'F16' : 'F32');
      if (t.type === 1) f16++; else f32++;
      const got = f.readF32(name);
      const at = raw.dataStart + t.offset;
      for (const i of [0, 1, got.length >> 1, got.length - 1]) {
        const want = t.type === 1 ? halfToNumber(dv.getUint16(at + 2 * i, true)) : dv.getFloat32(at + 4 * i, true);
        assert.equal(got[i], want, `${name}[${i}]`);
      }
    }
    assert.equal(f16, 9);
    assert.equal(f32, 3);
    const bits = f.read('blk.0.attn_q.weight');
    assert.equal(bits.dtype, 'f16');
    assert.ok(bits.data instanceof Uint16Array);
  } finally {
    f.close();
  }
});

test('rewriting the fixture with writeGguf (its metadata and tensors, types kept) reproduces it byte for byte', () => {
  const f = openGguf(FIXTURE);
  const tensors: GgufTensorToWrite[] = f.names().map((n) => {
    const i = f.info(n);
    return { name: n, dtype: i.dtype as 'f16' | 'f32', shape: i.shape, data: f.read(n).data as Float32Array | Uint16Array };
  });
  const out = join(tmp, 'rewrite.gguf');
  writeGguf(out, ggufMetadataEntries(f), tensors);
  f.close();
  assert.ok(readFileSync(out).equals(readFileSync(FIXTURE)), 'rewritten file differs from the original');
});

test('ggufToHf maps llama-2-tiny-random to an HF llama config and HF-named tensors (513,048 parameters)', () => {
  const f = openGguf(FIXTURE);
  const { config, source } = ggufToHf(f);
  try {
    assert.equal(config.model_type, 'llama');
    assert.equal(config.hidden_size, 8);
    assert.equal(config.intermediate_size, 32);
    assert.equal(config.num_hidden_layers, 1);
    assert.equal(config.num_attention_heads, 2);
    assert.equal(config.num_key_value_heads, 2);
    assert.equal(config.head_dim, 4);
    assert.equal(config.vocab_size, 32000);
    assert.equal(config.max_position_embeddings, 4096);
    assert.equal(config.rms_norm_eps, 1e-5, 'f32 9.99999974e-6 shown as the decimal it was written from');
    assert.equal(config.rope_theta, 10000);
    assert.equal(config.tie_word_embeddings, false);
    assert.equal(config.bos_token_id, 1);
    assert.equal(config.eos_token_id, 2);
    const expected = ['model.embed_tokens.weight', 'model.norm.weight', 'lm_head.weight', ...[
      'self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj', 'mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj',
      'input_layernorm', 'post_attention_layernorm'].map((n) => `model.layers.0.${n}.weight`)];
    assert.deepEqual(source.names().sort(), expected.sort());
    let params = 0;
    for (const n of source.names()) params += source.readF32(n).length;
    assert.equal(params, 513048);
    assert.deepEqual(source.readF32('model.embed_tokens.weight'), f.readF32('token_embd.weight'));
    assert.deepEqual(source.info('model.layers.0.mlp.down_proj.weight').shape, [8, 32]);
    assert.deepEqual(source.readF32('model.layers.0.self_attn.v_proj.weight'), f.readF32('blk.0.attn_v.weight'), 'v is not permuted');
    // q: HF row h·4 + j·2 + i comes from GGUF row h·4 + 2i + j (head size 4)
    const g = f.readF32('blk.0.attn_q.weight'), hf = source.readF32('model.layers.0.self_attn.q_proj.weight');
    for (let h = 0; h < 2; h++) for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) {
      assert.deepEqual(hf.subarray((h * 4 + j * 2 + i) * 8, (h * 4 + j * 2 + i + 1) * 8), g.subarray((h * 4 + 2 * i + j) * 8, (h * 4 + 2 * i + j + 1) * 8));
    }
  } finally {
    source.close();
  }
});

test('writeGguf/openGguf round-trip f32, f16, bf16 tensors and every metadata type, as v3 with 32-byte alignment', () => {
  const x = randn(3 * 5, 2);
  const meta: [string, GgufValue, GgufType?][] = [
    ['u8', 255, 'u8'], ['i8', -128, 'i8'], ['u16', 65535, 'u16'], ['i16', -32768, 'i16'], ['u32', 4294967295], ['i32', -5],
    ['f32', 0.25], ['f64', 0.1, 'f64'], ['bool', true], ['string', 'héllo'], ['u64', 2n ** 64n - 1n], ['i64', -(2n ** 63n)],
    ['strings', ['a', '', 'ü']], ['floats', [0.5, -1.5, 3]], ['ints', [1, -2, 3]], ['empty', [], 'u8'], ['bools', [true, false]],
  ];
  const tensors: GgufTensorToWrite[] = [
    { name: 'a.f32', dtype: 'f32', shape: [3, 5], data: x },
    { name: 'b.f16', dtype: 'f16', shape: [15], data: x },
    { name: 'c.bf16', dtype: 'bf16', shape: [5, 3], data: Uint16Array.from(x, (v) => f32ToBf16(v)) },
    { name: 'd.empty', dtype: 'f32', shape: [0], data: new Float32Array(0) },
    { name: 'e.4d', dtype: 'f32', shape: [1, 1, 3, 5], data: x },
  ];
  const path = join(tmp, 'rt.gguf');
  writeGguf(path, meta, tensors);
  const f = openGguf(path);
  try {
    assert.equal(f.version, 3);
    const raw = rawParse(readFileSync(path));
    for (const t of Object.values(raw.tensors)) assert.equal(t.offset % 32, 0);
    const expectType: Record<string, GgufType> = { u32: 'u32', i32: 'i32', f32: 'f32', bool: 'bool', string: 'string', u64: 'u64', i64: 'i64', strings: 'string', floats: 'f32', ints: 'i32', bools: 'bool' };
    for (const [k, v, t] of meta) {
      assert.equal(f.metadataTypes.get(k), t ?? expectType[k], `type of ${k}`);
      assert.deepEqual(f.metadata.get(k), v, `value of ${k}`);
    }
    assert.deepEqual(f.read('a.f32').data, x);
    assert.deepEqual(f.info('a.f32').ggmlShape, [5, 3]);
    assert.deepEqual(f.read('b.f16').data, Uint16Array.from(x, (v) => f32ToF16(v)));
    assert.equal(f.read('c.bf16').dtype, 'bf16');
    assert.deepEqual(f.read('c.bf16').data, tensors[2].data);
    assert.equal(f.readF32('d.empty').length, 0);
    assert.deepEqual(f.info('e.4d').shape, [1, 1, 3, 5]);
    assert.deepEqual(f.readF32('e.4d'), x);
  } finally {
    f.close();
  }
  assert.deepEqual(readdirSync(tmp).filter((n) => n.includes('.tmp-')), []);
});

test('q8_0: every value comes back within half a quantisation step (+ the f16 scale rounding), zeros stay zero', () => {
  const rows = 6, cols = 96;
  const x = randn(rows * cols, 9, 2);
  x.fill(0, 32, 64); // an all-zero block
  x[100] = 1000; // an outlier block
  const path = join(tmp, 'q8.gguf');
  writeGguf(path, new Map<string, GgufValue>([['general.architecture', 'test']]), [{ name: 'w', dtype: 'q8_0', shape: [rows, cols], data: x }]);
  const f = openGguf(path);
  const info = f.info('w');
  assert.equal(info.dtype, 'q8_0');
  assert.equal(info.ggmlType, 'Q8_0');
  assert.equal(info.byteLength, (rows * cols / 32) * 34);
  const got = f.read('w');
  assert.equal(got.dtype, 'f32', 'q8_0 is dequantised on read');
  const y = got.data as Float32Array;
  for (let b = 0; b < x.length / 32; b++) {
    let amax = 0;
    for (let i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(x[b * 32 + i]));
    const d = amax / 127;
    for (let i = 0; i < 32; i++) {
      const k = b * 32 + i;
      assert.ok(Math.abs(y[k] - x[k]) <= d * (0.5 + 127 * 2 ** -11) + 1e-12, `block ${b}[${i}]: ${x[k]} → ${y[k]} (step ${d})`);
    }
  }
  assert.deepEqual(y.subarray(32, 64), new Float32Array(32));
  f.close();
  // values that are exact multiples of an f16-representable step come back exactly
  const step = 0.125;
  const exact = Float32Array.from({ length: 32 }, (_, i) => (i - 16) * step);
  exact[0] = -127 * step;
  const q = quantizeQ8_0(exact);
  assert.equal(q.length, 34);
  const back = new Int8Array(q.buffer, 2, 32);
  for (let i = 0; i < 32; i++) assert.equal(back[i] * step, exact[i]);
  assert.throws(() => quantizeQ8_0(new Float32Array(33)), RangeError);
});

/** llama.cpp's HF→GGUF permute: w.reshape(nHead, 2, rows/nHead/2, cols).swapaxes(1, 2).reshape(rows, cols). */
function llamaCppPermute(w: Float32Array, rows: number, cols: number, nHead: number): Float32Array {
  const out = new Float32Array(w.length);
  const hd = rows / nHead, half = hd / 2;
  for (let h = 0; h < nHead; h++) for (let a = 0; a < 2; a++) for (let i = 0; i < half; i++) {
    // source (h, a, i) → destination (h, i, a)
    out.set(w.subarray((h * hd + a * half + i) * cols, (h * hd + a * half + i + 1) * cols), (h * hd + i * 2 + a) * cols);
  }
  return out;
}

/** A tiny random HF llama (GQA: 4 heads, 2 kv heads) written as GGUF the way convert_hf_to_gguf.py would. */
function tinyLlamaGguf(path: string, o: { tied?: boolean; arch?: string; extra?: GgufTensorToWrite[]; drop?: string; headCountKv?: number } = {}) {
  const hidden = 16, heads = 4, kv = o.headCountKv ?? 2, hd = 4, ffn = 24, vocab = 40, layers = 2;
  const hf = new Map<string, { shape: number[]; data: Float32Array }>();
  let seed = 100;
  const add = (name: string, shape: number[]) => hf.set(name, { shape, data: randn(shape.reduce((a, b) => a * b, 1), seed++) });
  add('model.embed_tokens.weight', [vocab, hidden]);
  add('model.norm.weight', [hidden]);
  if (!o.tied) add('lm_head.weight', [vocab, hidden]);
  for (let l = 0; l < layers; l++) {
    const p = `model.layers.${l}.`;
    add(`${p}self_attn.q_proj.weight`, [heads * hd, hidden]);
    add(`${p}self_attn.k_proj.weight`, [2 * hd, hidden]);
    add(`${p}self_attn.v_proj.weight`, [2 * hd, hidden]);
    add(`${p}self_attn.o_proj.weight`, [hidden, heads * hd]);
    add(`${p}mlp.gate_proj.weight`, [ffn, hidden]);
    add(`${p}mlp.up_proj.weight`, [ffn, hidden]);
    add(`${p}mlp.down_proj.weight`, [hidden, ffn]);
    add(`${p}input_layernorm.weight`, [hidden]);
    add(`${p}post_attention_layernorm.weight`, [hidden]);
  }
  const toGguf = (n: string) => n
    .replace('model.embed_tokens', 'token_embd').replace('model.norm', 'output_norm').replace('lm_head', 'output')
    .replace(/model\.layers\.(\d+)\./, 'blk.$1.').replace('self_attn.q_proj', 'attn_q').replace('self_attn.k_proj', 'attn_k')
    .replace('self_attn.v_proj', 'attn_v').replace('self_attn.o_proj', 'attn_output').replace('mlp.gate_proj', 'ffn_gate')
    .replace('mlp.up_proj', 'ffn_up').replace('mlp.down_proj', 'ffn_down').replace('post_attention_layernorm', 'ffn_norm').replace('input_layernorm', 'attn_norm');
  const tensors: GgufTensorToWrite[] = [];
  for (const [n, { shape, data }] of hf) {
    if (toGguf(n) === o.drop) continue;
    let d = data;
    if (n.endsWith('q_proj.weight')) d = llamaCppPermute(data, shape[0], shape[1], heads);
    if (n.endsWith('k_proj.weight')) d = llamaCppPermute(data, shape[0], shape[1], 2);
    tensors.push({ name: toGguf(n), dtype: 'f32', shape, data: d });
  }
  tensors.push(...(o.extra ?? []));
  writeGguf(path, [
    ['general.architecture', o.arch ?? 'llama'], ['llama.context_length', 128], ['llama.embedding_length', hidden], ['llama.block_count', layers],
    ['llama.feed_forward_length', ffn], ['llama.rope.dimension_count', hd], ['llama.attention.head_count', heads], ['llama.attention.head_count_kv', kv],
    ['llama.attention.layer_norm_rms_epsilon', 1e-6, 'f32'], ['llama.rope.freq_base', 500000, 'f32'], ['tokenizer.ggml.bos_token_id', 1], ['tokenizer.ggml.eos_token_id', 2],
  ], tensors);
  return hf;
}

test('ggufToHf undoes llama.cpp\'s q/k permutation: HF weights → llama.cpp permute → GGUF → ggufToHf gives them back exactly (GQA)', () => {
  for (const tied of [false, true]) {
    const path = join(tmp, `perm-${tied}.gguf`);
    const hf = tinyLlamaGguf(path, { tied });
    const { config, source } = ggufToHf(openGguf(path));
    try {
      assert.equal(config.num_key_value_heads, 2);
      assert.equal(config.rms_norm_eps, 1e-6);
      assert.equal(config.rope_theta, 500000);
      assert.equal(config.tie_word_embeddings, tied);
      assert.deepEqual(source.names().sort(), [...hf.keys()].sort());
      for (const [n, { shape, data }] of hf) {
        assert.deepEqual(source.info(n).shape, shape, n);
        assert.deepEqual(source.readF32(n), data, n);
      }
    } finally {
      source.close();
    }
  }
});

test('ggufToHf rejects other architectures, unmapped and missing tensors, and shapes that disagree with the metadata', () => {
  const arch = join(tmp, 'arch.gguf');
  tinyLlamaGguf(arch, { arch: 'gpt2' });
  const f1 = openGguf(arch);
  assert.throws(() => ggufToHf(f1), (e: unknown) => e instanceof ConfigError && e.code === 'unknown_architecture' && e.message.includes('gpt2'));
  f1.close();
  const extra = join(tmp, 'extra.gguf');
  tinyLlamaGguf(extra, { extra: [{ name: 'rope_freqs.weight', dtype: 'f32', shape: [2], data: new Float32Array(2) }] });
  const f2 = openGguf(extra);
  assert.throws(() => ggufToHf(f2), (e: unknown) => e instanceof ConfigError && e.code === 'unsupported' && e.message.includes('rope_freqs.weight'));
  f2.close();
  const drop = join(tmp, 'drop.gguf');
  tinyLlamaGguf(drop, { drop: 'blk.1.ffn_up.weight' });
  const f3 = openGguf(drop);
  expectFormatError(() => ggufToHf(f3), 'missing_tensor', 'blk.1.ffn_up.weight');
  f3.close();
  const kv = join(tmp, 'kv.gguf');
  tinyLlamaGguf(kv, { headCountKv: 1 });
  const f4 = openGguf(kv);
  expectFormatError(() => ggufToHf(f4), 'shape_size_mismatch', 'blk.0.attn_k.weight', '[4,16]');
  f4.close();
});

test('ggml types rrt cannot decode are listed by info() and read() names them with the types it reads; an unknown type id fails at open', () => {
  const path = craft('q8k.gguf', { tensors: [{ name: 'w', ne: [256, 2], type: 15, offset: 0 }, f32Tensor('n', 4, 608)], data: 624 });
  const f = openGguf(path);
  const info = f.info('w');
  assert.equal(info.ggmlType, 'Q8_K');
  assert.equal(info.dtype, 'u8', 'listed as raw blocks');
  assert.deepEqual(info.shape, [2, 256]);
  assert.equal(info.byteLength, 584);
  const readable = 'rrt reads F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, I8, I16, I32, I64, F64, BF16';
  expectFormatError(() => f.read('w'), 'unknown_dtype', 'Q8_K', "'w'", readable);
  expectFormatError(() => f.readF32('w'), 'unknown_dtype', 'Q8_K');
  assert.equal(f.readRaw('w').length, 584, 'the raw bytes of any type can still be read');
  assert.equal(f.readF32('n').length, 4);
  assert.deepEqual(ggufTypeSummary(f), [{ type: 'F32', tensors: 1, load: 'as stored' }, { type: 'Q8_K', tensors: 1, load: 'not readable' }]);
  f.close();
  expectFormatError(() => openGguf(craft('t99.gguf', { tensors: [{ name: 'w', ne: [4], type: 99, offset: 0 }], data: 32 })), 'unknown_dtype', 'type id 99', "'w'");
});

test('load policy: Q8_0 and Q4_0 stay quantized, the other block types are dequantised to bf16, float types load as stored', () => {
  assert.equal(ggmlLoadForm('Q8_0'), 'kept quantized');
  assert.equal(ggmlLoadForm('Q4_0'), 'kept quantized');
  for (const t of ['Q4_1', 'Q5_0', 'Q5_1', 'Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K']) assert.equal(ggmlLoadForm(t), 'dequantized to bf16', t);
  for (const t of ['F32', 'F16', 'BF16', 'I32']) assert.equal(ggmlLoadForm(t), 'as stored', t);
  for (const t of ['Q8_1', 'Q8_K', 'IQ4_XS', 'MXFP4', 'nonsense']) assert.equal(ggmlLoadForm(t), 'not readable', t);
});

test('a version 2 file reads like version 3', () => {
  const path = craft('v2.gguf', { version: 2, kv: (b) => { b.str('general.name').u32(8).str('v2'); return 1; }, tensors: [f32Tensor('x', 3)], data: 32 });
  const f = openGguf(path);
  assert.equal(f.version, 2);
  assert.equal(f.metadata.get('general.name'), 'v2');
  assert.deepEqual(f.readF32('x'), new Float32Array(3));
  f.close();
});

test('malformed GGUF headers each throw FormatError with the matching code and the numbers', () => {
  const short = join(tmp, 'short.gguf');
  writeFileSync(short, 'GG');
  expectFormatError(() => openGguf(short), 'truncated', '2 bytes');
  expectFormatError(() => openGguf(craft('magic.gguf', { magic: 'GGML' })), 'bad_magic', "'GGML'");
  expectFormatError(() => openGguf(craft('v4.gguf', { version: 4 })), 'bad_version', 'GGUF version 4; rrt reads versions 2–3');
  expectFormatError(() => openGguf(craft('v1.gguf', { version: 1 })), 'bad_version', 'version 1');
  expectFormatError(() => openGguf(craft('be.gguf', { version: 0x03000000 })), 'bad_version', 'big-endian');
  expectFormatError(() => openGguf(craft('cut.gguf', { kv: (b) => { b.str('general.name').u32(8); return 1; } })), 'truncated', "'general.name'");
  expectFormatError(() => openGguf(craft('vt.gguf', { kv: (b) => { b.str('k').u32(13).u32(0); return 1; } })), 'bad_header', 'value type 13');
  expectFormatError(() => openGguf(craft('nest.gguf', { kv: (b) => { b.str('k').u32(9).u32(9).u64(1); return 1; } })), 'bad_header', 'nested');
  expectFormatError(() => openGguf(craft('dup.gguf', { kv: (b) => { b.str('k').u32(4).u32(1).str('k').u32(4).u32(2); return 2; } })), 'bad_header', "'k' appears twice");
  const align = (v: number, t = 4) => (b: B) => { b.str('general.alignment').u32(t); if (t === 4) b.u32(v); else b.u64(v); return 1; };
  expectFormatError(() => openGguf(craft('al3.gguf', { kv: align(48) })), 'bad_header', 'power of two');
  expectFormatError(() => openGguf(craft('al0.gguf', { kv: align(0) })), 'bad_header', 'power of two');
  expectFormatError(() => openGguf(craft('al64.gguf', { kv: align(64, 10) })), 'bad_header', 'u32');
  expectFormatError(() => openGguf(craft('dims.gguf', { tensors: [{ name: 'w', ne: [1, 1, 1, 1, 1], type: 0, offset: 0 }], data: 32 })), 'bad_header', '5 dimensions');
  expectFormatError(() => openGguf(craft('blk.gguf', { tensors: [{ name: 'w', ne: [33, 2], type: 8, offset: 0 }], data: 128 })), 'shape_size_mismatch', 'block size 32');
  expectFormatError(() => openGguf(craft('mis.gguf', { tensors: [f32Tensor('w', 4, 4)], data: 64 })), 'offset_out_of_range', 'alignment');
  expectFormatError(() => openGguf(craft('past.gguf', { tensors: [f32Tensor('w', 64)], data: 32 })), 'offset_out_of_range', "'w'", 'past the end');
  expectFormatError(() => openGguf(craft('ovl.gguf', { tensors: [f32Tensor('a', 16), f32Tensor('b', 8, 32)], data: 96 })), 'overlapping_tensors', "'a'", "'b'");
  expectFormatError(() => openGguf(craft('dupt.gguf', { tensors: [f32Tensor('a', 8), f32Tensor('a', 8, 32)], data: 64 })), 'bad_header', "'a' appears twice");
  expectFormatError(() => openGguf(craft('big-ne.gguf', { tensors: [{ name: 'w', ne: [2 ** 40, 2 ** 20], type: 0, offset: 0 }], data: 32 })), 'bad_header', '2^53');
  expectFormatError(() => openGguf(join(tmp, 'nope.gguf')), 'not_found');
});

test('huge counts, string lengths and array lengths fail at once, without allocating or looping', () => {
  const t0 = performance.now();
  expectFormatError(() => openGguf(craft('nkv.gguf', { nKv: 2n ** 62n })), 'truncated', 'key/value pairs');
  expectFormatError(() => openGguf(craft('nt.gguf', { nTensors: 2n ** 64n - 1n })), 'truncated', 'tensors');
  expectFormatError(() => openGguf(craft('slen.gguf', { kv: (b) => { b.u64(2n ** 63n); return 1; }, data: 64 })), 'bad_header', 'string length');
  expectFormatError(() => openGguf(craft('slen2.gguf', { kv: (b) => { b.str('k').u32(8).u64(1e7); return 1; } })), 'truncated', "'k'");
  expectFormatError(() => openGguf(craft('alen.gguf', { kv: (b) => { b.str('k').u32(9).u32(8).u64(2n ** 40n); return 1; }, data: 64 })), 'bad_header', 'elements');
  expectFormatError(() => openGguf(craft('alen2.gguf', { kv: (b) => { b.str('k').u32(9).u32(8).u64(1e6); return 1; } })), 'truncated', "'k'");
  assert.ok(performance.now() - t0 < 1000, `took ${performance.now() - t0} ms`);
});

test('writeGguf checks its arguments (types, ranges, names, q8_0 rows) and leaves no temp file on failure', () => {
  const path = join(tmp, 'bad-args.gguf');
  const t = (o: Partial<GgufTensorToWrite> = {}): GgufTensorToWrite => ({ name: 'w', dtype: 'f32', shape: [2], data: new Float32Array(2), ...o });
  assert.throws(() => writeGguf(path, [['k', 300, 'u8']], []), /300 is not a u8/);
  assert.throws(() => writeGguf(path, [['k', 'x', 'u32']], []), TypeError);
  assert.throws(() => writeGguf(path, [['k', [[1]] as unknown as GgufValue, 'i32']], []), /nested/);
  assert.throws(() => writeGguf(path, [['k', 1], ['k', 2]], []), /twice/);
  assert.throws(() => writeGguf(path, [['general.alignment', 48]], []), /power of two/);
  assert.throws(() => writeGguf(path, [], [t({ name: 'x'.repeat(64) })]), /names must be/);
  assert.throws(() => writeGguf(path, [], [t({ dtype: 'q8_0', shape: [2, 33], data: new Float32Array(66) })]), /multiple of 32/);
  assert.throws(() => writeGguf(path, [], [t({ data: new Float32Array(3) })]), /3 values, expected \[2\] = 2/);
  assert.throws(() => writeGguf(path, [], [t({ dtype: 'q8_0', shape: [32], data: new Uint16Array(32) })]), TypeError);
  assert.throws(() => writeGguf(path, [], [t(), t()]), /twice/);
  assert.throws(() => writeGguf(path, [], [t({ shape: [] , data: new Float32Array(1) })]), /1–4/);
  assert.deepEqual(readdirSync(tmp).filter((n) => n.startsWith('bad-args')), []);
});
