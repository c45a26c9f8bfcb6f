// Task loaders on the fixture excerpts (fixtures/eval, the first lines of each data/eval file)
// and few-shot drawing/formatting.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { InputError } from '../../src/errors.js';
import { fewShotIndices, parseTask, TASKS, withShots, type Example } from '../../src/eval/tasks.js';

const DATA = new URL('../../fixtures/eval/', import.meta.url).pathname;
const jsonl = (file: string) => readFileSync(join(DATA, file), 'utf8').trim().split('\n').map((l) => JSON.parse(l));

test('every task loads its 20-example excerpt with one gold per example inside its choices', () => {
  for (const spec of Object.values(TASKS)) {
    const exs = spec.load(DATA);
    assert.equal(exs.length, 20, spec.name);
    for (const ex of exs) {
      const n = Math.max(ex.contexts.length, ex.continuations.length);
      assert.ok(n >= 1 && ex.gold >= 0 && ex.gold < n, `${spec.name}: gold ${ex.gold} of ${n}`);
      assert.ok(ex.continuations.every((c) => c.startsWith(' ')), `${spec.name}: continuations start with the target delimiter`);
    }
  }
});

test('PIQA keeps the original solutions byte for byte (trailing spaces too) with golds from valid-labels.lst', () => {
  const raw = jsonl('piqa/valid.jsonl');
  const labels = readFileSync(join(DATA, 'piqa/valid-labels.lst'), 'utf8').trim().split('\n').map(Number);
  const exs = TASKS.piqa.load(DATA);
  exs.forEach((ex, i) => {
    assert.deepEqual(ex.contexts, [`Question: ${raw[i].goal}\nAnswer:`]);
    assert.deepEqual(ex.continuations, [' ' + raw[i].sol1, ' ' + raw[i].sol2]);
    assert.equal(ex.gold, labels[i]);
  });
  assert.equal(exs[1].continuations[1], ' finish, woodgrain with  bobby pin ', 'the llm-foundry copy strips this one');
});

test('ARC queries get lm-eval\'s "\\nAnswer:" suffix; OpenBookQA keeps the bare stem', () => {
  for (const [name, file, suffix] of [['arc-easy', 'arc_easy/arc_easy.jsonl', '\nAnswer:'], ['arc-challenge', 'arc_challenge/arc_challenge.jsonl', '\nAnswer:'], ['openbookqa', 'openbookqa/openbook_qa.jsonl', '']] as const) {
    const raw = jsonl(file);
    TASKS[name].load(DATA).forEach((ex, i) => {
      assert.deepEqual(ex.contexts, [raw[i].query + suffix]);
      assert.deepEqual(ex.continuations, raw[i].choices.map((c: string) => ' ' + c));
      assert.equal(ex.gold, raw[i].gold);
    });
  }
  assert.match(TASKS['arc-easy'].load(DATA)[0].contexts[0], /^Question: Which statement .*\?\nAnswer:$/);
});

test('HellaSwag reads 6-line tasks: context, gold, 4 endings', () => {
  const lines = readFileSync(join(DATA, 'hellaswag/hellaswag_val_full.txt'), 'utf8').split('\n');
  const exs = TASKS.hellaswag.load(DATA);
  assert.deepEqual(exs[0].contexts, ['Roof shingle removal: A man is sitting on a roof. he']);
  assert.equal(exs[0].gold, 3);
  assert.equal(exs[0].continuations[3], ' starts pulling up roofing on a roof.');
  exs.forEach((ex, i) => {
    assert.equal(ex.gold, Number(lines[6 * i + 1]));
    assert.deepEqual(ex.continuations, lines.slice(6 * i + 2, 6 * i + 6).map((l) => ' ' + l));
  });
});

test('WinoGrande is partial scoring: two contexts, one continuation', () => {
  const raw = jsonl('winogrande/winogrande.jsonl');
  TASKS.winogrande.load(DATA).forEach((ex, i) => {
    assert.deepEqual(ex.contexts, raw[i].context_options);
    assert.deepEqual(ex.continuations, [' ' + raw[i].continuation]);
    assert.equal(ex.gold, raw[i].gold);
  });
});

