// Fuzzing the three readers: truncations at every offset, bit flips across every header byte,
// garbled safetensors JSON, and random junk. A case passes if it throws a FormatError (the
// GGUF→HF mapping may also throw ConfigError) or, when the damage left a well-formed file,
// opens and reads every tensor. Any other exception, or a hang, fails.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, FormatError } from '../../src/errors.js';
import { ggufToHf, openGguf, writeGguf } from '../../src/formats/gguf.js';
import { openLlama2c } from '../../src/formats/llama2c.js';
import { openSafetensors, writeSafetensors } from '../../src/formats/safetensors.js';
import type { TensorSource } from '../../src/formats/tensor-source.js';
import { randn, rng } from '../helpers.js';

// thousands of small files: use RAM-backed /dev/shm where there is one
const tmp = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'rrt-fuzz-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const casePath = join(tmp, 'case');

type Outcome = 'ok' | string;
/** Opens `bytes` with `open`, reads every tensor; returns 'ok' or the FormatError/ConfigError code, fails on anything else. */
function attempt(bytes: Uint8Array, open: (p: string) => TensorSource, label: string, extra?: (s: TensorSource) => void): Outcome {
  writeFileSync(casePath, bytes);
  let src: TensorSource | null = null;
  try {
    src = open(casePath);
    for (const n of src.names()) src.readF32(n);
    extra?.(src);
    return 'ok';
  } catch (e) {
    if (e instanceof FormatError) return e.code;
    if (e instanceof ConfigError && extra) return `config:${e.code}`;
    throw new assert.AssertionError({ message: `${label}: expected a FormatError, got ${e instanceof Error ? `${e.name}: ${e.message}\n${e.stack}` : String(e)}` });
  } finally {
    src?.close();
  }
}

function tally(outcomes: Outcome[]): Record<string, number> {
  const t: Record<string, number> = {};
  for (const o of outcomes) t[o] = (t[o] ?? 0) + 1;
  return t;
}

const MASKS = [0x01, 0x80, 0xff];

function flips(bytes: Buffer, positions: Iterable<number>, open: (p: string) => TensorSource, label: string, extra?: (s: TensorSource) => void, masks = MASKS): Outcome[] {
  const out: Outcome[] = [];
  for (const i of positions) {
    for (const m of masks) {
      const b = Buffer.from(bytes);
      b[i] ^= m;
      out.push(attempt(b, open, `${label} byte ${i} ^ 0x${m.toString(16)}`, extra));
    }
  }
  return out;
}

const range = (a: number, b: number) => Array.from({ length: Math.max(0, b - a) }, (_, i) => a + i);

