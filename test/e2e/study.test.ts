// The study pipeline (scripts/study/) at toy sizes: every variant is trained and measured, the
// report and its plots are written, and a rerun resumes — it redoes only what results.json lacks.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { runStudy, type StudyResults } from '../../scripts/study/main.js';
import { PRESETS, variants } from '../../scripts/study/plan.js';

const tmp = mkdtempSync(join(tmpdir(), 'rrt-study-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

test('the smoke study trains and measures every variant, writes the report with its plots, and resumes without redoing work', async () => {
  const work = join(tmp, 'work'), docs = join(tmp, 'docs');
  const r = await runStudy({ preset: 'smoke', work, docs, quiet: true });
  const keys = variants(PRESETS.smoke).map((v) => v.key);
  assert.deepEqual(Object.keys(r.variants), keys);
  for (const k of keys) assert.ok(Number.isFinite(r.variants[k].after.ppl) && r.variants[k].after.ppl > 1, `${k}: ppl ${r.variants[k].after.ppl}`);
  // recursive variants store fewer unique parameters than the full-size model; reduced and strict the same count
  assert.ok(r.variants['strict-stepwise-kd'].after.params < r.variants.full.after.params);
  assert.equal(r.variants['strict-stepwise-kd'].after.params, r.variants['reduced-kd'].after.params);
  assert.ok(r.speed && r.speed.every((s) => s.plain.tokensPerS > 0));
  const md = readFileSync(join(docs, 'README.md'), 'utf8');
  for (const svg of ['pretrain.svg', 'ppl-vs-params.svg', 'ppl-vs-rank.svg', 'uptrain-loss.svg', 'throughput-frontier.svg']) {
    assert.ok(md.includes(`(${svg})`), `README links ${svg}`);
    assert.match(readFileSync(join(docs, svg), 'utf8'), /<svg[\s\S]*class="series"/, `${svg} has data`);
  }
  assert.match(md, /\| paper's finding \|/);
  assert.ok(existsSync(join(docs, 'corpus-sample.txt')));

  // resume: drop one variant's result; the rerun measures only that one
  const path = join(work, 'results.json');
  const saved = JSON.parse(readFileSync(path, 'utf8')) as StudyResults;
  const trainSeconds = saved.timings['train full'];
  delete saved.variants['relaxed-average-r2'];
  writeFileSync(path, JSON.stringify(saved));
  const again = await runStudy({ preset: 'smoke', work, docs, quiet: true });
  assert.deepEqual(Object.keys(again.variants).sort(), [...keys].sort());
  assert.equal(again.timings['train full'], trainSeconds, 'finished variants are not retrained');
  assert.equal(again.corpus?.documents, r.corpus?.documents);
});

test('a work folder made with other settings is refused rather than mixed', async () => {
  const work = join(tmp, 'other');
  await runStudy({ preset: 'smoke', work, docs: join(tmp, 'docs2'), quiet: true });
  const path = join(work, 'results.json');
  const saved = JSON.parse(readFileSync(path, 'utf8'));
  saved.preset.uptrain.steps += 1;
  writeFileSync(path, JSON.stringify(saved));
  await assert.rejects(runStudy({ preset: 'smoke', work, docs: join(tmp, 'docs2'), quiet: true }), /other settings/);
});