test('LAMBADA splits each text at its last space; context + continuation is the text', () => {
  const raw = jsonl('lambada_openai/lambada_test.jsonl');
  const exs = TASKS.lambada.load(DATA);
  exs.forEach((ex, i) => assert.equal(ex.contexts[0] + ex.continuations[0], raw[i].text));
  assert.equal(exs[0].continuations[0], ' signs');
  assert.ok(exs.every((ex) => !ex.continuations[0].slice(1).includes(' ')));
});

test('a missing data file names the path and --data-dir', () => {
  assert.throws(() => TASKS.piqa.load('/nonexistent'), (e: unknown) => e instanceof InputError && /\/nonexistent\/piqa\/valid\.jsonl.*--data-dir/.test(e.message));
});

test('parseTask accepts registry names, ppl:FILE and ids:FILE and lists the valid names otherwise', () => {
  assert.equal(parseTask('hellaswag').kind, 'registry');
  assert.deepEqual(parseTask('ppl:a/b.txt'), { kind: 'ppl', name: 'ppl:a/b.txt', path: 'a/b.txt' });
  assert.deepEqual(parseTask('ids:x.json'), { kind: 'ids', name: 'ids:x.json', path: 'x.json' });
  assert.throws(() => parseTask('hellaswg'), /unknown task 'hellaswg'; valid tasks: piqa, arc-easy, .*lambada, ppl:FILE/);
  assert.throws(() => parseTask('ppl:'), /unknown task/);
});

test('few-shot draws are deterministic per (seed, example), distinct, and never the scored example', () => {
  for (let i = 0; i < 50; i++) {
    const a = fewShotIndices(50, i, 5, 7);
    assert.deepEqual(a, fewShotIndices(50, i, 5, 7));
    assert.equal(new Set(a).size, 5);
    assert.ok(!a.includes(i) && a.every((j) => j >= 0 && j < 50));
  }
  // the whole pool minus the scored example, for k = n − 1
  assert.deepEqual([...fewShotIndices(6, 2, 5, 1)].sort(), [0, 1, 3, 4, 5]);
  const bySeed = (s: number) => Array.from({ length: 20 }, (_, i) => fewShotIndices(50, i, 3, s).join(','));
  assert.notDeepEqual(bySeed(1), bySeed(2), 'the seed matters');
  assert.throws(() => fewShotIndices(5, 0, 5, 1), /--shots 5 needs at least 6 examples/);
});

test('shots are formatted as lm-eval joins them: demonstrations + "\\n\\n" before each context', () => {
  const pool = TASKS.piqa.load(DATA);
  const idx = fewShotIndices(pool.length, 3, 2, 99);
  const demo = (ex: Example) => ex.contexts[0] + ex.continuations[ex.gold];
  const shot = withShots(TASKS.piqa, pool, 3, 2, 99);
  assert.deepEqual(shot.contexts, [demo(pool[idx[0]]) + '\n\n' + demo(pool[idx[1]]) + '\n\n' + pool[3].contexts[0]]);
  assert.deepEqual(shot.continuations, pool[3].continuations);
  assert.equal(withShots(TASKS.piqa, pool, 3, 0, 99), pool[3]);

  // partial scoring: the demonstration is the gold context option + the continuation; every option gets the prefix
  const wino = TASKS.winogrande.load(DATA);
  const w = withShots(TASKS.winogrande, wino, 0, 1, 5);
  const j = fewShotIndices(wino.length, 0, 1, 5)[0];
  const prefix = wino[j].contexts[wino[j].gold] + wino[j].continuations[0] + '\n\n';
  assert.deepEqual(w.contexts, wino[0].contexts.map((c) => prefix + c));

  // LAMBADA: lm-eval puts its target delimiter before a target that already starts with a space
  const lam = TASKS.lambada.load(DATA);
  const k = fewShotIndices(lam.length, 0, 1, 5)[0];
  assert.equal(withShots(TASKS.lambada, lam, 0, 1, 5).contexts[0], lam[k].contexts[0] + '  ' + lam[k].continuations[0].slice(1) + '\n\n' + lam[0].contexts[0]);
});
