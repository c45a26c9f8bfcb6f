// ggml block dequantisation against an independent implementation: llama.cpp's gguf-py
// (fixtures/ggml-quants/, made by scripts/fixtures/make_ggml_quant_fixtures.py) dequantised the
// same blocks in numpy; rrt must give the same f32 values bit for bit (every product in these
// formats is exact in f32 and the one sum is rounded once either way, so no tolerance is
// needed). Also: wrong lengths are refused, a GGUF file gguf-py wrote reads through the
// TensorSource API, readRaw returns the file's bytes, and a llama model mixing the types loads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GGML_BLOCK_TYPES, blockByteLength, blockLayout, dequantize } from '../../src/formats/ggml-quants.js';
import { ggufToHf, openGguf } from '../../src/formats/gguf.js';
import { type DType, FileTensorSource, arrayTypeFor, dtypeByteLength, dtypeSize, interleavedToHalfSplit } from '../../src/formats/tensor-source.js';
import { loadModel } from '../../src/models/load.js';
import { expectFormatError } from '../helpers.js';

const DIR = new URL('../../fixtures/ggml-quants/', import.meta.url).pathname;
interface FixtureType { ggml_type: string; ggml_type_id: number; block: number; block_bytes: number; blocks: string; values: string }
const index = JSON.parse(readFileSync(join(DIR, 'index.json'), 'utf8')) as {
  rows: number; cols: number; types: Record<string, FixtureType>; tiny_llama: { file: string; tensors_by_type: Record<string, number> };
};

function fixture(t: string): { blocks: Uint8Array; values: Float32Array } {
  const blocks = new Uint8Array(readFileSync(join(DIR, index.types[t].blocks)));
  const v = readFileSync(join(DIR, index.types[t].values));
  return { blocks, values: new Float32Array(v.buffer.slice(v.byteOffset, v.byteOffset + v.length)) };
}

/** Index of the first value whose f32 bit pattern differs (so -0 vs +0 counts), or -1. */
function firstBitDifference(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length), ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return i;
  return -1;
}

test('the fixtures cover every block type rrt decodes', () => {
  assert.deepEqual(Object.keys(index.types).sort(), [...GGML_BLOCK_TYPES].sort());
});

for (const t of GGML_BLOCK_TYPES) {
  test(`${t}: dequantize equals gguf-py's values bit for bit`, () => {
    const { blocks, values } = fixture(t);
    const n = index.rows * index.cols;
    assert.equal(values.length, n);
    // a fixture of zeros would prove nothing
    assert.ok(new Set(values).size > n / 8, `${t} fixture has ${new Set(values).size} distinct values`);
    const got = dequantize(t, blocks, n);
    const i = firstBitDifference(got, values);
    assert.equal(i, -1, i < 0 ? '' : `${t} value ${i} (block ${Math.floor(i / index.types[t].block)}): rrt ${got[i]}, gguf-py ${values[i]}`);
    // ggml's uppercase name works too, and each row decodes on its own
    assert.equal(firstBitDifference(dequantize(index.types[t].ggml_type, blocks, n), values), -1);
    const rowBytes = blocks.length / index.rows;
    const row1 = dequantize(t, blocks.subarray(rowBytes, 2 * rowBytes), index.cols);
    assert.equal(firstBitDifference(row1, values.subarray(index.cols, 2 * index.cols)), -1);
  });
}

test('block sizes agree with gguf-py (GGML_QUANT_SIZES), and the dtype helpers know every block type', () => {
  for (const t of GGML_BLOCK_TYPES) {
    const { block, block_bytes } = index.types[t];
    assert.deepEqual(blockLayout(t), { block, bytes: block_bytes }, t);
    assert.equal(blockByteLength(t, 3 * block), 3 * block_bytes);
    assert.equal(dtypeByteLength(t as DType, 2 * block), 2 * block_bytes);
    assert.equal(dtypeSize(t as DType), block_bytes / block);
    assert.equal(arrayTypeFor(t as DType), 'Float32Array', 'block types are held dequantised');
    assert.throws(() => dtypeByteLength(t as DType, block + 1), RangeError);
  }
});

test('wrong lengths, counts and type names are refused with an error that says what was expected', () => {
  const ok = new Uint8Array(2 * 144);
  assert.equal(dequantize('q4_k', ok, 512).length, 512);
  assert.throws(() => dequantize('q4_k', ok.subarray(1), 512), { name: 'RangeError', message: /q4_k: 512 values are 2 blocks of 144 bytes = 288 bytes, got 287$/ });
  assert.throws(() => dequantize('q4_k', new Uint8Array(289), 512), { name: 'RangeError', message: /288 bytes, got 289$/ });
  assert.throws(() => dequantize('q4_k', ok, 300), { name: 'RangeError', message: /whole blocks of 256 values; 300 values/ });
  assert.throws(() => dequantize('q4_0', new Uint8Array(18), 16), { name: 'RangeError', message: /whole blocks of 32/ });
  for (const n of [-32, 32.5, NaN, Infinity]) assert.throws(() => dequantize('q8_0', new Uint8Array(34), n), RangeError, String(n));
  assert.throws(() => dequantize('q8_1', new Uint8Array(36), 32), { name: 'RangeError', message: /'q8_1' is not a ggml block type rrt decodes \(q4_0, q4_1, .*q6_k\)/ });
  assert.throws(() => dequantize('f32', new Uint8Array(4), 1), RangeError);
  assert.throws(() => dequantize('q8_0', new Array(34).fill(0) as unknown as Uint8Array, 32), { name: 'TypeError', message: /must be a Uint8Array, got Array/ });
  assert.equal(dequantize('q6_k', new Uint8Array(0), 0).length, 0, 'zero values are zero blocks');
});

