// Models with packed q8_0/q4_0 weights end to end: a GGUF file written by llama.cpp's own Python
// writer (gguf-py), mixing block types as a Q4_K_M file does, loads "as stored" (Q8_0/Q4_0 kept
// packed, the other block types bf16) with logits close to fp32 math on its dequantized weights;
// rrt's GGUF export at q8_0/q4_0 holds exactly the blocks rrt's own q8_0/q4_0 loading makes, so a
// model read back from it gives the same logits bit for bit; the writer's q4_0 blocks are the
// reference quantizer's; matrices whose rows are not whole blocks stay bf16 and are named.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { openGguf, writeGguf } from '../../src/formats/gguf.js';
import { BUNDLED_MODEL, loadModel } from '../../src/models/load.js';
import { exportGguf } from '../../src/recursive/export-gguf.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { native } from '../../src/tensor/kernels.js';
import { QTYPE, quantizeBlock } from '../../src/tensor/ref/quant.js';
import { toGgufBlocks } from '../../src/tensor/quant.js';
import { randn, skipWithoutNative } from '../helpers.js';

const skip = skipWithoutNative(native);
const root = new URL('../../', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'rrt-quantized-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const logits = (m: ReturnType<typeof loadModel>, ids: Int32Array) => noGrad(() => m.decoder.forward(ids, 1, ids.length)).logits.f32;
const ids = (n: number, V: number) => Int32Array.from({ length: n }, (_, i) => (i * 37 + 5) % V);

test('a gguf-py file mixing block types loads as stored, with logits within 5 % rms of fp32 on its dequantized weights', { skip }, () => {
  const path = join(root, 'fixtures/ggml-quants/tiny-llama-mixed.gguf');
  const file = openGguf(path);
  const stored = new Map(file.names().map((n) => [n, file.info(n).ggmlType]));
  file.close();
  const m = loadModel(path, { dtype: 'auto' }), f32 = loadModel(path, { dtype: 'f32' });
  const l0 = m.decoder.weights.layers[0];
  const expect: Record<string, string> = { Q8_0: 'q8_0', Q4_0: 'q4_0', F32: 'f32', F16: 'f32' };
  const names: Record<string, string> = { q: 'attn_q', k: 'attn_k', v: 'attn_v', o: 'attn_output', gate: 'ffn_gate', up: 'ffn_up', down: 'ffn_down' };
  const kinds = new Set<string>();
  for (const [p, lin] of Object.entries(l0.proj)) {
    const type = stored.get(`blk.0.${names[p]}.weight`)!;
    assert.equal(lin.w.dtype, expect[type] ?? 'bf16', `${p}: stored ${type}`);
    kinds.add(lin.w.dtype);
  }
  assert.ok(kinds.has('q8_0') && kinds.has('q4_0') && kinds.has('bf16'), `the fixture mixes kinds: ${[...kinds]}`);
  const x = ids(16, m.config.vocabSize);
  const got = logits(m, x), want = logits(f32, x);
  let errSq = 0, sq = 0;
  for (let i = 0; i < got.length; i++) {
    errSq += (got[i] - want[i]) ** 2;
    sq += want[i] ** 2;
  }
  // activations rounded to int8 per 32-value block (at most max|x|/254 each) and bf16 matrices:
  // measured 2.5 % rms on this random model, whose logits move 1.1 % rms from bf16 rounding alone
  const rel = Math.sqrt(errSq / sq);
  assert.ok(rel <= 0.05, `rms logit difference ${rel} of the rms logit`);
  assert.ok(rel > 0, 'the packed path ran (fp32 math would agree exactly)');
});

for (const dtype of ['q8_0', 'q4_0'] as const)
  test(`GGUF export at ${dtype} holds the blocks of rrt's own ${dtype} loading; read back, the logits are the same bits`, { skip }, () => {
    const hf = join(root, 'fixtures/hf/llama');
    const gguf = join(tmp, `llama-${dtype}.gguf`);
    exportGguf(hf, gguf, { dtype, tokenizer: join(root, 'assets/stories260K/tok512.bin') });
    const file = openGguf(gguf);
    const types = new Set(file.names().filter((n) => file.info(n).shape.length === 2).map((n) => file.info(n).ggmlType));
    file.close();
    assert.deepEqual([...types].sort(), dtype === 'q8_0' ? ['Q8_0'] : ['Q4_0', 'Q8_0'], 'projections in the type, embedding and output Q8_0');
    const direct = loadModel(hf, { dtype }), back = loadModel(gguf, { dtype: 'auto' });
    const a = direct.decoder.weights.layers[1].proj.gate!.w, b = back.decoder.weights.layers[1].proj.gate!.w;
    assert.equal(b.dtype, dtype);
    assert.deepEqual(toGgufBlocks(b), toGgufBlocks(a));
    const x = ids(12, direct.config.vocabSize);
    assert.deepEqual(logits(back, x), logits(direct, x));
  });

test('writeGguf quantizes f32 to q4_0 with the reference rounding and writes given blocks as they are', { skip }, () => {
  const x = randn(3 * 64, 4);
  const want = new Uint8Array(6 * 18);
  for (let b = 0; b < 6; b++) quantizeBlock(want, b * 18, x, b * 32, QTYPE.q4_0);
  const path = join(tmp, 'q4.gguf');
  writeGguf(path, [['general.architecture', 'none', 'string']], [
    { name: 'a', dtype: 'q4_0', shape: [3, 64], data: x },
    { name: 'b', dtype: 'q4_0', shape: [3, 64], data: want },
  ]);
  const f = openGguf(path);
  assert.deepEqual(f.readRaw('a'), want);
  assert.deepEqual(f.readRaw('b'), want);
  f.close();
  assert.throws(() => writeGguf(join(tmp, 'bad.gguf'), [], [{ name: 'c', dtype: 'q4_0', shape: [3, 64], data: want.subarray(1) }]), /has 107 bytes of blocks, expected \[3,64\] = 108 bytes/);
});

test('quantized loading keeps matrices whose rows are not whole 32-value blocks in bf16 and names them', { skip }, () => {
  // stories260K: FFN width 172, so every down projection (rows of 172 values) stays bf16
  const m = loadModel(BUNDLED_MODEL, { dtype: 'q4_0' });
  const l = m.decoder.weights.layers[0];
  assert.equal(l.proj.down!.w.dtype, 'bf16');
  assert.equal(l.proj.gate!.w.dtype, 'q4_0');
  assert.equal(m.unquantized.length, m.config.nLayers);
  assert.match(m.unquantized[0], /w2\.weight|down_proj\.weight.*\[64, 172\]/);
});
