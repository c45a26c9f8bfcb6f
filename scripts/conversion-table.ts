// Perplexity of the bundled stories260K on TinyStories validation text before and after
// conversion, for several strategies, inits and LoRA ranks (no uptraining): the table in the
// README that shows why uptraining is needed. Usage: node --import tsx scripts/conversion-table.ts [VALID.txt] [--max-tokens N]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { perplexity } from '../src/eval/perplexity.js';
import { tokenizeFile } from '../src/eval/text.js';
import { BUNDLED_MODEL, loadModel } from '../src/models/load.js';
import { convertToRecursive, type ConvertOptions } from '../src/recursive/convert.js';

const args = process.argv.slice(2);
const maxIdx = args.indexOf('--max-tokens');
const maxTokens = maxIdx >= 0 ? Number(args[maxIdx + 1]) : undefined;
const file = args.find((a, i) => !a.startsWith('--') && i !== maxIdx + 1) ?? new URL('../assets/tinystories/valid.txt', import.meta.url).pathname;

const base = loadModel(BUNDLED_MODEL);
const tokens = tokenizeFile(file, base.tokenizer!, { maxTokens });
const ppl = (path: string) => perplexity(loadModel(path).decoder, tokens, { window: 256 });
const dir = mkdtempSync(join(tmpdir(), 'rrt-table-'));

const rows: [string, ConvertOptions | null][] = [['original (5 layers)', null]];
for (const [strategy, nLoops] of [['cycle', 2], ['sequence', 2], ['middle-cycle', 3]] as const)
  for (const init of ['stepwise', 'average', 'lower'] as const)
    for (const rank of [0, 16, 64]) rows.push([`${strategy} ×${nLoops}, ${init}, rank ${rank}`, { nLoops, strategy, init, loraRank: rank }]);

console.log(`file ${file}: ${tokens.length} tokens, window 256\n`);
console.log('| model | unique non-emb. params | nll | ppl |');
console.log('| --- | --- | --- | --- |');
for (const [label, opts] of rows) {
  if (!opts) {
    const r = ppl(BUNDLED_MODEL);
    console.log(`| ${label} | 227.3 K (100 %) | ${r.nll.toFixed(4)} | ${r.ppl.toFixed(2)} |`);
    continue;
  }
  const dst = join(dir, label.replace(/\W+/g, '-'));
  const s = convertToRecursive(BUNDLED_MODEL, dst, opts);
  const r = ppl(dst);
  console.log(`| ${label}${s.plan.selectionNote ? ' *' : ''} | ${(s.after.uniqueNonEmbedding / 1000).toFixed(1)} K (${(100 * s.after.ratioToSource).toFixed(0)} %) | ${r.nll.toFixed(4)} | ${r.ppl.toFixed(2)} |`);
  rmSync(dst, { recursive: true });
}
console.log('\n* 5 layers do not split into 2 loops: layers 0, 1, 3, 4 are kept (layer 2 dropped) before sharing.');
rmSync(dir, { recursive: true });
