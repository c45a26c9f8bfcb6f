// Safetensors reader and writers: every fixtures/hf checkpoint reads with the parameter
// counts transformers reported, values match a plain DataView decode, writes round-trip,
// the streaming writer is atomic, and each malformed header gets its own FormatError code.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FormatError, RrtError } from '../../src/errors.js';
import { SafetensorsWriter, openCheckpointDir, openSafetensors, writeSafetensors } from '../../src/formats/safetensors.js';
import {
  type DType, type TensorData, bf16ToF32, f16ToF32, f32ToBf16, f32ToF16, shapeNumel,
} from '../../src/formats/tensor-source.js';
import { randn, rng, expectFormatError } from '../helpers.js';

const HF = new URL('../../fixtures/hf/', import.meta.url).pathname;
const versions = JSON.parse(readFileSync(join(HF, 'versions.json'), 'utf8')) as Record<string, { params: number }>;
/** variants that versions.json does not list carry their base model's weights */
const BASE: Record<string, string> = { 'llama-bf16': 'llama', 'llama-sharded': 'llama', 'gemma-bf16': 'gemma' };
const CHECKPOINTS = readdirSync(HF).filter((d) => !d.endsWith('.json')).sort();

const tmp = mkdtempSync(join(tmpdir(), 'rrt-st-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Independent decode: header JSON and single elements via DataView, straight from the file bytes. */
function rawFile(path: string) {
  const buf = readFileSync(path);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const scratch = new DataView(new ArrayBuffer(4));
  const value = (name: string, i: number): number => {
    const e = header[name];
    const at = 8 + n + e.data_offsets[0];
    switch (e.dtype) {
      case 'F32': return dv.getFloat32(at + 4 * i, true);
      case 'BF16': scratch.setUint32(0, dv.getUint16(at + 2 * i, true) * 65536); return scratch.getFloat32(0);
      case 'I32': return dv.getInt32(at + 4 * i, true);
      default: throw new Error(`test decode does not handle ${e.dtype}`);
    }
  };
  return { header, value, headerLength: n };
}


/** A raw safetensors file from a header object (or raw header text) and a data byte count. */
function craft(name: string, header: unknown, dataBytes: number, raw?: string | Buffer): string {
  const h = Buffer.isBuffer(raw) ? raw : Buffer.from(raw ?? JSON.stringify(header), 'utf8');
  const buf = Buffer.alloc(8 + h.length + dataBytes);
  buf.writeBigUInt64LE(BigInt(h.length), 0);
  h.copy(buf, 8);
  const path = join(tmp, name);
  writeFileSync(path, buf);
  return path;
}

test('every fixtures/hf checkpoint opens, and its parameter count equals the one transformers reported', () => {
  for (const d of CHECKPOINTS) {
    const src = openCheckpointDir(join(HF, d));
    try {
      let params = 0;
      for (const name of src.names()) {
        const info = src.info(name);
        const data = src.readF32(name);
        assert.equal(data.length, shapeNumel(info.shape), `${d}/${name}`);
        params += data.length;
      }
      assert.equal(params, versions[BASE[d] ?? d].params, `${d}: parameter count`);
    } finally {
      src.close();
    }
  }
});

test('values read through the TensorSource equal an independent DataView decode (f32, bf16, i32, sharded)', () => {
  const files = [
    ['llama', 'model.safetensors'], ['llama-bf16', 'model.safetensors'], ['gemma-bf16', 'model.safetensors'], ['gpt2', 'model.safetensors'],
    ['llama', 'reference.safetensors'], ['llama-sharded', 'model-00003-of-00010.safetensors'],
  ];
  for (const [d, f] of files) {
    const path = join(HF, d, f);
    const raw = rawFile(path);
    const src = openSafetensors(path);
    try {
      assert.deepEqual(src.names().sort(), Object.keys(raw.header).filter((k) => k !== '__metadata__').sort());
      for (const name of src.names()) {
        const info = src.info(name);
        assert.deepEqual(info.shape, raw.header[name].shape, `${path}:${name} shape`);
        const got = src.readF32(name);
        const n = got.length;
        for (const i of [0, 1, Math.floor(n / 2), n - 1].filter((i) => i >= 0 && i < n)) {
          assert.equal(got[i], raw.value(name, i), `${d}/${f}:${name}[${i}]`);
        }
      }
    } finally {
      src.close();
    }
  }
});

test('the sharded checkpoint holds exactly the single-file weights, and bf16 fixtures are the f32 ones rounded to nearest even', () => {
  const single = openCheckpointDir(join(HF, 'llama'));
  const sharded = openCheckpointDir(join(HF, 'llama-sharded'));
  const bf16 = openCheckpointDir(join(HF, 'llama-bf16'));
  try {
    assert.deepEqual(sharded.names().sort(), single.names().sort());
    for (const name of single.names()) {
      const a = single.readF32(name);
      assert.deepEqual(sharded.readF32(name), a, name);
      const b = bf16.read(name);
      assert.equal(b.dtype, 'bf16');
      assert.ok(b.data instanceof Uint16Array);
      const ours = Uint16Array.from(a, (x) => f32ToBf16(x));
      assert.deepEqual(b.data, ours, `${name}: torch's bf16 cast vs f32ToBf16`);
    }
  } finally {
    single.close();
    sharded.close();
    bf16.close();
  }
});

test('f16 and bf16 scalar conversions: every bit pattern round-trips, and f32→f16 picks the nearest half (ties to even)', () => {
  for (let h = 0; h < 65536; h++) {
    const x = f16ToF32(h);
    if (Number.isNaN(x)) assert.ok(Number.isNaN(f16ToF32(f32ToF16(x))), `f16 NaN ${h}`);
    else assert.equal(f32ToF16(x), h, `f16 bits ${h.toString(16)} (${x})`);
    const y = bf16ToF32(h);
    if (Number.isNaN(y)) assert.ok(Number.isNaN(bf16ToF32(f32ToBf16(y))), `bf16 NaN ${h}`);
    else assert.equal(f32ToBf16(y), h, `bf16 bits ${h.toString(16)}`);
  }
  // brute-force nearest finite half over the sorted table, ties to the even bit pattern
  const finite: number[] = [];
  for (let h = 0; h < 0x7c00; h++) finite.push(h);
  const nearest = (x: number): number => {
    const a = Math.abs(x);
    let lo = 0, hi = finite.length - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (f16ToF32(finite[mid]) <= a) lo = mid; else hi = mid;
    }
    const dl = a - f16ToF32(finite[lo]), dh = f16ToF32(finite[hi]) - a;
    let h = dl < dh ? finite[lo] : dh < dl ? finite[hi] : finite[lo] % 2 === 0 ? finite[lo] : finite[hi];
    if (a >= 65520) h = 0x7c00; // halfway past the largest half rounds to infinity
    return (x < 0 || Object.is(x, -0) ? 0x8000 : 0) | h;
  };
  const r = rng(7);
  for (let i = 0; i < 20000; i++) {
    const x = Math.fround((r() - 0.5) * 2 ** (Math.floor(r() * 44) - 28));
    assert.equal(f32ToF16(x), nearest(x), `f32ToF16(${x})`);
  }
  for (let i = 0; i < 5000; i++) {
    // exact midpoints between neighbouring halves (normal and subnormal): ties must go to the even pattern
    const h = Math.floor(r() * 0x7bff);
    const mid = (f16ToF32(h) + f16ToF32(h + 1)) / 2;
    const x = r() < 0.5 ? mid : -mid;
    assert.equal(f32ToF16(x), nearest(x), `f32ToF16(${x}) at the midpoint after 0x${h.toString(16)}`);
  }
  for (const x of [65504, 65519.99, 65520, 2 ** -24, 2 ** -25, 3 * 2 ** -26, 2 ** -14, -0, Infinity, -Infinity]) {
    assert.equal(f32ToF16(x), Number.isFinite(x) ? nearest(Math.fround(x)) : x > 0 ? 0x7c00 : 0xfc00, `f32ToF16(${x})`);
  }
});

test('writeSafetensors round-trips every dtype bit for bit, sorts names, pads the header to 8 bytes and keeps metadata', () => {
  const r = rng(3);
  const mk: Record<string, (n: number) => TensorData> = {
    f32: (n) => randn(n, 11),
    f16: (n) => Uint16Array.from({ length: n }, () => Math.floor(r() * 0x7c00)),
    bf16: (n) => Uint16Array.from({ length: n }, () => Math.floor(r() * 0x7f80)),
    i32: (n) => Int32Array.from({ length: n }, () => Math.floor((r() - 0.5) * 2 ** 32)),
    i64: (n) => BigInt64Array.from({ length: n }, () => BigInt(Math.floor((r() - 0.5) * 2 ** 53)) * 1024n),
    u8: (n) => Uint8Array.from({ length: n }, () => Math.floor(r() * 256)),
    i8: (n) => Int8Array.from({ length: n }, () => Math.floor(r() * 256) - 128),
    f64: (n) => Float64Array.from({ length: n }, () => r() * 1e300),
    i16: (n) => Int16Array.from({ length: n }, () => Math.floor(r() * 65536) - 32768),
    u16: (n) => Uint16Array.from({ length: n }, () => Math.floor(r() * 65536)),
    bool: (n) => Uint8Array.from({ length: n }, () => (r() < 0.5 ? 1 : 0)),
  };
  const shapes = [[3, 5], [7], [1, 1, 3], [0, 4], []];
  const tensors = Object.entries(mk).flatMap(([dtype, f], k) => {
    const shape = shapes[k % shapes.length];
    return [{ name: `z.${dtype}`, dtype: dtype as DType, shape, data: f(Math.max(shapeNumel(shape), 0)) }];
  });
  const path = join(tmp, 'roundtrip.safetensors');
  writeSafetensors(path, tensors, { format: 'pt', note: 'ünïcode' });
  const raw = rawFile(path);
  assert.equal((8 + raw.headerLength) % 8, 0, 'data section starts on an 8-byte boundary');
  const keys = Object.keys(raw.header).filter((k) => k !== '__metadata__');
  assert.deepEqual(keys, [...keys].sort(), 'header lists tensors sorted by name');
  const src = openSafetensors(path);
  try {
    assert.deepEqual(src.metadata, { format: 'pt', note: 'ünïcode' });
    for (const t of tensors) {
      const got = src.read(t.name);
      assert.equal(got.dtype, t.dtype, t.name);
      assert.deepEqual(got.shape, t.shape, t.name);
      assert.equal(got.data.constructor, t.data.constructor, t.name);
      assert.deepEqual(got.data, t.data, t.name);
    }
    assert.deepEqual(src.readF32('z.i64'), Float32Array.from(tensors.find((t) => t.dtype === 'i64')!.data as BigInt64Array, Number));
  } finally {
    src.close();
  }
  assert.deepEqual(readdirSync(tmp).filter((f) => f.includes('.tmp-')), [], 'no temp file left behind');
});

test('f16/bf16 tensors given as Float32Array are rounded to nearest even on write', () => {
  const x = randn(257, 5, 3);
  const path = join(tmp, 'round.safetensors');
  writeSafetensors(path, [{ name: 'h', dtype: 'f16', shape: [257], data: x }, { name: 'b', dtype: 'bf16', shape: [257], data: x }]);
  const src = openSafetensors(path);
  assert.deepEqual(src.read('h').data, Uint16Array.from(x, (v) => f32ToF16(v)));
  assert.deepEqual(src.read('b').data, Uint16Array.from(x, (v) => f32ToBf16(v)));
  src.close();
});

test('SafetensorsWriter streams tensors in any order and only publishes the file on finish()', () => {
  const path = join(tmp, 'stream.safetensors');
  const plan = [
    { name: 'a', dtype: 'f32' as DType, shape: [4, 3] },
    { name: 'b', dtype: 'bf16' as DType, shape: [5] },
    { name: 'c', dtype: 'i32' as DType, shape: [2, 2] },
  ];
  const w = new SafetensorsWriter(path, plan, { step: '1' });
  w.write('c', Int32Array.of(1, -2, 3, -4));
  w.write('a', randn(12, 1));
  assert.throws(() => w.write('a', randn(12, 1)), RangeError, 'writing twice');
  assert.throws(() => w.write('nope', randn(1, 1)), RangeError, 'unplanned name');
  assert.throws(() => w.write('b', randn(4, 1)), /4 elements, expected \[5\] = 5/);
  assert.throws(() => w.write('b', Int32Array.of(1, 2, 3, 4, 5)), TypeError);
  assert.throws(() => w.finish(), /not written: b/);
  assert.equal(existsSync(path), false, 'nothing at the final path before finish()');
  w.write('b', Uint16Array.of(1, 2, 3, 4, 5));
  w.finish();
  const src = openSafetensors(path);
  assert.deepEqual(src.read('c').data, Int32Array.of(1, -2, 3, -4));
  assert.deepEqual(src.readF32('a'), randn(12, 1));
  assert.deepEqual(src.read('b').data, Uint16Array.of(1, 2, 3, 4, 5));
  assert.deepEqual(src.metadata, { step: '1' });
  src.close();
  assert.throws(() => w.write('a', randn(12, 1)), /after finish/);
});

test('abort() and a failed writeSafetensors leave an existing file untouched and no temp file behind', () => {
  const path = join(tmp, 'keep.safetensors');
  writeSafetensors(path, [{ name: 'x', dtype: 'f32', shape: [2], data: Float32Array.of(1, 2) }]);
  const before = readFileSync(path);
  const w = new SafetensorsWriter(path, [{ name: 'x', dtype: 'f32', shape: [3] }]);
  w.write('x', Float32Array.of(7, 8, 9));
  w.abort();
  w.abort();
  assert.deepEqual(readFileSync(path), before);
  assert.throws(() => writeSafetensors(path, [{ name: 'x', dtype: 'f32', shape: [3], data: Float32Array.of(1) }]), RangeError);
  assert.throws(() => writeSafetensors(path, [{ name: 'x', dtype: 'q8_0', shape: [32], data: new Float32Array(32) }]), TypeError);
  assert.throws(() => writeSafetensors(path, [{ name: 'x', dtype: 'f32', shape: [1], data: new Float32Array(1) }, { name: 'x', dtype: 'f32', shape: [1], data: new Float32Array(1) }]), /planned twice/);
  assert.throws(() => writeSafetensors(path, [{ name: 'x', dtype: 'f32', shape: [-1], data: new Float32Array(1) }]), RangeError);
  assert.deepEqual(readFileSync(path), before);
  assert.deepEqual(readdirSync(tmp).filter((f) => f.includes('.tmp-')), []);
});

test('malformed safetensors files each throw FormatError with the matching code, naming file and tensor', () => {
  const ok = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
  const p1 = join(tmp, 'short.safetensors');
  writeFileSync(p1, Buffer.alloc(5));
  const e1 = expectFormatError(() => openSafetensors(p1), 'truncated', '5 bytes');
  assert.equal(e1.file, p1);
  const p2 = join(tmp, 'hlen.safetensors');
  const b2 = Buffer.alloc(16);
  b2.writeBigUInt64LE(1000n, 0);
  writeFileSync(p2, b2);
  expectFormatError(() => openSafetensors(p2), 'truncated', 'header length 1000');
  const p3 = join(tmp, 'huge.safetensors');
  const b3 = Buffer.alloc(16);
  b3.writeBigUInt64LE(2n ** 63n, 0);
  writeFileSync(p3, b3);
  expectFormatError(() => openSafetensors(p3), 'truncated');
  expectFormatError(() => openSafetensors(craft('json.st', null, 0, '{"a": {"dtype": "F32",')), 'bad_header', 'JSON');
  expectFormatError(() => openSafetensors(craft('arr.st', [1, 2], 0)), 'bad_header', 'array');
  expectFormatError(() => openSafetensors(craft('utf.st', null, 0, Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]))), 'bad_header', 'UTF-8');
  expectFormatError(() => openSafetensors(craft('dtype.st', { a: { dtype: 'F8_E4M3', shape: [2], data_offsets: [0, 2] } }, 2)), 'unknown_dtype', "'a'", 'F8_E4M3');
  expectFormatError(() => openSafetensors(craft('range.st', { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, 4)), 'offset_out_of_range', "'a'", '[0, 8]');
  expectFormatError(() => openSafetensors(craft('rev.st', { a: { dtype: 'F32', shape: [0], data_offsets: [8, 0] } }, 8)), 'offset_out_of_range');
  const e2 = expectFormatError(() => openSafetensors(craft('overlap.st', { ...ok, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, 12)), 'overlapping_tensors', "'a'", "'b'");
  assert.equal(e2.tensor, 'b');
  expectFormatError(() => openSafetensors(craft('size.st', { a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, 8)), 'shape_size_mismatch', '8 bytes', '12');
  expectFormatError(() => openSafetensors(craft('neg.st', { a: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, 8)), 'bad_header', '[-2]');
  expectFormatError(() => openSafetensors(craft('frac.st', { a: { dtype: 'F32', shape: [1.5], data_offsets: [0, 6] } }, 8)), 'bad_header', '1.5');
  expectFormatError(() => openSafetensors(craft('offs.st', { a: { dtype: 'F32', shape: [2], data_offsets: [0] } }, 8)), 'bad_header', 'data_offsets');
  expectFormatError(() => openSafetensors(craft('meta.st', { __metadata__: { n: 3 }, ...ok }, 8)), 'bad_header', '__metadata__');
  expectFormatError(() => openSafetensors(craft('entry.st', { a: 'F32' }, 8)), 'bad_header', "'a'");
  expectFormatError(() => openSafetensors(join(tmp, 'does-not-exist.safetensors')), 'not_found');
  // a tensor called __proto__ is just a name, not a prototype change
  const proto = openSafetensors(craft('proto.st', null, 8, '{"__proto__": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}'));
  assert.deepEqual(proto.names(), ['__proto__']);
  proto.close();
  const src = openSafetensors(craft('fine.st', ok, 8));
  expectFormatError(() => src.info('b'), 'missing_tensor', "'b'");
  src.close();
  assert.throws(() => src.read('a'), (e: unknown) => e instanceof RrtError && e.code === 'closed');
});

test('failed opens close their file descriptors', () => {
  const bad = craft('fd.st', { a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, 8);
  const fds = () => readdirSync('/proc/self/fd').length;
  const before = fds();
  for (let i = 0; i < 200; i++) assert.throws(() => openSafetensors(bad), FormatError);
  assert.ok(fds() <= before + 2, `open descriptors grew from ${before} to ${fds()}`);
});

test('openCheckpointDir explains what it looked for, and checks every shard and every indexed tensor', () => {
  expectFormatError(() => openCheckpointDir(join(tmp, 'no-such-dir')), 'not_found', 'does not exist');
  const empty = join(tmp, 'empty');
  mkdirSync(empty);
  writeFileSync(join(empty, 'pytorch_model.bin'), 'x');
  expectFormatError(() => openCheckpointDir(empty), 'not_found', 'model.safetensors', 'model.safetensors.index.json', 'pytorch_model.bin');

  const src = join(HF, 'llama-sharded');
  const index = JSON.parse(readFileSync(join(src, 'model.safetensors.index.json'), 'utf8'));
  const shardDir = (name: string, edit: (idx: typeof index) => void, skip?: string) => {
    const d = join(tmp, name);
    mkdirSync(d);
    for (const f of readdirSync(src)) if (f.endsWith('.safetensors') && f !== skip) copyFileSync(join(src, f), join(d, f));
    const idx = structuredClone(index);
    edit(idx);
    writeFileSync(join(d, 'model.safetensors.index.json'), JSON.stringify(idx));
    return d;
  };
  expectFormatError(() => openCheckpointDir(shardDir('missing-shard', () => {}, 'model-00004-of-00010.safetensors')), 'not_found', 'model-00004-of-00010.safetensors');
  const e = expectFormatError(() => openCheckpointDir(shardDir('wrong-shard', (i) => { i.weight_map['lm_head.weight'] = 'model-00001-of-00010.safetensors'; })), 'missing_tensor', 'lm_head.weight');
  assert.equal(e.tensor, 'lm_head.weight');
  expectFormatError(() => openCheckpointDir(shardDir('escape', (i) => { i.weight_map['lm_head.weight'] = '../llama/model.safetensors'; })), 'bad_header', 'not a file name');
  expectFormatError(() => openCheckpointDir(shardDir('no-map', (i) => { delete i.weight_map; })), 'bad_header', 'weight_map');
  const garbled = join(tmp, 'garbled');
  mkdirSync(garbled);
  writeFileSync(join(garbled, 'model.safetensors.index.json'), '{"weight_map": {');
  expectFormatError(() => openCheckpointDir(garbled), 'bad_header', 'JSON');

  const good = openCheckpointDir(shardDir('good', () => {}));
  assert.equal(good.names().length, Object.keys(index.weight_map).length);
  expectFormatError(() => good.read('model.layers.99.mlp.up_proj.weight'), 'missing_tensor');
  good.close();
});
