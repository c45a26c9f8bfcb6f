// Looped GGUF (llama.cpp's 'nanbeige' architecture: the shared block once, num_loops runs): a
// strictly recursive cycle model exports looped and reads back as the same recursive model with
// the same logits; a model that norms between loops keeps that through the file; relaxed and
// other non-loopable models are refused (--looped) or written unrolled with the reason; corrupt
// looped files (no loops, more layers than a looped model may unroll to, missing blocks) are
// refused with a clear error. llama.cpp's own check of these files: npm run check:llamacpp.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ggufMetadataEntries, openGguf, writeGguf, type GgufType, type GgufValue } from '../../src/formats/gguf.js';
import { BUNDLED_MODEL, loadModel } from '../../src/models/load.js';
import { convertToRecursive } from '../../src/recursive/convert.js';
import { exportGguf } from '../../src/recursive/export-gguf.js';
import { noGrad } from '../../src/tensor/autograd.js';

const tmp = mkdtempSync(join(tmpdir(), 'rrt-looped-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const logits = (path: string) => {
  const m = loadModel(path);
  const ids = Int32Array.from({ length: 12 }, (_, i) => (i * 31 + 7) % m.config.vocabSize);
  return noGrad(() => m.decoder.forward(ids, 1, ids.length)).logits.f32;
};

function converted(name: string, opts: Parameters<typeof convertToRecursive>[2]): string {
  const dir = join(tmp, name);
  convertToRecursive(BUNDLED_MODEL, dir, opts);
  return dir;
}

const strict = converted('strict', { nLoops: 2, strategy: 'cycle', init: 'stepwise' });

test('a strict cycle model exports looped (the shared block once) and reads back as the same recursive model, logits bit for bit', () => {
  const gguf = join(tmp, 'strict.gguf'), unrolled = join(tmp, 'strict-unrolled.gguf');
  const r = exportGguf(strict, gguf);
  assert.deepEqual([r.architecture, r.layers, r.loops], ['nanbeige', 2, 2]);
  exportGguf(strict, unrolled, { layout: 'unrolled' });
  const f = openGguf(gguf);
  assert.equal(f.metadata.get('nanbeige.num_loops'), 2);
  assert.equal(f.metadata.get('nanbeige.skip_loop_final_norm'), true);
  assert.equal(f.metadata.get('nanbeige.block_count'), 2);
  assert.ok(!f.names().includes('blk.2.attn_q.weight'));
  f.close();
  assert.ok(statSync(gguf).size < 0.62 * statSync(unrolled).size, 'about the unique parameters: two of the four blocks, plus the embedding');
  const back = loadModel(gguf);
  const rec = back.config.recursive!;
  assert.deepEqual([rec.plan.strategy, rec.plan.nLoops, rec.plan.nShared, rec.loopNorm], ['cycle', 2, 2, false]);
  assert.equal(back.decoder.weights.layers[0].proj.q!.w, back.decoder.weights.layers[2].proj.q!.w, 'depths 0 and 2 share slot 0');
  assert.deepEqual(logits(gguf), logits(strict));
});

test('a model that norms between loops keeps it through the looped file, and the norm changes the logits', () => {
  const dir = converted('loopnorm', { nLoops: 2, strategy: 'cycle', init: 'stepwise' });
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, recursive: { ...cfg.recursive, loopNorm: true } }));
  const gguf = join(tmp, 'loopnorm.gguf');
  exportGguf(dir, gguf);
  const f = openGguf(gguf);
  assert.equal(f.metadata.get('nanbeige.skip_loop_final_norm'), false);
  f.close();
  assert.equal(loadModel(gguf).config.recursive!.loopNorm, true);
  assert.deepEqual(logits(gguf), logits(dir));
  assert.notDeepEqual(logits(dir), logits(strict));
});

test('relaxed and other non-loopable models: --looped is refused naming --unrolled; by default they are written unrolled with the reason', () => {
  const relaxed = converted('relaxed', { nLoops: 2, strategy: 'cycle', init: 'average', loraRank: 4 });
  assert.throws(() => exportGguf(relaxed, join(tmp, 'r.gguf'), { layout: 'looped' }), { name: 'InputError', message: /cannot be exported looped: it is relaxed \(per-loop LoRA.*pass --unrolled/ });
  const r = exportGguf(relaxed, join(tmp, 'r.gguf'));
  assert.equal(r.architecture, 'llama');
  assert.match(r.warnings.join('\n'), /written unrolled .*: it is relaxed/);
  const seq = converted('sequence', { nLoops: 2, strategy: 'sequence', init: 'stepwise' });
  assert.throws(() => exportGguf(seq, join(tmp, 's.gguf'), { layout: 'looped' }), /its sequence sharing/);
  assert.throws(() => exportGguf(BUNDLED_MODEL, join(tmp, 'v.gguf'), { layout: 'looped', tokenizer: join(BUNDLED_MODEL, '../tok512.bin') }), /it is not recursive/);
});

/** The strict looped file again with its metadata edited (and optionally a tensor dropped). */
function edited(name: string, edit: (kv: Map<string, [GgufValue, GgufType]>) => void, drop?: string): string {
  const src = openGguf(join(tmp, 'strict.gguf'));
  const kv = new Map(ggufMetadataEntries(src).map(([k, v, t]) => [k, [v, t] as [GgufValue, GgufType]]));
  edit(kv);
  const tensors = src.names().filter((n) => n !== drop).map((n) => ({ name: n, dtype: 'f32' as const, shape: src.info(n).shape, data: src.readF32(n) }));
  src.close();
  const path = join(tmp, name);
  writeGguf(path, [...kv].map(([k, [v, t]]) => [k, v, t]), tensors);
  return path;
}

test('corrupt looped files are refused with a clear error', () => {
  assert.throws(() => loadModel(edited('zero.gguf', (kv) => kv.set('nanbeige.num_loops', [0, 'u32']))), { name: 'ConfigError', message: /nanbeige.num_loops is 0, expected a positive integer/ });
  assert.throws(() => loadModel(edited('many.gguf', (kv) => kv.set('nanbeige.num_loops', [300, 'u32']))), { name: 'ConfigError', message: /2 blocks × 300 loops = 600 layers, more than the 512/ });
  assert.throws(() => loadModel(edited('noloops.gguf', (kv) => kv.delete('nanbeige.num_loops'))), { name: 'ConfigError', message: /nanbeige.num_loops' is missing/ });
  assert.throws(() => loadModel(edited('skip.gguf', (kv) => kv.set('nanbeige.skip_loop_final_norm', [1, 'u32']))), /skip_loop_final_norm is number, expected a bool/);
  assert.throws(() => loadModel(edited('blocks.gguf', (kv) => kv.set('nanbeige.block_count', [3, 'u32']))), { name: 'FormatError', message: /no tensor 'blk.2.attn_q.weight'|has only \d+ tensors/ });
  assert.throws(() => loadModel(edited('missing.gguf', () => {}, 'blk.1.ffn_down.weight')), { name: 'FormatError', message: /blk.1.ffn_down.weight/ });
});
