// The rrt command line, run as a user would (a child process per call).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { openSafetensors, writeSafetensors } from '../../src/formats/safetensors.js';
import { assertClose } from '../helpers.js';

const root = new URL('../../', import.meta.url).pathname;
const HF = join(root, 'fixtures/hf');

function rrt(...args: string[]) {
  return rrtWithEnv({}, ...args);
}

function rrtWithEnv(env: Record<string, string>, ...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), ...args], { encoding: 'utf8', cwd: root, timeout: 60_000, env: { ...process.env, ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Exit 1 and exactly one stderr line, an `error:` line matching `pattern` (no stack trace). */
function assertOneErrorLine(r: { code: number | null; stderr: string }, pattern: RegExp, what: string): void {
  assert.equal(r.code, 1, `${what}: exit ${r.code}; stderr: ${r.stderr}`);
  assert.deepEqual(r.stderr.trimEnd().split('\n').length, 1, `${what}: more than one line on stderr:\n${r.stderr}`);
  assert.match(r.stderr, pattern, what);
}

const tmp = mkdtempSync(join(tmpdir(), 'rrt-cli-'));

test('rrt info --json counts parameters as transformers does', () => {
  const versions = JSON.parse(readFileSync(join(HF, 'versions.json'), 'utf8'));
  for (const name of ['llama', 'gpt2', 'gpt-neox']) {
    const r = rrt('info', join(HF, name), '--json');
    assert.equal(r.code, 0, r.stderr);
    const info = JSON.parse(r.stdout);
    assert.equal(info.parameters.total, versions[name].params, name);
    assert.equal(info.parameters.embedding + info.parameters.nonEmbedding, info.parameters.total);
  }
});

test('rrt info on the bundled model prints its architecture and size', () => {
  const r = rrt('info');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /llama \(5 layers, d 64, ffn 172, 8 heads \/ 4 kv/);
  assert.match(r.stdout, /size on disk/);
});

test('rrt info on a GGUF file counts its tensors per ggml type and says which stay quantized at load', () => {
  const model = join(root, 'fixtures/ggml-quants/tiny-llama-mixed.gguf');
  const r = rrt('info', model);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^ggml types +F32 5 as stored · Q4_0 6, Q8_0 3 kept quantized · Q4_1 2, Q5_0 1, Q5_1 1, Q4_K 1, Q6_K 1 dequantized to bf16 at load$/m);
  assert.doesNotMatch(r.stdout, /^dtype/m, 'the ggml types replace the dtype line');
  const j = rrt('info', model, '--json');
  assert.equal(j.code, 0, j.stderr);
  const info = JSON.parse(j.stdout);
  assert.deepEqual(info.ggmlTypes.Q4_K, { tensors: 1, load: 'dequantized to bf16' });
  assert.deepEqual(info.ggmlTypes.Q8_0, { tensors: 3, load: 'kept quantized' });
  assert.deepEqual(info.ggmlTypes.F32, { tensors: 5, load: 'as stored' });
  assert.equal(info.dtypes.q4_k, 1);
});

test('rrt logits reproduces transformers\' logits from int32 and int64 input ids', () => {
  const ref = openSafetensors(join(HF, 'gpt-neox/reference.safetensors'));
  const ids = ref.read('input_ids');
  const expected = ref.readF32('logits');
  ref.close();
  const in32 = join(tmp, 'ids32.safetensors');
  const in64 = join(tmp, 'ids64.safetensors');
  writeSafetensors(in32, [{ name: 'input_ids', dtype: 'i32', shape: ids.shape, data: ids.data }]);
  writeSafetensors(in64, [{ name: 'input_ids', dtype: 'i64', shape: ids.shape, data: BigInt64Array.from(ids.data as Int32Array, (x) => BigInt(x)) }]);
  for (const input of [in32, in64]) {
    const out = join(tmp, 'logits.safetensors');
    const r = rrt('logits', join(HF, 'gpt-neox'), '--input', input, '--out', out);
    assert.equal(r.code, 0, r.stderr);
    const f = openSafetensors(out);
    assert.deepEqual(f.info('logits').shape, [2, 24, 512]);
    assertClose(f.readF32('logits'), expected, { rel: 1e-4, label: 'rrt logits' });
    f.close();
  }
});

test('rrt generate streams the bundled model\'s story', () => {
  const r = rrt('generate', '--max-tokens', '40');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Once upon a time, there was a little girl named Lily\. She loved to play outside/);
  assert.match(r.stderr, /tok\/s/);
});