test('a GGUF file written by gguf-py (one tensor per block type) reads through the TensorSource API; readRaw is the file\'s bytes', () => {
  const path = join(DIR, 'all-types.gguf');
  const f = openGguf(path);
  const file = readFileSync(path);
  try {
    assert.deepEqual(f.names().sort(), [...GGML_BLOCK_TYPES].sort());
    for (const t of GGML_BLOCK_TYPES) {
      const { blocks, values } = fixture(t);
      const info = f.info(t);
      assert.equal(info.dtype, t);
      assert.equal(info.ggmlType, index.types[t].ggml_type);
      assert.deepEqual(info.shape, [index.rows, index.cols]);
      assert.equal(info.byteLength, blocks.length);
      const r = f.read(t);
      assert.equal(r.dtype, 'f32', 'block types come back dequantised');
      assert.deepEqual(r.shape, [index.rows, index.cols]);
      assert.ok(r.data instanceof Float32Array);
      assert.equal(firstBitDifference(r.data, values), -1, `${t} read()`);
      assert.equal(firstBitDifference(f.readF32(t), values), -1, `${t} readF32()`);

      const raw = f.readRaw(t);
      assert.deepEqual(raw, blocks, `${t} readRaw()`);
      assert.equal(raw.byteOffset, 0, 'a fresh buffer of its own');
      assert.equal(raw.buffer.byteLength, raw.length);
      assert.ok(file.indexOf(raw) >= f.dataOffset, 'the bytes lie in the data section');
      raw.fill(0); // a caller may scribble on its copy
      assert.deepEqual(f.readRaw(t), blocks);
    }
  } finally {
    f.close();
  }
});

test('a byte range that does not hold the shape\'s blocks is a FormatError when read, not a crash', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'rrt-quants-'));
  try {
    const path = join(tmp, 'blocks.bin');
    writeFileSync(path, new Uint8Array(1000));
    const fd = openSync(path, 'r');
    // a reader that got a tensor's size wrong (143 bytes for one 256-value q4_k block)
    const src = new FileTensorSource(path, fd, new Map([
      ['short', { info: { name: 'short', dtype: 'q4_k' as DType, shape: [256], byteLength: 143 }, offset: 0 }],
      ['ok', { info: { name: 'ok', dtype: 'q8_0' as DType, shape: [2, 32], byteLength: 68 }, offset: 200 }],
    ]));
    expectFormatError(() => src.read('short'), 'shape_size_mismatch', "'short'", 'q4_k', '= 144 bytes, got 143');
    expectFormatError(() => src.readF32('short'), 'shape_size_mismatch');
    assert.deepEqual(src.readF32('ok'), new Float32Array(64));
    src.close();
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('a llama GGUF mixing the types (as Q4_K_M-style files do) maps to HF names and loads; the HF view\'s readRaw reorders q/k rows like read()', () => {
  const path = join(DIR, index.tiny_llama.file);
  const f = openGguf(path);
  const { source } = ggufToHf(f);
  try {
    const byType: Record<string, number> = {};
    for (const g of f.names()) byType[f.info(g).ggmlType] = (byType[f.info(g).ggmlType] ?? 0) + 1;
    assert.deepEqual(byType, index.tiny_llama.tensors_by_type);
    let checked = 0;
    for (const name of source.names()) {
      const { dtype, shape } = source.info(name);
      const raw = source.readRaw!(name);
      const values = source.readF32(name);
      assert.equal(values.length, shape.reduce((a, b) => a * b, 1));
      if (dtype === 'f32') continue;
      // the HF view's raw rows dequantise to exactly what its read() returns (q/k rows un-permuted)
      assert.equal(firstBitDifference(dequantize(dtype, raw, values.length), values), -1, name);
      if (/self_attn\.[qk]_proj/.test(name)) {
        const gguf = name.replace(/model\.layers\.(\d+)\.self_attn\.(q|k)_proj\.weight/, 'blk.$1.attn_$2.weight');
        const fileRaw = f.readRaw(gguf);
        assert.notDeepEqual(raw, fileRaw, `${name}: rows are reordered`);
        const heads = name.includes('q_proj') ? 4 : 2;
        assert.deepEqual(raw, interleavedToHalfSplit(fileRaw, shape[0], fileRaw.length / shape[0], heads));
      }
      checked++;
    }
    assert.equal(checked, Object.entries(index.tiny_llama.tensors_by_type).reduce((n, [t, k]) => n + (t === 'F32' ? 0 : k), 0));
  } finally {
    source.close();
  }
  const m = loadModel(path, { hugePages: false });
  assert.deepEqual(m.storedDtypes, Object.fromEntries(Object.entries(index.tiny_llama.tensors_by_type).map(([t, n]) => [t.toLowerCase(), n])));
  assert.equal(m.config.hidden, 64);
});
