// lm-eval-style scoring: _encode_pair, batched scoring against one float64 forward per
// (context, continuation) pair on the bundled stories260K model, acc/acc_norm, truncation.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { choiceBytes, choiceResult, encodePair, exampleRequests, scoreChoices, scoreRequests, tokenRequest, type TokenRequest } from '../../src/eval/multiple-choice.js';
import { evaluate } from '../../src/eval/evaluate.js';
import { TASKS, type Example } from '../../src/eval/tasks.js';
import type { Tokenizer } from '../../src/formats/tokenizers/index.js';
import { BUNDLED_MODEL, loadModel } from '../../src/models/load.js';
import { convertToRecursive } from '../../src/recursive/convert.js';
import { noGrad } from '../../src/tensor/autograd.js';

const DATA = new URL('../../fixtures/eval/', import.meta.url).pathname;
const model = loadModel(BUNDLED_MODEL);
const tok = model.tokenizer!;

/** Characters as ids, except that "ab" is one token (so a context's tokens need not prefix the whole's). */
const mergeTok: Tokenizer = {
  vocabSize: 1001,
  bosId: null,
  eosId: null,
  encode(s: string) {
    const out: number[] = [];
    for (let i = 0; i < s.length; i++) {
      if (s.startsWith('ab', i)) {
        out.push(1000);
        i++;
      } else out.push(s.charCodeAt(i));
    }
    return out;
  },
  decode: () => '',
  streamDecoder: () => ({ push: () => '', flush: () => '' }),
};
const codes = (s: string) => [...s].map((c) => c.charCodeAt(0));

test('_encode_pair: trailing context whitespace moves to the continuation', () => {
  assert.deepEqual(encodePair(mergeTok, 'Answer: ', 'yes'), { context: codes('Answer:'), continuation: codes(' yes') });
  assert.deepEqual(encodePair(mergeTok, 'Q\n\n \t', 'x'), { context: codes('Q'), continuation: codes('\n\n \tx') });
  assert.deepEqual(encodePair(mergeTok, 'Q', ' x'), { context: codes('Q'), continuation: codes(' x') });
});

test('_encode_pair: continuation tokens are the whole encoding after the context\'s token count, even across a merge', () => {
  // "ya" → [y, a]; "yabc" → [y, ab, c]: lm-eval keeps whole[2:] = [c], not encode("bc")
  assert.deepEqual(encodePair(mergeTok, 'ya', 'bc'), { context: codes('ya'), continuation: codes('c') });
  // with the real tokenizer: whole[len(ctx):], and the request prepends BOS
  const ctx = 'Question: How do I ready a guinea pig cage?\nAnswer: ';
  const r = tokenRequest(tok, ctx, 'Provide the guinea pig with a cage.');
  const c = tok.encode(ctx.trimEnd(), { addSpecialTokens: false });
  assert.deepEqual(r.context, [tok.bosId, ...c]);
  assert.deepEqual(r.continuation, tok.encode(ctx + 'Provide the guinea pig with a cage.', { addSpecialTokens: false }).slice(c.length));
});

test('an empty context is BOS alone and the continuation is encoded by itself', () => {
  assert.deepEqual(tokenRequest(tok, '', ' Once upon'), { context: [1], continuation: tok.encode(' Once upon', { addSpecialTokens: false }) });
  assert.throws(() => tokenRequest(mergeTok, '', 'x'), /neither BOS nor EOS/);
});

/** One unbatched forward per request, lm-eval's left truncation, log-softmax in float64. */
function bruteForce(req: TokenRequest): { logprob: number; greedy: boolean } {
  const maxLen = model.config.maxPositions, V = model.config.vocabSize;
  const all = [...req.context, ...req.continuation].slice(-(maxLen + 1));
  const input = Int32Array.from(all.slice(0, -1));
  const n = Math.min(req.continuation.length, input.length);
  const logits = noGrad(() => model.decoder.forward(input, 1, input.length).logits.f32);
  let logprob = 0, greedy = true;
  for (let j = 0; j < n; j++) {
    const t = input.length - n + j, target = all[t + 1];
    const row = Array.from(logits.subarray(t * V, (t + 1) * V));
    const max = Math.max(...row);
    const lse = max + Math.log(row.reduce((s, x) => s + Math.exp(x - max), 0));
    logprob += row[target] - lse;
    if (row.indexOf(max) !== target) greedy = false;
  }
  return { logprob, greedy };
}