test('safetensors: every truncation throws FormatError; header bit flips and garbled JSON never escape as another error', { timeout: 30000 }, () => {
  const base = join(tmp, 'base.safetensors');
  writeSafetensors(base, [
    { name: 'a', dtype: 'f32', shape: [3, 4], data: randn(12, 1) },
    { name: 'b', dtype: 'bf16', shape: [5], data: randn(5, 2) },
    { name: 'c', dtype: 'i64', shape: [2], data: BigInt64Array.of(1n, -2n) },
    { name: 'd', dtype: 'f16', shape: [1, 3], data: randn(3, 3) },
  ], { format: 'pt' });
  const bytes = readFileSync(base);
  const headerEnd = 8 + Number(bytes.readBigUInt64LE(0));
  for (let cut = 0; cut < bytes.length; cut += cut < headerEnd + 8 ? 1 : 5) {
    const o = attempt(bytes.subarray(0, cut), openSafetensors, `cut at ${cut}`);
    assert.notEqual(o, 'ok', `a file cut to ${cut} of ${bytes.length} bytes must not load`);
  }
  const flipped = flips(bytes, range(0, headerEnd), openSafetensors, 'safetensors');
  assert.ok(flipped.filter((o) => o !== 'ok').length > flipped.length / 2, `most header flips should be caught: ${JSON.stringify(tally(flipped))}`);

  // structural edits of the JSON text, with the length prefix kept consistent
  const text = bytes.subarray(8, headerEnd).toString('utf8');
  const rebuild = (t: string) => {
    const h = Buffer.from(t, 'utf8');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(h.length));
    return Buffer.concat([len, h, bytes.subarray(headerEnd)]);
  };
  const numbers = [...text.matchAll(/\d+/g)];
  const swaps = ['-1', '1e400', '1.5', '9007199254740993', 'null', '"3"', '[]', '{}', '0', '99999999999'];
  const garbled: Outcome[] = [];
  for (const m of numbers) for (const s of swaps) garbled.push(attempt(rebuild(text.slice(0, m.index) + s + text.slice(m.index! + m[0].length)), openSafetensors, `number ${m.index} → ${s}`));
  const r = rng(5);
  for (let i = 0; i < 120; i++) {
    const at = Math.floor(r() * text.length);
    const edits = [
      text.slice(0, at) + text.slice(at + 1),
      text.slice(0, at) + '{' + text.slice(at),
      text.slice(0, at) + '"' + text.slice(at),
      text.slice(0, at) + ',"x":' + text.slice(at),
      text.slice(0, at),
    ];
    for (const e of edits) garbled.push(attempt(rebuild(e), openSafetensors, `edit at ${at}: ${e.slice(Math.max(0, at - 10), at + 10)}`));
  }
  for (const s of ['"dtype":"F32"', '"dtype":"F8_E5M2"', '"shape":[]', '"data_offsets":[0,0]']) {
    garbled.push(attempt(rebuild(text.replace(/"dtype":"[A-Z0-9]+"/, s)), openSafetensors, `replace with ${s}`));
  }
  assert.ok(garbled.filter((o) => o !== 'ok').length > garbled.length / 2, JSON.stringify(tally(garbled)));

  // a real checkpoint cut inside its header and data
  const llama = readFileSync(new URL('../../fixtures/hf/llama/model.safetensors', import.meta.url));
  for (const cut of [...range(0, 16), 100, 5000, 5895, 5896, 5897, 10000, 500000, llama.length - 1]) {
    assert.notEqual(attempt(llama.subarray(0, cut), openSafetensors, `llama cut at ${cut}`), 'ok');
  }
});

