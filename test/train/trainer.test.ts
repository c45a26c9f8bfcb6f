// Uptraining: the loss goes down; distillation and exit-loss gradients are right; a run killed
// mid-way resumes to the same bits; corrupt checkpoints are refused; bad input is named.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { openSafetensors, writeSafetensors } from '../../src/formats/safetensors.js';
import { BUNDLED_MODEL, loadModel } from '../../src/models/load.js';
import { convertToRecursive } from '../../src/recursive/convert.js';
import { backward, noGrad } from '../../src/tensor/autograd.js';
import { findCheckpoint } from '../../src/train/checkpoint.js';
import { prepareTokenFile, resolveTokenizer } from '../../src/train/data.js';
import { trainingLoss } from '../../src/train/losses.js';
import { readMetrics } from '../../src/train/plot.js';
import { resumeTraining, train, type TrainOptions } from '../../src/train/trainer.js';
import { assertClose, randint } from '../helpers.js';

const root = new URL('../../', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'rrt-train-'));
const data = join(tmp, 'stories.bin');
prepareTokenFile([join(root, 'fixtures/data/tinystories-head.txt')], data, { tokenizer: resolveTokenizer(BUNDLED_MODEL).tokenizer });
const recursive = join(tmp, 'stories-rrt');
convertToRecursive(BUNDLED_MODEL, recursive, { nLoops: 2, init: 'average', loraRank: 8 });

const base = (out: string, extra: Partial<TrainOptions> = {}): TrainOptions => ({
  model: recursive, data, out, steps: 10, batchSize: 4, seqLen: 64, lr: 2e-3, warmup: 2, seed: 7, ...extra,
});

test('uptraining with distillation lowers the loss on a tiny corpus', () => {
  const r = train(base(join(tmp, 'run-loss'), { steps: 40, evalEvery: 20, exitLoss: 'aggressive' }));
  const first = r.losses.slice(0, 5).reduce((a, b) => a + b) / 5;
  const last = r.losses.slice(-5).reduce((a, b) => a + b) / 5;
  assert.ok(last < first * 0.8, `loss ${first.toFixed(3)} → ${last.toFixed(3)}`);
  assert.ok(r.evals[1].nll < r.evals[0].nll, 'held-out loss falls too');
  const m = loadModel(r.modelDir);
  assert.equal(m.config.recursive?.plan.nLoops, 2, 'the trained model is still recursive');
  const { steps } = readMetrics(r.runDir);
  assert.equal(steps.length, 40);
  assert.ok(steps.every((s) => s.kd !== null), 'distilled from the source model by default');
  assert.match(readFileSync(join(r.runDir, 'loss.svg'), 'utf8'), /<polyline/);
});

test('distillation and early-exit loss gradients match finite differences', () => {
  const m = loadModel(recursive);
  const ids = randint(2 * 12, 512, 5), targets = randint(2 * 12, 512, 6);
  const teacher = noGrad(() => loadModel(BUNDLED_MODEL).decoder.forward(ids, 2, 12).logits.f32);
  const lora = m.decoder.weights.layers[2].proj.down!.lora!.b;
  const norm = m.decoder.weights.layers[1].mlpNorm.w;
  // the exits' target is the *detached* final output: hold it fixed while differencing
  const exitTarget = noGrad(() => m.decoder.forward(ids, 2, 12).logits.f32);
  for (const exitLoss of ['aggressive', 'weighted'] as const) {
    const loss = () => trainingLoss(m.decoder.forward(ids, 2, 12, { allExits: true }), targets, { teacherLogits: teacher, distillWeight: 0.4, temperature: 2, exitLoss, exitTarget }).loss;
    for (const p of [lora, norm]) {
      p.requiresGrad = true;
      p.grad = null;
      backward(loss());
      const x = p.f32;
      const idx = [0, 3, Math.floor(x.length / 2), x.length - 1];
      const numeric = idx.map((i) => {
        const keep = x[i];
        x[i] = keep + 1e-2;
        const up = noGrad(loss).f32[0];
        x[i] = keep - 1e-2;
        const down = noGrad(loss).f32[0];
        x[i] = keep;
        return (up - down) / 2e-2;
      });
      assertClose(idx.map((i) => p.grad![i]), numeric, { rel: 3e-2, abs: 2e-4, label: `${exitLoss} d/d${p === lora ? 'lora B' : 'norm'}` });
    }
  }
});

