// `rrt demo` end to end: the --quick run as a child process, its report rendered in headless
// Chromium (every chart laid out with visible data), and the refusals: an existing output
// folder, an unknown model, an interrupted run (no report.html). A missing Chromium is
// installed when the tests run as root with apt-get (scripts/install-chromium.sh); otherwise
// the browser test is skipped with the command to run (./chromium.ts).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { type DemoSettings, DEMO_STAGES, runDemo, QUICK_SETTINGS } from '../../src/demo/demo.js';
import { BUNDLED_MODEL } from '../../src/models/load.js';
import { reduceModel } from '../../src/recursive/reduce.js';
import { findOrInstallChromium } from './chromium.js';

const root = new URL('../../', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'rrt-demo-test-'));
const CHART_IDS = ['chart-uptrain', 'chart-exit', 'chart-ppl', 'chart-params', 'chart-exits', 'chart-throughput'];
/** A few seconds per run: enough of every stage to produce every chart. */
const TINY: Partial<DemoSettings> = { uptrainSteps: 3, exitSteps: 2, batchSize: 2, seqLen: 32, evalTokens: 600, window: 64, sampleTokens: 6, bench: { requests: 2, promptLen: 4, genLen: 3, concurrency: 2, rounds: 1, paired: true } };

function rrt(args: string[], timeout: number) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), ...args], { encoding: 'utf8', cwd: root, timeout });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

function runChromium(chromium: string, args: string[], profile: string): string {
  const flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', `--user-data-dir=${profile}`];
  const r = spawnSync(chromium, [...flags, ...args], { encoding: 'utf8', timeout: 60_000, maxBuffer: 64 * 2 ** 20 });
  assert.equal(r.status, 0, `chromium failed (${r.status ?? r.signal}): ${r.stderr.slice(-2000)}`);
  return r.stdout;
}

/** Measures every <svg> after layout: a copy of the report gets a script that writes the measurements into the DOM, which --dump-dom returns. */
function measureCharts(chromium: string, report: string): { id: string | null; w: number; h: number; series: number }[] {
  const probe = `<script>window.addEventListener('load', () => {
    const out = [...document.querySelectorAll('svg')].map((s) => {
      const b = s.getBoundingClientRect();
      const visible = [...s.querySelectorAll('.series')].filter((e) => { const r = e.getBoundingClientRect(); return r.width > 0 || r.height > 0; });
      return { id: s.closest('figure')?.id ?? null, w: b.width, h: b.height, series: visible.length };
    });
    const pre = document.createElement('pre'); pre.id = 'rrt-check'; pre.textContent = JSON.stringify(out); document.body.appendChild(pre);
  });</script>`;
  const page = join(tmp, 'probe.html');
  writeFileSync(page, readFileSync(report, 'utf8').replace('</body>', `${probe}</body>`));
  const dom = runChromium(chromium, ['--dump-dom', `file://${page}`], join(tmp, 'profile-dom'));
  const m = /<pre id="rrt-check">(.*?)<\/pre>/s.exec(dom);
  assert.ok(m, `the probe did not run; dumped DOM ends: ${dom.slice(-500)}`);
  return JSON.parse(m[1].replace(/&quot;/g, '"').replace(/&amp;/g, '&'));
}

const quickReport = join(tmp, 'quick', 'report.html');

