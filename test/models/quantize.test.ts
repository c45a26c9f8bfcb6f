// rrt quantize and the quantized checkpoint: matrices stored once as GGUF blocks (U8 tensors named
// in the rrt.quantized metadata), a recursive model's slots still shared and its adapters f32; the
// checkpoint loads as stored with rrt's own blocks and logits; a header that disagrees with its
// bytes is refused; the CLI reports what it kept.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { openSafetensors, QUANTIZED_KEY } from '../../src/formats/safetensors.js';
import { BUNDLED_MODEL, loadModel } from '../../src/models/load.js';
import { quantizeModel } from '../../src/models/quantize.js';
import { convertToRecursive } from '../../src/recursive/convert.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { native } from '../../src/tensor/kernels.js';
import { toGgufBlocks } from '../../src/tensor/quant.js';
import { expectFormatError, skipWithoutNative } from '../helpers.js';

const skip = skipWithoutNative(native);
const root = new URL('../../', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'rrt-quantize-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const logits = (m: ReturnType<typeof loadModel>, n = 10) => {
  const ids = Int32Array.from({ length: n }, (_, i) => (i * 29 + 3) % m.config.vocabSize);
  return noGrad(() => m.decoder.forward(ids, 1, n)).logits.f32;
};

test('a quantized HF checkpoint stores GGUF blocks, loads them as they are, and gives the logits of quantizing at load', { skip }, () => {
  const src = join(root, 'fixtures/hf/llama'), dst = join(tmp, 'llama-q4');
  const r = quantizeModel(src, dst, { dtype: 'q4_0' });
  assert.equal(r.format, 'checkpoint');
  assert.equal(r.quantized, 6 * 7 + 2, 'seven projections per layer, the embedding and the untied head');
  assert.ok(r.bytesOut < r.bytesIn / 4, `${r.bytesOut} bytes from ${r.bytesIn}`);
  const f = openSafetensors(join(dst, 'model.safetensors'));
  const table = JSON.parse(f.metadata[QUANTIZED_KEY]) as Record<string, { type: string; shape: number[] }>;
  assert.deepEqual(table['model.layers.0.mlp.down_proj.weight'], { type: 'q4_0', shape: [64, 160] });
  assert.deepEqual(table['lm_head.weight'].type, 'q8_0');
  assert.deepEqual(f.info('model.layers.0.mlp.down_proj.weight'), { name: 'model.layers.0.mlp.down_proj.weight', dtype: 'q4_0', shape: [64, 160], byteLength: 64 * 5 * 18 });
  assert.equal(f.info('model.norm.weight').dtype, 'f32');
  f.close();
  const stored = loadModel(dst, { dtype: 'auto' }), direct = loadModel(src, { dtype: 'q4_0' });
  assert.equal(stored.decoder.weights.layers[2].proj.o!.w.dtype, 'q4_0');
  assert.deepEqual(toGgufBlocks(stored.decoder.weights.layers[2].proj.o!.w), toGgufBlocks(direct.decoder.weights.layers[2].proj.o!.w));
  assert.deepEqual(logits(stored), logits(direct));
  // read as f32, the blocks dequantize (export, convert and training see plain weights)
  const f32 = loadModel(dst, { dtype: 'f32' });
  assert.equal(f32.decoder.weights.layers[0].proj.q!.w.dtype, 'f32');
});