test('a run killed mid-way (SIGKILL) resumes to exactly the losses, final weights and optimizer state of an uninterrupted run', () => {
  const straight = train(base(join(tmp, 'run-straight'), { checkpointEvery: 3 }));
  const out = join(tmp, 'run-killed');
  const opts = base(out, { checkpointEvery: 3 });
  const child = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'test/train/kill-child.ts'), JSON.stringify(opts), '5'], { cwd: root, encoding: 'utf8' });
  assert.equal(child.signal, 'SIGKILL', child.stderr);
  assert.equal(findCheckpoint(out)!.state.step, 3, 'the last checkpoint before the kill');
  const resumed = resumeTraining(out);
  assert.equal(resumed.steps, 10);
  const losses = readMetrics(out).steps.map((s) => s.loss);
  assert.deepEqual(losses, straight.losses, 'bit-identical losses');
  // the last step's update shows in no logged loss: compare what the runs end with, byte for byte
  for (const file of ['model/model.safetensors', 'checkpoint/model.safetensors', 'checkpoint/optimizer.safetensors'])
    assert.ok(readFileSync(join(out, file)).equals(readFileSync(join(straight.runDir, file))), `${file} differs from the uninterrupted run's`);
});

test('convert stores the source model\'s absolute path; train stops on a default teacher that is missing, naming --teacher MODEL|none', () => {
  const tsx = pathToFileURL(join(root, 'node_modules/tsx/dist/loader.mjs')).href; // by path: cwd is not always the repository
  const cli = (cwd: string, ...args: string[]) => spawnSync(process.execPath, ['--import', tsx, join(root, 'src/cli/main.ts'), ...args], { cwd, encoding: 'utf8', timeout: 120_000 });
  // converted from a relative path, then trained from another folder
  const model = join(tmp, 'from-relative');
  const conv = cli(root, 'convert', 'assets/stories260K/stories260K.bin', model, '--loops', '2', '--lora-rank', '4');
  assert.equal(conv.status, 0, conv.stderr);
  const config = JSON.parse(readFileSync(join(model, 'config.json'), 'utf8'));
  assert.equal(config.recursive.source.model, BUNDLED_MODEL);
  const trained = cli(tmp, 'train', model, '--data', data, '--out', join(tmp, 'run-elsewhere'), '--steps', '1', '--batch-size', '2', '--seq-len', '32');
  assert.equal(trained.status, 0, trained.stderr);
  assert.ok(readMetrics(join(tmp, 'run-elsewhere')).steps.every((m) => m.kd !== null), 'distilled from the source model');

  // the source has moved away since the conversion
  writeFileSync(join(model, 'config.json'), JSON.stringify({ ...config, recursive: { ...config.recursive, source: { ...config.recursive.source, model: join(tmp, 'moved.bin') } } }));
  const missing = cli(tmp, 'train', model, '--data', data, '--out', join(tmp, 'run-no-teacher'), '--steps', '1', '--batch-size', '2', '--seq-len', '32');
  assert.equal(missing.status, 1, missing.stderr);
  assert.deepEqual(missing.stderr.trimEnd().split('\n').length, 1, missing.stderr);
  assert.match(missing.stderr, /^error: the default teacher .*moved\.bin .* is not found: pass --teacher MODEL\|none/);
  const none = cli(tmp, 'train', model, '--data', data, '--out', join(tmp, 'run-no-teacher'), '--steps', '1', '--batch-size', '2', '--seq-len', '32', '--teacher', 'none', '--force');
  assert.equal(none.status, 0, none.stderr);
  assert.ok(readMetrics(join(tmp, 'run-no-teacher')).steps.every((m) => m.kd === null), '--teacher none: cross-entropy alone');
});

