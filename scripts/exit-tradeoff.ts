// Early-exit quality trade-off on a trained recursive model: for each maxProb
// threshold, the mean loops per generated token and the agreement of greedy generation with
// full depth (BatchEngine, propagate KV fill), and the held-out perplexity when every token is
// scored by the first loop whose max probability reaches the threshold (teacher-forced; all
// loops computed, so this isolates the exit decision from the KV approximation).
// Usage: node --import tsx scripts/exit-tradeoff.ts MODEL [--valid FILE] [--max-tokens N]
//   e.g. after `npx rrt demo`: scripts/exit-tradeoff.ts rrt-demo/work/exit-train/model
import { BatchEngine } from '../src/infer/engine.js';
import { tokenizeFile } from '../src/eval/text.js';
import { loadModel } from '../src/models/load.js';
import { exitPerplexity } from '../src/eval/exit-perplexity.js';

const args = process.argv.slice(2);
const model = args[0];
const opt = (n: string) => (args.includes(n) ? args[args.indexOf(n) + 1] : undefined);
const valid = opt('--valid') ?? new URL('../assets/tinystories/valid.txt', import.meta.url).pathname;
const maxTokens = Number(opt('--max-tokens') ?? 20000);
const m = loadModel(model);
if (!m.config.recursive) throw new Error(`${model} is not a recursive model`);
const nLoops = m.config.recursive.plan.nLoops;
const tokens = tokenizeFile(valid, m.tokenizer!, { maxTokens });

const thresholds = [0, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 1.01];
const scores = exitPerplexity(m.decoder, tokens, thresholds, { window: 256 });

const prompts = Array.from({ length: 16 }, (_, i) => Array.from(tokens.slice(i * 97, i * 97 + 8)));
const gen = async (threshold: number | null) => {
  const e = new BatchEngine(m.decoder, { maxBatch: 8, tokenizer: m.tokenizer });
  const opts = { maxTokens: 48, temperature: 0, eosIds: [] as number[], earlyExit: threshold === null ? null : { measure: 'maxProb' as const, threshold } };
  return Promise.all(prompts.map((p) => e.submit(p, opts).result));
};
const full = await gen(null);
console.log(`${model}: ${nLoops} loops; ${Math.floor((tokens.length - 1) / 256) * 256} held-out tokens of ${valid}; 16 prompts × 48 greedy tokens\n`);
console.log('| maxProb threshold | mean loops (generation) | agreement with full depth | mean loops (held-out) | held-out ppl |');
console.log('| ---: | ---: | ---: | ---: | ---: |');
for (const [k, th] of thresholds.entries()) {
  const r = await gen(th);
  let same = 0, total = 0, loops = 0;
  r.forEach((x, i) => {
    for (let t = 0; t < full[i].ids.length; t++) same += x.ids[t] === full[i].ids[t] ? 1 : 0;
    total += full[i].ids.length;
    loops += x.exits.meanLoops * x.ids.length;
  });
  const s = scores[k];
  console.log(`| ${th} | ${(loops / total).toFixed(2)} | ${((100 * same) / total).toFixed(1)} % | ${s.meanLoops.toFixed(2)} | ${s.ppl.toFixed(2)} |`);
}