test('a relaxed recursive checkpoint quantizes its shared block once; slots stay shared, adapters stay f32', { skip }, () => {
  const rec = join(tmp, 'rec');
  convertToRecursive(BUNDLED_MODEL, rec, { nLoops: 2, strategy: 'cycle', init: 'stepwise', loraRank: 4 });
  const dst = join(tmp, 'rec-q8');
  const r = quantizeModel(rec, dst, { dtype: 'q8_0' });
  // stories260K: 2 slots × 6 quantizable projections (down is 172 wide) + the tied embedding
  assert.equal(r.quantized, 2 * 6 + 1);
  assert.equal(r.kept.length, 2, 'the two slots\' down projections');
  const f = openSafetensors(join(dst, 'model.safetensors'));
  const names = f.names();
  assert.ok(!names.some((n) => n.startsWith('model.layers.2.')), 'no unrolled copies of the slots');
  assert.equal(f.info('recursive.layers.3.self_attn.q_proj.lora_A').dtype, 'f32');
  f.close();
  const m = loadModel(dst, { dtype: 'auto' });
  const L = m.decoder.weights.layers;
  assert.equal(L[0].proj.q!.w.dtype, 'q8_0');
  assert.equal(L[0].proj.q!.w, L[2].proj.q!.w, 'depths 0 and 2 share slot 0');
  assert.ok(L[2].proj.q!.lora, 'loop 2 has its adapter');
  assert.deepEqual(JSON.parse(readFileSync(join(dst, 'config.json'), 'utf8')).recursive, JSON.parse(readFileSync(join(rec, 'config.json'), 'utf8')).recursive);
});

test('a quantized checkpoint whose header disagrees with its bytes is refused', { skip }, () => {
  const src = join(tmp, 'llama-q4', 'model.safetensors');
  const bytes = readFileSync(src);
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8'));
  const rewrite = (edit: (table: Record<string, { type: string; shape: number[] }>) => void, name: string) => {
    const h = structuredClone(header);
    const table = JSON.parse(h.__metadata__[QUANTIZED_KEY]);
    edit(table);
    h.__metadata__[QUANTIZED_KEY] = JSON.stringify(table);
    let json = JSON.stringify(h);
    json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
    const out = Buffer.alloc(8 + Buffer.byteLength(json));
    out.writeBigUInt64LE(BigInt(Buffer.byteLength(json)), 0);
    out.write(json, 8);
    const path = join(tmp, name);
    writeFileSync(path, Buffer.concat([out, bytes.subarray(8 + n)]));
    return path;
  };
  const q = 'model.layers.0.self_attn.q_proj.weight';
  expectFormatError(() => openSafetensors(rewrite((t) => (t[q].shape = [64, 96]), 'a.safetensors')), 'bad_header', q, 'U8 [64, 54]');
  expectFormatError(() => openSafetensors(rewrite((t) => (t[q].type = 'q4_k'), 'b.safetensors')), 'bad_header', 'q4_k');
  expectFormatError(() => openSafetensors(rewrite((t) => (t['nope'] = { type: 'q8_0', shape: [1, 32] }), 'c.safetensors')), 'bad_header', 'nope');
  expectFormatError(() => openSafetensors(rewrite((t) => (t['model.norm.weight'] = { type: 'q8_0', shape: [1, 64] }), 'd.safetensors')), 'bad_header', 'stored f32');
});

test('rrt quantize reports what it wrote and what it kept', { skip }, () => {
  const run = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), 'quantize', BUNDLED_MODEL, join(tmp, 'cli-q4'), '--dtype', 'q4_0'], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  // stories260K: 5 layers × 6 quantizable projections + the tied embedding; the down projections (172 wide) stay
  assert.match(run.stdout, /wrote .*cli-q4 \(checkpoint\): q4_0 projections, q8_0 embedding\/head, 31 quantized matrices; .* peak memory/);
  assert.match(run.stderr, /kept unquantized \(rows not whole 32-value blocks\): layers\.0\.feed_forward\.w2\.weight \[64, 172\]|kept unquantized .*\[64, 172\]/);
  assert.throws(() => execFileSync(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), 'quantize', BUNDLED_MODEL, join(tmp, 'cli-q4'), '--dtype', 'q4_0'], { stdio: 'pipe' }), /already exists; pass --force/);
  assert.throws(() => execFileSync(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), 'quantize', BUNDLED_MODEL, join(tmp, 'x'), '--dtype', 'q5_1'], { stdio: 'pipe' }), /expected one of q8_0, q4_0, got 'q5_1'/);
});