test('rrt generate with a prompt echoes it and continues it', () => {
  const r = rrt('generate', '--prompt', 'Once upon a time', '--max-tokens', '10', '--no-stats');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Once upon a time, there was a little girl/);
  assert.equal(r.stderr, '');
});

test('rrt generate samples reproducibly with a seed', () => {
  const a = rrt('generate', '--temperature', '0.9', '--top-k', '40', '--top-p', '0.9', '--seed', '7', '--max-tokens', '30');
  const b = rrt('generate', '--temperature', '0.9', '--top-k', '40', '--top-p', '0.9', '--seed', '7', '--max-tokens', '30');
  assert.equal(a.code, 0, a.stderr);
  assert.equal(a.stdout, b.stdout);
});

test('bad input gets a one-line error and a non-zero exit, never a stack trace', () => {
  const cases: [string[], RegExp][] = [
    [['info', join(tmp, 'nope')], /error: model not found/],
    [['generate', '--max-tokens', '-3'], /expected an integer/],
    [['generate', '--temperature', 'hot'], /expected a number/],
    [['generate', '--prompt', 'a '.repeat(600)], /context/],
    [['logits', join(HF, 'llama'), '--input', join(tmp, 'missing.safetensors'), '--out', join(tmp, 'x.safetensors')], /error:/],
  ];
  // token ids out of range
  const bad = join(tmp, 'bad-ids.safetensors');
  writeSafetensors(bad, [{ name: 'input_ids', dtype: 'i32', shape: [1, 3], data: Int32Array.from([1, 9999, 2]) }]);
  cases.push([['logits', join(HF, 'llama'), '--input', bad, '--out', join(tmp, 'x.safetensors')], /token id 9999 .* outside the vocabulary/]);
  // unknown architecture and missing fields in config.json
  const unknown = join(tmp, 'unknown-arch');
  cpSync(join(HF, 'llama'), unknown, { recursive: true });
  writeFileSync(join(unknown, 'config.json'), JSON.stringify({ model_type: 'mamba', hidden_size: 8 }));
  cases.push([['info', unknown], /model_type "mamba" is not supported/]);
  const missing = join(tmp, 'missing-field');
  cpSync(join(HF, 'llama'), missing, { recursive: true });
  const cfg = JSON.parse(readFileSync(join(HF, 'llama/config.json'), 'utf8'));
  delete cfg.hidden_size;
  writeFileSync(join(missing, 'config.json'), JSON.stringify(cfg));
  cases.push([['info', missing], /no "hidden_size"/]);
  // a truncated checkpoint
  const trunc = join(tmp, 'truncated');
  cpSync(join(HF, 'llama'), trunc, { recursive: true });
  const bytes = readFileSync(join(trunc, 'model.safetensors'));
  writeFileSync(join(trunc, 'model.safetensors'), bytes.subarray(0, bytes.length / 2));
  cases.push([['generate', trunc, '--tokenizer', join(root, 'assets/stories260K/tok512.bin'), '--max-tokens', '2'], /error: .*model\.safetensors/]);
  for (const [args, pattern] of cases) {
    const r = rrt(...args);
    assert.notEqual(r.code, 0, `${args.join(' ')} should fail`);
    assert.match(r.stderr, pattern, args.join(' '));
    assert.doesNotMatch(r.stderr, /\n\s+at /, `${args.join(' ')} printed a stack trace`);
  }
});