test('GGUF: truncations throw FormatError, header bit flips (own file and the fixture) and junk never escape as another error', { timeout: 30000 }, () => {
  const base = join(tmp, 'base.gguf');
  const hidden = 32, heads = 2, ffn = 64, vocab = 8;
  writeGguf(base, [
    ['general.architecture', 'llama'], ['llama.context_length', 64], ['llama.embedding_length', hidden], ['llama.block_count', 1],
    ['llama.feed_forward_length', ffn], ['llama.attention.head_count', heads], ['llama.attention.layer_norm_rms_epsilon', 1e-5, 'f32'],
    ['tokenizer.ggml.tokens', ['<unk>', '<s>', '</s>', 'a', 'b', 'c', 'd', 'e']], ['tokenizer.ggml.scores', [0, 0, 0, -1, -2, -3, -4, -5], 'f32'],
  ], [
    { name: 'token_embd.weight', dtype: 'q8_0', shape: [vocab, hidden], data: randn(vocab * hidden, 1) },
    { name: 'output_norm.weight', dtype: 'f32', shape: [hidden], data: randn(hidden, 2) },
    ...['attn_q', 'attn_k', 'attn_v', 'attn_output'].map((n, i) => ({ name: `blk.0.${n}.weight`, dtype: 'f16' as const, shape: [hidden, hidden], data: randn(hidden * hidden, 3 + i) })),
    { name: 'blk.0.ffn_gate.weight', dtype: 'bf16', shape: [ffn, hidden], data: randn(ffn * hidden, 8) },
    { name: 'blk.0.ffn_up.weight', dtype: 'f32', shape: [ffn, hidden], data: randn(ffn * hidden, 9) },
    { name: 'blk.0.ffn_down.weight', dtype: 'f32', shape: [hidden, ffn], data: randn(ffn * hidden, 10) },
    { name: 'blk.0.attn_norm.weight', dtype: 'f32', shape: [hidden], data: randn(hidden, 11) },
    { name: 'blk.0.ffn_norm.weight', dtype: 'f32', shape: [hidden], data: randn(hidden, 12) },
  ]);
  const bytes = readFileSync(base);
  const mapped = (s: TensorSource) => {
    const { source } = ggufToHf(s as ReturnType<typeof openGguf>);
    for (const n of source.names()) source.readF32(n);
  };
  const f = openGguf(base);
  const dataStart = f.dataOffset;
  f.close();
  let loadedCuts = 0;
  for (let cut = 0; cut < bytes.length; cut += cut < 64 ? 1 : cut < dataStart + 64 ? 7 : 97) {
    if (attempt(bytes.subarray(0, cut), openGguf, `cut at ${cut}`, mapped) === 'ok') loadedCuts++;
  }
  assert.equal(loadedCuts, 0, 'no truncated copy loads (the last tensor needs no padding here)');
  const header = flips(bytes, range(0, dataStart), openGguf, 'gguf', mapped, [0x01, 0xff]);
  assert.ok(header.filter((o) => o !== 'ok').length > header.length / 4, JSON.stringify(tally(header)));

  const fixture = readFileSync(new URL('../../fixtures/gguf/llama-2-tiny-random.gguf', import.meta.url));
  const fx = openGguf(new URL('../../fixtures/gguf/llama-2-tiny-random.gguf', import.meta.url).pathname);
  const fxData = fx.dataOffset;
  fx.close();
  for (const cut of [0, 3, 4, 7, 8, 15, 23, 24, 40, 1000, 300000, fxData - 10, fxData + 1000, fixture.length - 1]) {
    assert.notEqual(attempt(fixture.subarray(0, cut), openGguf, `fixture cut at ${cut}`), 'ok', `fixture cut at ${cut}`);
  }
  // each open of the fixture parses its 32000-token vocabulary, so flip only the counts and the last tensor infos, once each
  const fixtureFlips = flips(fixture, [...range(0, 24), ...range(fxData - 100, fxData - 60)], openGguf, 'fixture', undefined, [0xff]);
  assert.ok(fixtureFlips.some((o) => o !== 'ok'));

  const r = rng(11);
  for (let n = 0; n < 200; n++) {
    const junk = Buffer.from(Uint8Array.from({ length: Math.floor(r() * 200) }, () => Math.floor(r() * 256)));
    if (n % 2 === 0 && junk.length >= 8) { junk.write('GGUF', 0, 'latin1'); junk.writeUInt32LE(3, 4); }
    assert.notEqual(attempt(junk, openGguf, `junk ${n}`), 'ok');
  }
});