test('batched scoring equals one float64 forward per (context, choice) on stories260K, for every task kind', () => {
  const examples: Example[] = [
    ...TASKS.piqa.load(DATA).slice(0, 4),
    ...TASKS.hellaswag.load(DATA).slice(0, 3),
    ...TASKS.winogrande.load(DATA).slice(0, 3),
    ...TASKS.lambada.load(DATA).slice(0, 3),
    ...TASKS.openbookqa.load(DATA).slice(0, 2),
  ];
  // plus the reference's own greedy continuation of "Once upon a time", which must come out greedy
  const ref = JSON.parse(readFileSync(new URL('../../assets/stories260K/reference_outputs.json', import.meta.url), 'utf8')).prompt_once_upon_a_time;
  const requests = [...examples.flatMap((ex) => exampleRequests(tok, ex)), { context: ref.prompt_ids_runc_encode, continuation: ref.generated_ids_64.slice(0, 12) }];
  // a small batch budget so that rows of different lengths share passes
  const batched = scoreRequests(model.decoder, requests, { batchTokens: 300 });
  let greedySeen = 0;
  requests.forEach((r, i) => {
    const want = bruteForce(r);
    assert.ok(Math.abs(batched[i].logprob - want.logprob) <= 1e-4 * Math.max(1, Math.abs(want.logprob)), `request ${i}: ${batched[i].logprob} vs ${want.logprob}`);
    assert.equal(batched[i].greedy, want.greedy, `request ${i} greedy`);
    assert.equal(batched[i].tokens, r.continuation.length);
    greedySeen += want.greedy ? 1 : 0;
  });
  assert.ok(batched[requests.length - 1].greedy, 'the reference greedy continuation is greedy');
  assert.ok(greedySeen < requests.length, 'and the others are not all greedy');
});

test('inputs longer than the context are truncated on the left, as lm-eval does', () => {
  const long = 'Once upon a time there was a dog named Max. '.repeat(60);
  const reqs = [tokenRequest(tok, long, ' He was happy.'), tokenRequest(tok, 'Lily', ' ' + long)];
  assert.ok(reqs[0].context.length > model.config.maxPositions && reqs[1].continuation.length > model.config.maxPositions);
  const s = scoreRequests(model.decoder, reqs);
  const ref0 = bruteForce(reqs[0]);
  assert.ok(Math.abs(s[0].logprob - ref0.logprob) < 1e-3, `${s[0].logprob} vs ${ref0.logprob}`);
  // the over-long continuation is scored on the last maxPositions tokens it has
  assert.equal(s[1].tokens, model.config.maxPositions);
  assert.ok(Math.abs(s[1].logprob - bruteForce(reqs[1]).logprob) < 1e-3);
});

test('acc takes the argmax of the sums; acc_norm divides by UTF-8 bytes, not characters', () => {
  const ex: Example = { contexts: ['Q:'], continuations: [' ééé', ' abcd'], gold: 0 };
  assert.equal(choiceBytes(ex, 0), 6);
  assert.equal(choiceBytes(ex, 1), 4);
  // per byte: −6/6 = −1 beats −7.5/4; per character it would be −6/3 = −2 and lose
  const r = choiceResult(ex, [{ logprob: -6, greedy: false, tokens: 3 }, { logprob: -7.5, greedy: false, tokens: 4 }]);
  assert.equal(r.pred, 0);
  assert.equal(r.predNorm, 0);
  const r2 = choiceResult(ex, [{ logprob: -12, greedy: false, tokens: 3 }, { logprob: -7.5, greedy: false, tokens: 4 }]);
  assert.equal(r2.pred, 1);
  assert.equal(r2.predNorm, 1);
});