test('an unsupported hidden_act, a bad RRT_THREADS and a non-recursive model for bench throughput each get one error line', () => {
  const act = join(tmp, 'unsupported-act');
  cpSync(join(HF, 'llama'), act, { recursive: true });
  const cfg = JSON.parse(readFileSync(join(HF, 'llama/config.json'), 'utf8'));
  writeFileSync(join(act, 'config.json'), JSON.stringify({ ...cfg, hidden_act: 'swiglu_x' }));
  assertOneErrorLine(rrt('info', act), /^error: llama: activation "swiglu_x" is not supported/, 'hidden_act');
  for (const threads of ['0', 'two', '1.5'])
    assertOneErrorLine(rrtWithEnv({ RRT_THREADS: threads }, 'info'), new RegExp(`^error: RRT_THREADS must be a positive integer, got '${threads.replace('.', '\\.')}'`), `RRT_THREADS=${threads}`);
  assertOneErrorLine(rrt('bench', 'throughput', join(HF, 'llama')), /^error: .*llama is not a recursive checkpoint: bench throughput needs a model made by rrt convert/, 'bench throughput');
});

test('config fields rrt does not implement (a yarn rope, logit softcapping) get one error line naming the field', () => {
  const cfg = JSON.parse(readFileSync(join(HF, 'llama/config.json'), 'utf8'));
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ ...cfg, rope_parameters: { rope_type: 'yarn', rope_theta: 10000, factor: 4 } }, /^error: llama: rope type "yarn" is not supported/],
    [{ ...cfg, final_logit_softcapping: 30 }, /^error: llama: final_logit_softcapping \(30\) is not supported/],
  ];
  cases.forEach(([json, pattern], i) => {
    const dir = join(tmp, `unimplemented-${i}`);
    cpSync(join(HF, 'llama'), dir, { recursive: true });
    writeFileSync(join(dir, 'config.json'), JSON.stringify(json));
    assertOneErrorLine(rrt('info', dir), pattern, String(pattern));
  });
});

test('a checkout whose src/ changed after dist/ was compiled is detected (the rrt command then warns)', async () => {
  const { staleDist } = await import('../../src/cli/stale-dist.js');
  const dir = mkdtempSync(join(tmp, 'stale-'));
  assert.equal(staleDist(dir), false, 'no dist, no src');
  mkdirSync(join(dir, 'dist/cli'), { recursive: true });
  mkdirSync(join(dir, 'src/infer'), { recursive: true });
  writeFileSync(join(dir, 'dist/cli/main.js'), '');
  writeFileSync(join(dir, 'src/infer/engine.ts'), '');
  const t0 = new Date('2026-01-01T00:00:00Z'), t1 = new Date('2026-01-02T00:00:00Z');
  utimesSync(join(dir, 'src/infer/engine.ts'), t0, t0);
  utimesSync(join(dir, 'dist/cli/main.js'), t1, t1);
  assert.equal(staleDist(dir), false, 'dist compiled after the last edit');
  utimesSync(join(dir, 'src/infer/engine.ts'), t1, new Date(t1.getTime() + 1000));
  assert.equal(staleDist(dir), true, 'a nested source edited after the build');
  utimesSync(join(dir, 'src/infer/engine.ts'), t1, t1);
  assert.equal(staleDist(dir), false, 'same mtime (an installed package) is not stale');
});

test('rrt info --cpu names the CPU, the ISA levels and the quantized kernel in use', () => {
  const r = rrt('info', '--cpu', '--json');
  assert.equal(r.code, 0, r.stderr);
  const cpu = JSON.parse(r.stdout).cpu as { model: string; best: string; active: string; quant: string };
  assert.ok(cpu.model.length > 0);
  assert.ok(['avx512-vnni', 'avx2', 'scalar', 'reference (TypeScript)'].includes(cpu.quant), cpu.quant);
  const text = rrt('info', '--cpu');
  assert.match(text.stdout, /cpu .*: best \w+, active \w+; q8_0\/q4_0 kernels /);
});