test('rrt demo --quick finishes in time and writes a self-contained report', () => {
  const out = join(tmp, 'quick');
  const t0 = performance.now();
  const r = rrt(['demo', '--quick', '--out', out], 150_000);
  const seconds = (performance.now() - t0) / 1000;
  assert.equal(r.code, 0, `exit ${r.code ?? r.signal} after ${seconds.toFixed(0)} s: ${r.stderr.slice(-3000)}`);
  // every stage announced itself on stderr; the layer selection was explained
  for (const s of DEMO_STAGES) assert.match(r.stderr, new RegExp(`\\] ${s}\\n`));
  assert.match(r.stderr, /kept layers 0, 1, 3, 4/);
  // the summary table, every model row, and the sample with early-exit brackets (stdout is not a TTY)
  for (const label of ['original (5 layers)', 'relaxed, converted (before training)', 'relaxed, uptrained', 'strictly recursive, uptrained', 'reduced-size (2 layers), uptrained', 'depthwise_exit', 'vanilla_batched'])
    assert.ok(r.stdout.includes(`| ${label} |`), `summary lacks ${label}:\n${r.stdout}`);
  assert.match(r.stdout, /Once upon a time/);

  const report = join(out, 'report.html');
  assert.ok(existsSync(report));
  assert.deepEqual(readdirSync(out).filter((f) => f.includes('.tmp')), []);
  const html = readFileSync(report, 'utf8');
  // self-contained: no fetches of any kind (the SVG namespace URI is an identifier, not a fetch)
  assert.doesNotMatch(html, /\b(src|href|srcset|action)\s*=/i);
  assert.doesNotMatch(html, /url\(|@import/i);
  assert.deepEqual([...html.matchAll(/https?:\/\/[^\s"'<>]+/g)].map((m) => m[0]).filter((u) => u !== 'http://www.w3.org/2000/svg'), []);
  // one coloured span per generated token, each with its loop
  const spans = [...html.matchAll(/<span class="tok loop(\d)"/g)].map((m) => Number(m[1]));
  assert.ok(spans.length > 0 && spans.length <= QUICK_SETTINGS.sampleTokens && spans.every((b) => b === 1 || b === 2), `sample spans: ${spans}`);
  process.stderr.write(`# demo --quick: ${seconds.toFixed(1)} s\n`);
});

test('the --quick report\'s six charts render non-empty in headless Chromium', (t) => {
  const browser = findOrInstallChromium();
  if ('skip' in browser) {
    t.diagnostic(browser.skip);
    t.skip(browser.skip);
    return;
  }
  const report = quickReport;
  assert.ok(existsSync(report), 'no report: the --quick run above failed');
  const charts = measureCharts(browser.path, report);
  assert.deepEqual(charts.map((c) => c.id), CHART_IDS, JSON.stringify(charts));
  for (const c of charts) {
    assert.ok(c.w > 100 && c.h > 50, `${c.id} is laid out at ${c.w}×${c.h}`);
    assert.ok(c.series >= 1, `${c.id} draws no visible data`);
  }
  const shot = join(tmp, 'report.png');
  runChromium(browser.path, ['--hide-scrollbars', '--window-size=1400,2600', `--screenshot=${shot}`, `file://${report}`], join(tmp, 'profile-shot'));
  assert.ok(existsSync(shot) && statSync(shot).size > 20_000, 'the screenshot is missing or blank');
  process.stderr.write(`# screenshot: ${shot}\n`);
});

test('rrt demo refuses an existing output folder without --force and leaves it untouched', () => {
  const out = join(tmp, 'existing');
  mkdirSync(out);
  writeFileSync(join(out, 'keep.txt'), 'mine');
  const r = rrt(['demo', '--quick', '--out', out], 60_000);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /already exists; pass --force/);
  assert.deepEqual(readdirSync(out), ['keep.txt']);
});

test('rrt demo with an unknown model path fails with a clear error and creates nothing', () => {
  const out = join(tmp, 'no-model');
  const r = rrt(['demo', '--quick', '--model', join(tmp, 'missing.bin'), '--out', out], 60_000);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^error: model not found: .*missing\.bin/m);
  assert.ok(!existsSync(out));
});

test('an interrupted demo leaves no report.html, neither mid-pipeline nor between writing the report and publishing it', async () => {
  const out = join(tmp, 'interrupted');
  const stop = new Error('interrupted by the test');
  await assert.rejects(runDemo({ out, settings: TINY }, { onStage: (s) => { if (s === 'throughput') throw stop; } }), stop);
  assert.ok(existsSync(join(out, 'work')), 'the run got under way');
  assert.ok(!existsSync(join(out, 'report.html')));
  // the report was written under its temp name, then the run died before the rename
  let sawTemp = false;
  await assert.rejects(
    runDemo({ out, force: true, settings: TINY }, {
      onProgress: (_d, _t, label) => {
        if (label !== 'written') return;
        sawTemp = readdirSync(out).some((f) => f.startsWith('report.html.tmp'));
        throw stop;
      },
    }),
    stop,
  );
  assert.ok(sawTemp, 'the report was not staged under a temp name');
  assert.deepEqual(readdirSync(out).filter((f) => f.startsWith('report.html')), []);
  // the same run without the interruption does publish it
  const r = await runDemo({ out, force: true, settings: TINY });
  assert.equal(r.reportPath, join(out, 'report.html'));
  assert.ok(existsSync(r.reportPath));
});

test('demo runs on an HF checkpoint with its own tokenizer and a --data text, holding out its last documents', async () => {
  const model = join(tmp, 'hf-4layers');
  reduceModel(BUNDLED_MODEL, model, 4); // an HF folder (config.json, safetensors, tokenizer)
  const text = join(tmp, 'stories.txt');
  const stories = readFileSync(join(root, 'assets/tinystories/valid.txt'), 'utf8').split(/\n\s*\n/).slice(0, 60);
  writeFileSync(text, stories.join('\n\n'));
  const logs: string[] = [];
  const r = await runDemo({ out: join(tmp, 'hf'), model, data: text, settings: TINY }, { onLog: (l) => logs.push(l) });
  assert.equal(r.selectionNote, null, '4 layers split evenly into 2 loops');
  assert.deepEqual(r.selectedLayers, [0, 1, 2, 3]);
  assert.ok(logs.some((l) => l.includes('54 documents for training, the last 6 held out')), logs.join('\n'));
  assert.equal(r.rows.length, 7);
  for (const row of r.rows) assert.ok(Number.isFinite(row.ppl) && row.ppl > 1, `${row.label}: ppl ${row.ppl}`);
  assert.ok(existsSync(r.reportPath));
});