test('scoreChoices and evaluate agree with the brute-force argmax on PIQA and HellaSwag excerpts', () => {
  for (const name of ['piqa', 'hellaswag'] as const) {
    const exs = TASKS[name].load(DATA).slice(0, 6);
    const results = scoreChoices({ decoder: model.decoder, tokenizer: tok }, exs);
    let acc = 0, accNorm = 0;
    exs.forEach((ex, e) => {
      const lps = exampleRequests(tok, ex).map((r) => bruteForce(r).logprob);
      const norm = lps.map((lp, i) => lp / Buffer.byteLength(ex.continuations[i].slice(1)));
      const pred = lps.indexOf(Math.max(...lps)), predNorm = norm.indexOf(Math.max(...norm));
      assert.equal(results[e].pred, pred, `${name} ${e}`);
      assert.equal(results[e].predNorm, predNorm, `${name} ${e} norm`);
      acc += pred === ex.gold ? 1 : 0;
      accNorm += predNorm === ex.gold ? 1 : 0;
    });
    const [r] = evaluate(model, [name], { dataDir: DATA, limit: 6 });
    assert.deepEqual(r.metrics, { acc: acc / 6, acc_norm: accNorm / 6 });
    assert.equal(r.n, 6);
  }
});

test('LAMBADA metrics: acc = share of all-greedy targets, ppl = exp(−mean per-word log-likelihood)', () => {
  const exs = TASKS.lambada.load(DATA).slice(0, 5);
  const refs = exs.map((ex) => ({ ...bruteForce(exampleRequests(tok, ex)[0]), n: exampleRequests(tok, ex)[0].continuation.length }));
  const [r] = evaluate(model, ['lambada'], { dataDir: DATA, limit: 5 });
  assert.equal(r.metrics.acc, refs.filter((x) => x.greedy).length / 5);
  const meanLl = refs.reduce((s, x) => s + x.logprob, 0) / 5;
  assert.ok(Math.abs(Math.log(r.metrics.ppl) + meanLl) < 1e-4, `${r.metrics.ppl} vs exp(${-meanLl})`);
  const perToken = -refs.reduce((s, x) => s + x.logprob, 0) / refs.reduce((s, x) => s + x.n, 0);
  assert.ok(Math.abs(Math.log(r.metrics.token_ppl) - perToken) < 1e-4);
});

test('identical requests are scored once and reported for each', () => {
  const r = tokenRequest(tok, 'Lily went to the park.', ' She was happy.');
  let passes = 0;
  const counting = (ids: Int32Array, B: number, T: number) => {
    passes += B;
    return noGrad(() => model.decoder.forward(ids, B, T).logits.f32);
  };
  const s = scoreRequests(model.decoder, [r, r, { ...r }], { logits: counting });
  assert.equal(passes, 1);
  assert.deepEqual(s[0], s[2]);
});

test('--exits on a choice task: the one-pass exits equal separate exitAfterLoop passes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rrt-eval-exits-'));
  convertToRecursive(new URL('../../fixtures/hf/llama', import.meta.url).pathname, join(dir, 'rec'), { nLoops: 2, init: 'average', loraRank: 4 });
  // the fixture has no tokenizer; stories260K's has the same 512-token vocabulary
  const rec = loadModel(join(dir, 'rec'), { tokenizer: new URL('../../assets/stories260K/tok512.bin', import.meta.url).pathname });
  const exs = TASKS.hellaswag.load(DATA).slice(0, 8);
  const [r] = evaluate(rec, ['hellaswag'], { dataDir: DATA, limit: 8, exits: true });
  assert.deepEqual(Object.keys(r.exits!), ['1', '2']);
  assert.deepEqual(r.exits!['2'], r.metrics);
  const requests = exs.flatMap((ex) => exampleRequests(rec.tokenizer!, ex));
  const early = scoreRequests(rec.decoder, requests, { logits: (ids, B, T) => noGrad(() => rec.decoder.forward(ids, B, T, { exitAfterLoop: 1 }).logits.f32) });
  let acc = 0, accNorm = 0;
  exs.forEach((ex, e) => {
    const c = choiceResult(ex, early.slice(4 * e, 4 * e + 4));
    acc += c.pred === ex.gold ? 1 : 0;
    accNorm += c.predNorm === ex.gold ? 1 : 0;
  });
  assert.deepEqual(r.exits!['1'], { acc: acc / 8, acc_norm: accNorm / 8 });
  const full = scoreRequests(rec.decoder, requests);
  assert.notDeepEqual(early.map((s) => s.logprob), full.map((s) => s.logprob), 'exiting early changes the scores');
});
