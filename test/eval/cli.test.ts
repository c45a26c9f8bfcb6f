// `rrt eval` end to end (a child process per call) on the bundled stories260K model and the
// fixture excerpts: the JSON lines, the published reference NLL, --exits, and bad input.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { loadTokenizer } from '../../src/formats/tokenizers/index.js';
import { convertToRecursive } from '../../src/recursive/convert.js';
import { prepareTokenFile } from '../../src/train/data.js';

const root = new URL('../../', import.meta.url).pathname;
const MODEL = join(root, 'assets/stories260K/stories260K.bin');
const DATA = join(root, 'fixtures/eval');
const TEXT = join(DATA, 'text/tinystories_valid_head.txt');
const tmp = mkdtempSync(join(tmpdir(), 'rrt-eval-'));
const ref = JSON.parse(readFileSync(join(root, 'assets/stories260K/reference_outputs.json'), 'utf8'));

function rrt(args: string[], cwd = root, pkg = root) {
  // tsx by path: the bare name resolves from cwd, which is not always the repository
  const tsx = pathToFileURL(join(root, 'node_modules/tsx/dist/loader.mjs')).href;
  const r = spawnSync(process.execPath, ['--import', tsx, join(pkg, 'src/cli/main.ts'), 'eval', ...args], { encoding: 'utf8', cwd, timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const jsonLines = (stdout: string) => stdout.trim().split('\n').map((l) => JSON.parse(l));

test('rrt eval --json prints one {task, n, metrics} line per task and a table on stderr', () => {
  const r = rrt([MODEL, '--task', `ppl:${TEXT}`, '--task', 'piqa', '--limit', '5', '--json', '--data-dir', DATA]);
  assert.equal(r.code, 0, r.stderr);
  const [ppl, piqa] = jsonLines(r.stdout);
  assert.deepEqual(Object.keys(ppl), ['task', 'n', 'metrics']);
  assert.equal(ppl.task, `ppl:${TEXT}`);
  assert.deepEqual(Object.keys(ppl.metrics).sort(), ['nll', 'ppl']);
  assert.ok(ppl.n > 100 && Number.isInteger(ppl.n), `tokens scored: ${ppl.n}`);
  // stories260K on TinyStories validation text: its model card reports a loss of 1.30
  assert.ok(ppl.metrics.nll > 0.8 && ppl.metrics.nll < 2.5, `nll ${ppl.metrics.nll}`);
  assert.ok(Math.abs(ppl.metrics.ppl - Math.exp(ppl.metrics.nll)) < 1e-9 * ppl.metrics.ppl);
  assert.deepEqual(piqa, { task: 'piqa', n: 5, metrics: piqa.metrics });
  assert.deepEqual(Object.keys(piqa.metrics).sort(), ['acc', 'acc_norm']);
  for (const v of Object.values(piqa.metrics) as number[]) assert.ok(Number.isInteger(v * 5) && v >= 0 && v <= 1);
  assert.match(r.stderr, /piqa\s+5\s+acc\s+\d\.\d{4}/);
});

test('rrt eval reproduces the published teacher-forced NLL of stories260K on its greedy text (0.457346 over 256 tokens)', () => {
  const want = ref.teacher_forced_nll_on_unconditional_greedy;
  // through ids: BOS + the 256 greedy ids
  const ids = join(tmp, 'greedy.json');
  writeFileSync(ids, JSON.stringify([1, ...ref.unconditional_greedy.generated_ids]));
  // through ppl: the decoded text re-encodes to the same ids, but text.ts splits a file with no blank
  // line into one document per line; two copies separated by a blank line, one window each, score it whole
  const text = join(tmp, 'greedy.txt');
  writeFileSync(text, `${ref.unconditional_greedy.text}\n\n${ref.unconditional_greedy.text}\n`);
  const r = rrt([MODEL, '--task', `ids:${ids}`, '--task', `ppl:${text}`, '--window', '257']);
  assert.equal(r.code, 0, r.stderr);
  const [a, b] = jsonLines(r.stdout);
  assert.equal(a.n, want.n_tokens);
  assert.ok(Math.abs(a.metrics.nll - want.mean_nll_nats) < 5e-6, `ids: ${a.metrics.nll}`);
  assert.equal(b.n, 2 * want.n_tokens);
  assert.ok(Math.abs(b.metrics.nll - want.mean_nll_nats) < 5e-6, `ppl: ${b.metrics.nll}`);
});

test('ppl: of a packed token file (DATA.bin + sidecar) equals ppl: of the text it was made from; --limit caps its tokens', () => {
  const bin = join(tmp, 'stories.bin');
  prepareTokenFile([TEXT], bin, { tokenizer: loadTokenizer(join(root, 'assets/stories260K/tok512.bin')) });
  const r = rrt([MODEL, '--task', `ppl:${TEXT}`, '--task', `ppl:${bin}`]);
  assert.equal(r.code, 0, r.stderr);
  const [text, packed] = jsonLines(r.stdout);
  assert.equal(packed.n, text.n);
  assert.deepEqual(packed.metrics, text.metrics);
  const limited = jsonLines(rrt([MODEL, '--task', `ppl:${bin}`, '--limit', '50']).stdout)[0];
  assert.equal(limited.n, 49);
});

test('lambada and winogrande report their metrics; --shots changes the prompt deterministically', () => {
  const args = [MODEL, '--task', 'lambada', '--task', 'winogrande', '--limit', '4', '--data-dir', DATA];
  const zero = jsonLines(rrt(args).stdout);
  assert.deepEqual(Object.keys(zero[0].metrics).sort(), ['acc', 'ppl', 'token_ppl']);
  assert.ok(zero[0].metrics.ppl > 1);
  assert.deepEqual(Object.keys(zero[1].metrics).sort(), ['acc', 'acc_norm']);
  const s1 = rrt([...args, '--shots', '2', '--seed', '3']);
  assert.equal(s1.code, 0, s1.stderr);
  assert.equal(rrt([...args, '--shots', '2', '--seed', '3']).stdout, s1.stdout);
  assert.notEqual(jsonLines(s1.stdout)[0].metrics.ppl, zero[0].metrics.ppl, 'two demonstrations change the LAMBADA perplexity');
});

test('--exits: refused on a plain model; on a recursive model it reports loops 1..nLoops, the last being the full model', () => {
  const plain = rrt([MODEL, '--task', `ppl:${TEXT}`, '--exits']);
  assert.equal(plain.code, 1);
  assert.match(plain.stderr, /^error: --exits needs a recursive model/m);

  const rec = join(tmp, 'llama-rec');
  convertToRecursive(join(root, 'fixtures/hf/llama'), rec, { nLoops: 2, init: 'average' });
  const ids = join(tmp, 'ids.json');
  writeFileSync(ids, JSON.stringify(Array.from({ length: 100 }, (_, i) => (i * 37) % 512)));
  const r = rrt([rec, '--task', `ids:${ids}`, '--exits']);
  assert.equal(r.code, 0, r.stderr);
  const [line] = jsonLines(r.stdout);
  assert.deepEqual(Object.keys(line.exits), ['1', '2']);
  assert.deepEqual(line.exits['2'], line.metrics, 'exiting after the last loop is the full model');
  assert.notDeepEqual(line.exits['1'], line.metrics);
});

/** Examples in each registry task's full data file. */
const FULL_SIZES: Record<string, number> = { piqa: 1838, 'arc-easy': 2376, 'arc-challenge': 1172, openbookqa: 500, hellaswag: 10042, winogrande: 1267, lambada: 5153 };

test('a copy of the package alone in a folder reads named tasks from its own data/eval: every task at full size, rrt eval with no --data-dir', async () => {
  const pkg = join(mkdtempSync(join(tmpdir(), 'rrt-fresh-')), 'rrt');
  for (const dir of ['src', 'data', 'assets']) cpSync(join(root, dir), join(pkg, dir), { recursive: true });
  cpSync(join(root, 'package.json'), join(pkg, 'package.json'));
  symlinkSync(join(root, 'node_modules'), join(pkg, 'node_modules'));
  assert.deepEqual(readdirSync(dirname(pkg)), ['rrt'], 'nothing beside the package');
  const tasks = (await import(pathToFileURL(join(pkg, 'src/eval/tasks.ts')).href)) as typeof import('../../src/eval/tasks.js');
  assert.equal(tasks.BUNDLED_EVAL_DATA, join(pkg, 'data/eval/'));
  assert.deepEqual(Object.keys(tasks.TASKS).sort(), Object.keys(FULL_SIZES).sort(), 'a full size for every registry task');
  for (const [name, n] of Object.entries(FULL_SIZES)) assert.equal(tasks.TASKS[name].load(tasks.BUNDLED_EVAL_DATA).length, n, name);

  const r = rrt([join(pkg, 'assets/stories260K/stories260K.bin'), '--task', 'piqa', '--limit', '3'], tmp, pkg);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(jsonLines(r.stdout)[0].n, 3);
});

test('bad input: unknown task, missing data dir, --limit 0 or negative, empty text file', () => {
  const unknown = rrt([MODEL, '--task', 'hellaswg', '--data-dir', DATA]);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /^error: unknown task 'hellaswg'; valid tasks: piqa, arc-easy, arc-challenge, openbookqa, hellaswag, winogrande, lambada, ppl:FILE, ids:FILE.json$/m);

  const badDir = rrt([MODEL, '--task', 'piqa', '--data-dir', join(tmp, 'nope')]);
  assert.match(badDir.stderr, /^error: --data-dir .*nope is not a directory/m);

  for (const limit of ['0', '-3']) {
    const r = rrt([MODEL, '--task', 'piqa', '--data-dir', DATA, '--limit', limit]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`--limit <n>' argument '${limit}' is invalid`));
  }

  const empty = join(tmp, 'empty.txt');
  writeFileSync(empty, '\n \n\n');
  const e = rrt([MODEL, '--task', `ppl:${empty}`]);
  assert.equal(e.code, 1);
  assert.match(e.stderr, /^error: .*empty\.txt holds no text$/m);
  assert.equal(e.stdout, '');
});