test('GGUF block types: truncations, header bit flips and retyped tensors (byte ranges the wrong size for their type) throw FormatError, never another error', { timeout: 30000 }, () => {
  const path = new URL('../../fixtures/ggml-quants/all-types.gguf', import.meta.url).pathname;
  const bytes = readFileSync(path);
  const f = openGguf(path);
  const dataStart = f.dataOffset;
  const names = f.names();
  f.close();
  assert.equal(attempt(bytes, openGguf, 'intact'), 'ok');
  // gguf-py pads the last tensor to the 32-byte alignment too: cut below that padding
  for (let cut = 0; cut < bytes.length - 32; cut += cut < dataStart ? 3 : 41) {
    assert.notEqual(attempt(bytes.subarray(0, cut), openGguf, `cut at ${cut}`), 'ok', `a file cut to ${cut} of ${bytes.length} bytes must not load`);
  }
  const header = flips(bytes, range(0, dataStart), openGguf, 'quant gguf', undefined, [0x01, 0xff]);
  assert.ok(header.filter((o) => o !== 'ok').length > header.length / 4, JSON.stringify(tally(header)));

  // every tensor's ggml type replaced by every type id: its byte range no longer fits (or fits by
  // coincidence, e.g. 2 × 16 Q4_0 blocks = 2 × 2 Q4_K blocks = 576 bytes, and then it simply reads)
  const retyped: Outcome[] = [];
  for (const name of names) {
    const at = bytes.indexOf(Buffer.concat([Buffer.from([name.length, 0, 0, 0, 0, 0, 0, 0]), Buffer.from(name)]));
    const typeAt = at + 8 + name.length + 4 + 2 * 8; // name, n_dims, ne[2], then the type
    assert.equal(bytes.readUInt32LE(at + 8 + name.length), 2, name);
    for (let id = 0; id < 42; id++) {
      const b = Buffer.from(bytes);
      b.writeUInt32LE(id, typeAt);
      retyped.push(attempt(b, openGguf, `${name} as type ${id}`));
    }
  }
  const t = tally(retyped);
  assert.ok(t.ok > names.length && (t.offset_out_of_range ?? 0) + (t.overlapping_tensors ?? 0) > names.length, JSON.stringify(t));

  // a llama file mixing the types, cut and mapped to HF names
  const llamaPath = new URL('../../fixtures/ggml-quants/tiny-llama-mixed.gguf', import.meta.url).pathname;
  const llama = readFileSync(llamaPath);
  const mapped = (s: TensorSource) => {
    const { source } = ggufToHf(s as ReturnType<typeof openGguf>);
    for (const n of source.names()) source.readRaw!(n);
  };
  assert.equal(attempt(llama, openGguf, 'llama intact', mapped), 'ok');
  for (let cut = 0; cut < llama.length - 32; cut += 997) assert.notEqual(attempt(llama.subarray(0, cut), openGguf, `llama cut at ${cut}`, mapped), 'ok');
});

test('llama2.c: every truncation and every extension throws FormatError; header bit flips never escape as another error', { timeout: 30000 }, () => {
  const dim = 16, hidden = 8, L = 1, heads = 2, kvHeads = 1, vocab = 6, seq = 4;
  const hd = dim / heads;
  const floats = vocab * dim + L * dim + L * dim * dim + 2 * L * hd * kvHeads * dim + L * dim * dim + L * dim + 3 * L * dim * hidden + dim + seq * hd;
  const header = Buffer.alloc(28);
  [dim, hidden, L, heads, kvHeads, vocab, seq].forEach((v, i) => header.writeInt32LE(v, 4 * i));
  const bytes = Buffer.concat([header, Buffer.from(randn(floats, 1).buffer)]);
  assert.equal(attempt(bytes, (p) => openLlama2c(p).source, 'intact'), 'ok');
  for (let cut = 0; cut < bytes.length; cut += cut < 64 ? 1 : 13) {
    assert.notEqual(attempt(bytes.subarray(0, cut), (p) => openLlama2c(p).source, `cut at ${cut}`), 'ok');
  }
  for (const extra of [1, 4, 100, vocab * dim * 4]) {
    assert.notEqual(attempt(Buffer.concat([bytes, Buffer.alloc(extra)]), (p) => openLlama2c(p).source, `+${extra} bytes`), 'ok');
  }
  const outcomes: Outcome[] = [];
  for (let i = 0; i < 28; i++) {
    for (let bit = 0; bit < 8; bit++) {
      const b = Buffer.from(bytes);
      b[i] ^= 1 << bit;
      outcomes.push(attempt(b, (p) => openLlama2c(p).source, `byte ${i} bit ${bit}`));
    }
  }
  // a sign flip of vocab_size (bit 7 of byte 23) can only be caught by the size check; most flips must be
  assert.ok(outcomes.filter((o) => o !== 'ok').length >= outcomes.length - 8, JSON.stringify(tally(outcomes)));
});