test('a corrupt checkpoint is refused with a clear message and the previous one is used', () => {
  const out = join(tmp, 'run-corrupt');
  train(base(out, { steps: 6, checkpointEvery: 3 }));
  const file = join(out, 'checkpoint', 'model.safetensors');
  const bytes = readFileSync(file);
  bytes[bytes.length - 5] ^= 0xff;
  writeFileSync(file, bytes);
  const found = findCheckpoint(out)!;
  assert.equal(found.dir, join(out, 'checkpoint.prev'));
  assert.equal(found.state.step, 3);
  assert.match(found.skipped[0], /model\.safetensors does not match its sha256/);
  const logs: string[] = [];
  const r = resumeTraining(out, { onLog: (l) => logs.push(l) });
  assert.equal(r.steps, 6);
  assert.ok(logs.some((l) => /warning: .*unusable.*using the previous checkpoint/.test(l)), logs.join('\n'));
});

test('NaN or infinite loss stops training, names the step and keeps the last good checkpoint', () => {
  const out = join(tmp, 'run-nan');
  assert.throws(() => train(base(out, { steps: 30, lr: 1e6, warmup: 0, clip: 0, checkpointEvery: 1, train: 'shared' })), (e: Error) => {
    assert.match(e.message, /became (NaN|Infinity|-Infinity) at step (\d+): training stopped; the last good checkpoint \(step \d+\) is kept/);
    return true;
  });
  const found = findCheckpoint(out)!;
  const m = loadModel(found.dir);
  assert.ok(m.decoder.weights.layers[0].proj.q!.w.f32.every(Number.isFinite), 'the kept checkpoint holds finite weights');
});

test('bad training input gets a clear error', () => {
  const cases: [Partial<TrainOptions>, RegExp][] = [
    [{ data: join(tmp, 'missing.bin') }, /missing\.bin/],
    [{ seqLen: 4096 }, /sequence length 4096 exceeds the model's context of 512/],
    [{ steps: 0 }, /steps must be/],
    [{ train: 'adapters', model: BUNDLED_MODEL }, /no LoRA adapters/],
    [{ exitLoss: 'aggressive', model: BUNDLED_MODEL }, /recursive model/],
  ];
  // data tokenized with another tokenizer (GPT-2: 50257 tokens)
  const gpt2Data = join(tmp, 'gpt2.bin');
  prepareTokenFile([join(root, 'fixtures/data/tinystories-head.txt')], gpt2Data, { tokenizer: resolveTokenizer(join(root, 'fixtures/tokenizers/gpt2/tokenizer.json')).tokenizer });
  cases.push([{ data: gpt2Data }, /vocabulary|outside/]);
  // an empty data file
  const empty = join(tmp, 'empty.bin');
  writeFileSync(empty, new Uint8Array(0));
  writeFileSync(`${empty}.json`, JSON.stringify({ format: 'rrt-tokens', version: 1, dtype: 'uint16', tokens: 0, documents: 0, vocabSize: 512, tokenizer: null, bos: 1, eos: null, sources: [], createdBy: 'test' }));
  cases.push([{ data: empty }, /tokens/]);
  // a teacher whose vocabulary differs: the llama fixture cut to 256 tokens
  const teacher = join(tmp, 'teacher-256');
  cpSync(join(root, 'fixtures/hf/llama'), teacher, { recursive: true });
  const cfg = JSON.parse(readFileSync(join(teacher, 'config.json'), 'utf8'));
  writeFileSync(join(teacher, 'config.json'), JSON.stringify({ ...cfg, vocab_size: 256 }));
  const f = openSafetensors(join(root, 'fixtures/hf/llama/model.safetensors'));
  writeSafetensors(join(teacher, 'model.safetensors'), f.names().map((n) => {
    const t = f.read(n);
    const cut = n === 'model.embed_tokens.weight' || n === 'lm_head.weight';
    return { name: n, dtype: t.dtype, shape: cut ? [256, t.shape[1]] : t.shape, data: cut ? (t.data as Float32Array).slice(0, 256 * t.shape[1]) : t.data };
  }));
  f.close();
  cases.push([{ teacher }, /teacher .* 256-token vocabulary, the student 512/]);
  for (const [extra, pattern] of cases) {
    assert.throws(() => train(base(join(tmp, 'run-bad'), { force: true, ...extra })), (e: Error) => pattern.test(e.message), String(pattern));
  }
  assert.throws(() => train(base(join(tmp, 'run-loss'))), /already exists; pass --force/);
});
