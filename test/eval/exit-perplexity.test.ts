// Perplexity under early exit: threshold above 1 never exits (equals the full-depth perplexity),
// threshold 0 always exits after loop 1 (equals the loop-1 perplexity); in between, loops fall as
// the threshold falls.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { exitPerplexity } from '../../src/eval/exit-perplexity.js';
import { perplexity } from '../../src/eval/perplexity.js';
import { tokenizeFile } from '../../src/eval/text.js';
import { BUNDLED_MODEL, loadModel } from '../../src/models/load.js';
import { convertToRecursive } from '../../src/recursive/convert.js';
import { noGrad } from '../../src/tensor/autograd.js';

const tmp = mkdtempSync(join(tmpdir(), 'rrt-exitppl-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const VALID = new URL('../../assets/tinystories/valid.txt', import.meta.url).pathname;

test('exit perplexity matches full-depth and loop-1 perplexity at the extreme thresholds, and loops fall with the threshold', () => {
  convertToRecursive(BUNDLED_MODEL, join(tmp, 'r'), { nLoops: 2, init: 'average', loraRank: 4 });
  const m = loadModel(join(tmp, 'r'));
  const tokens = tokenizeFile(VALID, m.tokenizer!, { maxTokens: 64 * 4 + 1 });
  const [never, half, always] = exitPerplexity(m.decoder, tokens, [1.01, 0.5, 0], { window: 64 });
  const full = perplexity(m.decoder, tokens, { window: 64 });
  const loop1 = perplexity(m.decoder, tokens, { window: 64, logits: (ids, B, T) => noGrad(() => m.decoder.forward(ids, B, T, { exitAfterLoop: 1 }).logits.f32) });
  // perplexity() scores 63 tokens per window without carried context; exitPerplexity 64 (the next window's first token as target)
  assert.ok(Math.abs(never.nll - full.nll) / full.nll < 0.02, `never exit ${never.nll} vs full ${full.nll}`);
  assert.ok(Math.abs(always.nll - loop1.nll) / loop1.nll < 0.02, `always exit ${always.nll} vs loop 1 ${loop1.nll}`);
  assert.equal(never.meanLoops, 2);
  assert.equal(always.meanLoops, 1);
  assert.deepEqual(always.histogram, [256, 0]);
  // between the extremes some tokens exit and some do not: fewer loops than never, more than always
  assert.ok(never.meanLoops > half.meanLoops && half.meanLoops > always.meanLoops, `mean loops at thresholds 1.01, 0.5, 0: ${never.meanLoops}, ${half.meanLoops}, ${always.meanLoops}`);
  assert.equal(half.histogram[0] + half.histogram[1], 256);
});
