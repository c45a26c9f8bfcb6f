// Progress where stderr is not a terminal (a log, a pipe): plain lines at a steady pace.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { progressBar } from '../../src/cli/progress.js';

function fakeLog() {
  const lines: string[] = [];
  let ms = 0;
  return { lines, stream: { isTTY: false, write: (text: string) => lines.push(text) }, now: () => ms, at: (t: number) => (ms = t) };
}

test('off a terminal, progress prints one plain line each time 10 s have passed, with the percentage, the counts and the label', () => {
  const log = fakeLog();
  const bar = progressBar('[2/7] uptrain   ', { stream: log.stream, now: log.now });
  for (const [t, done] of [[0, 0], [4_000, 1], [9_999, 2], [10_000, 3], [15_000, 4], [20_500, 5], [20_600, 6]]) {
    log.at(t);
    bar.update(done, 8, `step ${done}`);
  }
  bar.stop();
  assert.deepEqual(log.lines, ['[2/7] uptrain 37% (3/8) step 3\n', '[2/7] uptrain 62% (5/8) step 5\n']);
});

test('off a terminal, work shorter than 10 s prints nothing', () => {
  const log = fakeLog();
  const bar = progressBar('convert', { stream: log.stream, now: log.now });
  for (let i = 0; i <= 10; i++) {
    log.at(i * 900);
    bar.update(i, 10, '');
  }
  bar.stop();
  assert.deepEqual(log.lines, []);
});
