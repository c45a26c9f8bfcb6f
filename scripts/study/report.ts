// The study's report: docs/study/README.md (tables, the paper's findings beside what this study
// measured, timings) and SVG plots beside it, all generated from results.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { lineChart, type Series } from '../../src/plot/svg.js';
import type { StudyResults, VariantResult } from './main.js';

/** Relative differences below this are called too close to call (one seed per variant). */
const TOO_CLOSE = 0.005;

interface Finding {
  claim: string;
  measured: string;
  verdict: 'confirmed' | 'not confirmed' | 'too close to call' | 'not measured';
}

const f2 = (v: number | null | undefined, d = 2) => (v === null || v === undefined ? '—' : v.toFixed(d));
const kParams = (n: number) => `${(n / 1000).toFixed(0)} K`;

/** a beats b (lower perplexity) by more than the noise margin? */
function lower(a: number, b: number): Finding['verdict'] {
  if (Math.abs(a - b) / Math.min(a, b) < TOO_CLOSE) return 'too close to call';
  return a < b ? 'confirmed' : 'not confirmed';
}

function findings(r: StudyResults): Finding[] {
  const v = r.variants;
  const ppl = (k: string) => v[k]?.after.ppl;
  const out: Finding[] = [];
  const have = (...keys: string[]) => keys.every((k) => v[k]);
  const P = r.preset.probeRank;
  const pairVerdict = (pairs: [string, string][]): Finding['verdict'] => {
    const vs = pairs.filter(([a, b]) => have(a, b)).map(([a, b]) => lower(ppl(a)!, ppl(b)!));
    if (!vs.length) return 'not measured';
    if (vs.every((x) => x === 'confirmed')) return 'confirmed';
    if (vs.some((x) => x === 'not confirmed')) return 'not confirmed';
    return vs.includes('confirmed') ? 'confirmed' : 'too close to call';
  };
  const show = (keys: string[]) => keys.filter((k) => v[k]).map((k) => `${k} ${f2(ppl(k))}`).join(', ');

  out.push({
    claim: 'A recursive model (shared block looped twice) beats a reduced-size model with the same unique parameters',
    measured: show(['strict-stepwise-kd', 'reduced-kd', 'strict-stepwise', 'reduced']),
    verdict: pairVerdict([['strict-stepwise-kd', 'reduced-kd'], ['strict-stepwise', 'reduced']]),
  });
  const best = (keys: string[]) => keys.filter((k) => v[k]).sort((a, b) => ppl(a)! - ppl(b)!);
  const strict = best(['strict-stepwise-kd', 'strict-average-kd', 'strict-lower-kd']);
  out.push({
    claim: 'Stepwise initialisation is best for strict recursion (no LoRA)',
    measured: show(['strict-stepwise-kd', 'strict-average-kd', 'strict-lower-kd']),
    verdict: strict.length < 3 ? 'not measured' : strict[0] === 'strict-stepwise-kd' ? lower(ppl(strict[0])!, ppl(strict[1])!) : lower(ppl('strict-stepwise-kd')!, ppl(strict[0])!),
  });
  const relaxed = best([`relaxed-average-r${P}-kd`, `relaxed-stepwise-r${P}-kd`, `relaxed-lower-r${P}-kd`]);
  out.push({
    claim: `Average initialisation is best with LoRA (rank ${P}, SVD)`,
    measured: show([`relaxed-average-r${P}-kd`, `relaxed-stepwise-r${P}-kd`, `relaxed-lower-r${P}-kd`]),
    verdict: relaxed.length < 3 ? 'not measured' : relaxed[0] === `relaxed-average-r${P}-kd` ? lower(ppl(relaxed[0])!, ppl(relaxed[1])!) : lower(ppl(`relaxed-average-r${P}-kd`)!, ppl(relaxed[0])!),
  });
  out.push({
    claim: `SVD initialisation of the LoRA adapters beats zero initialisation (rank ${P}, after uptraining)`,
    measured: show([`relaxed-average-r${P}-kd`, `relaxed-average-r${P}-zero-kd`, `relaxed-average-r${P}`, `relaxed-average-r${P}-zero`]) +
      (have(`relaxed-average-r${P}-kd`, `relaxed-average-r${P}-zero-kd`) ? `; before uptraining ${f2(v[`relaxed-average-r${P}-kd`].pplBefore)} vs ${f2(v[`relaxed-average-r${P}-zero-kd`].pplBefore)}` : ''),
    verdict: pairVerdict([[`relaxed-average-r${P}-kd`, `relaxed-average-r${P}-zero-kd`], [`relaxed-average-r${P}`, `relaxed-average-r${P}-zero`]]),
  });
  const ranks = r.preset.ranks.map((k) => `relaxed-average-r${k}-kd`).filter((k) => v[k]);
  const rankPairs: [string, string][] = ranks.slice(1).map((k, i) => [k, ranks[i]]);
  out.push({
    claim: 'Quality rises with the LoRA rank (perplexity falls; accuracy rises where measurable)',
    measured: ranks.map((k) => `r${v[k].variant.rank}: ppl ${f2(ppl(k))}, acc ${f2(v[k].after.meanAcc, 3)}`).join('; ') + (v['strict-average-kd'] ? `; r0 (strict average): ppl ${f2(ppl('strict-average-kd'))}` : ''),
    verdict: pairVerdict(v['strict-average-kd'] && ranks.length ? [[ranks[0], 'strict-average-kd'], ...rankPairs] : rankPairs),
  });
  out.push({
    claim: 'LoRA relaxation improves on strict recursion from the same (average) init',
    measured: show([`relaxed-average-r${P}-kd`, 'strict-average-kd']),
    verdict: pairVerdict([[`relaxed-average-r${P}-kd`, 'strict-average-kd']]),
  });
  const kdPairs = Object.keys(v).filter((k) => k.endsWith('-kd') && v[k.slice(0, -3)] && v[k].variant.group !== 'exit').map((k) => [k, k.slice(0, -3)] as [string, string]);
  const kdWins = kdPairs.filter(([a, b]) => lower(ppl(a)!, ppl(b)!) === 'confirmed').length;
  const kdLosses = kdPairs.filter(([a, b]) => lower(ppl(a)!, ppl(b)!) === 'not confirmed').length;
  out.push({
    claim: 'Distillation from the full-size model helps uptraining',
    measured: `KD better in ${kdWins} of ${kdPairs.length} pairs, worse in ${kdLosses} (${kdPairs.map(([a, b]) => `${b}: ${f2(ppl(b))} → ${f2(ppl(a))}`).join('; ')})`,
    verdict: !kdPairs.length ? 'not measured' : kdWins > kdPairs.length / 2 ? 'confirmed' : kdLosses > kdPairs.length / 2 ? 'not confirmed' : 'too close to call',
  });
  if (have('exit-aggressive', 'exit-weighted')) {
    const a = v['exit-aggressive'].after, w = v['exit-weighted'].after;
    out.push({
      claim: 'Early-exit training with the aggressive coefficients keeps the final output better than weighted CE',
      measured: `full depth: aggressive ${f2(a.ppl)}, weighted ${f2(w.ppl)}; loop 1: aggressive ${f2(a.pplLoop1)}, weighted ${f2(w.pplLoop1)}; before exit training: full ${f2(v['exit-aggressive'].pplBefore)}, loop 1 ${f2(v[v['exit-aggressive'].variant.from!]?.after.pplLoop1)}`,
      verdict: lower(a.ppl, w.ppl),
    });
    const from = v[v['exit-aggressive'].variant.from!];
    out.push({
      claim: 'Early-exit training makes the loop-1 output usable',
      measured: `loop-1 perplexity ${f2(from?.after.pplLoop1)} → ${f2(a.pplLoop1)} (aggressive), ${f2(w.pplLoop1)} (weighted)`,
      verdict: from?.after.pplLoop1 ? lower(a.pplLoop1!, from.after.pplLoop1) : 'not measured',
    });
  }
  return out;
}

function variantTable(r: StudyResults): string[] {
  const tasks = r.preset.tasks;
  const rows = ['| variant | unique non-emb. params | ppl before | ppl after | loop-1 ppl | ' + tasks.join(' | ') + ' | mean acc | uptrain time |', '| --- | ---: | ---: | ---: | ---: | ' + tasks.map(() => '---:').join(' | ') + ' | ---: | ---: |'];
  if (r.base) {
    const q = r.base.quality;
    rows.push(`| **base model** (pretrained) | ${kParams(q.params)} | — | ${f2(q.ppl)} | — | ${tasks.map((t) => f2(q.tasks[t], 3)).join(' | ')} | ${f2(q.meanAcc, 3)} | ${f2(r.timings.pretrain, 0)} s (pretraining) |`);
  }
  for (const x of Object.values(r.variants) as VariantResult[]) {
    const q = x.after;
    rows.push(`| ${x.variant.label} | ${kParams(q.params)} | ${f2(x.pplBefore)} | ${f2(q.ppl)} | ${f2(q.pplLoop1)} | ${tasks.map((t) => f2(q.tasks[t], 3)).join(' | ')} | ${f2(q.meanAcc, 3)} | ${f2(x.trainSeconds, 0)} s |`);
  }
  return rows;
}

function plots(r: StudyResults): Record<string, string> {
  const v = Object.values(r.variants) as VariantResult[];
  const out: Record<string, string> = {};
  if (r.base) {
    out['pretrain.svg'] = lineChart(
      [{ name: 'train loss', points: r.base.curve.map((p) => [p.step, p.loss]) }, { name: 'held-out loss (synthetic)', points: r.base.heldOut.map((p) => [p.step, p.nll]) }],
      { title: 'Pretraining the base model on the synthetic corpus', xLabel: 'step', yLabel: 'loss (nats/token)' },
    );
  }
  const groups: [string, (x: VariantResult) => boolean][] = [
    ['reduced-size', (x) => x.variant.group === 'reduced'],
    ['recursive (strict)', (x) => x.variant.group === 'strict'],
    ['relaxed (LoRA)', (x) => x.variant.group === 'relaxed'],
    ['full-size', (x) => x.variant.group === 'full'],
  ];
  const scatter = (y: (x: VariantResult) => number | null): Series[] =>
    groups.map(([name, f]) => ({ name, markers: true, points: v.filter(f).map((x) => [x.after.params / 1000, y(x)] as [number, number]).filter(([, b]) => b !== null) as [number, number][] }));
  out['ppl-vs-params.svg'] = lineChart(scatter((x) => x.after.ppl), { title: 'Held-out perplexity against unique parameters', xLabel: 'unique non-embedding parameters (K)', yLabel: 'perplexity (real TinyStories)' });
  if (v.some((x) => x.after.meanAcc !== null))
    out['accuracy-vs-params.svg'] = lineChart(scatter((x) => x.after.meanAcc), { title: 'Mean zero-shot accuracy against unique parameters', xLabel: 'unique non-embedding parameters (K)', yLabel: `mean acc_norm (${r.preset.tasks.join(', ')})` });
  const rankSeries = (suffix: string, name: string): Series => ({
    name,
    points: v.filter((x) => x.variant.group === 'relaxed' && x.variant.init === 'average' && x.variant.loraInit === 'svd' && x.variant.distill === suffix.includes('kd')).map((x) => [x.variant.rank!, x.after.ppl] as [number, number]).sort((a, b) => a[0] - b[0]),
  });
  const zero = (kd: boolean): Series => ({ name: `zero init${kd ? ', KD' : ''}`, markers: true, points: v.filter((x) => x.variant.loraInit === 'zero' && x.variant.distill === kd).map((x) => [x.variant.rank!, x.after.ppl]) });
  out['ppl-vs-rank.svg'] = lineChart([rankSeries('kd', 'SVD init, KD'), rankSeries('', 'SVD init'), zero(true), zero(false)], { title: 'Relaxed models (average init): perplexity against LoRA rank', xLabel: 'LoRA rank', yLabel: 'perplexity' });
  const curves = ['full', 'reduced-kd', 'strict-stepwise-kd', `relaxed-average-r${r.preset.probeRank}-kd`].filter((k) => r.variants[k]);
  out['uptrain-loss.svg'] = lineChart(curves.map((k) => ({ name: k, points: r.variants[k].curve.map((p) => [p.step, p.loss] as [number, number]) })), { title: 'Uptraining loss (CE, or CE + KD mix for KD runs)', xLabel: 'step', yLabel: 'training loss' });
  if (r.speed) {
    const pts: Series[] = r.speed.map((s) => ({ name: s.key, markers: true, points: [[s.plain.tokensPerS, s.ppl] as [number, number], ...(s.exit && s.pplExit !== null ? [[s.exit.tokensPerS, s.pplExit] as [number, number]] : [])] }));
    out['throughput-frontier.svg'] = lineChart(pts, { title: `Throughput against perplexity (early exit at maxProb ≥ ${r.preset.threshold}: second point)`, xLabel: 'tokens/s (batch engine, greedy)', yLabel: 'perplexity' });
  }
  return out;
}

/** Timings summed by part: per-variant entries ("train relaxed-…") fold into their kind. */
function timeByPart(t: Record<string, number>): Record<string, number> {
  const names: Record<string, string> = { corpus: 'sampling the synthetic corpus', pretrain: 'pretraining the base model', 'evaluate base': 'evaluating the base model', convert: 'converting (sharing + SVD)', train: 'uptraining and early-exit training (all variants)', evaluate: 'evaluating the variants (perplexity, exits, tasks)', throughput: 'throughput frontier' };
  const out: Record<string, number> = {};
  for (const [k, s] of Object.entries(t)) {
    const kind = k in names ? k : k.split(' ')[0];
    const name = names[kind] ?? k;
    out[name] = (out[name] ?? 0) + s;
  }
  return out;
}

export function writeStudyReport(r: StudyResults, docs: string, o: { command: string }): void {
  mkdirSync(docs, { recursive: true });
  const svgs = plots(r);
  for (const [name, svg] of Object.entries(svgs)) writeFileSync(join(docs, name), svg + '\n');
  writeFileSync(join(docs, 'results.json'), JSON.stringify(r, null, 1) + '\n');
  const p = r.preset;
  const total = Object.values(r.timings).reduce((a, b) => a + b, 0);
  const tokPerStep = p.uptrain.batchSize * p.uptrain.seqLen;
  const L: string[] = [];
  L.push('# A small-scale study of the paper\'s claims', '');
  L.push(`Generated by \`${o.command}\` (scripts/study/) from \`results.json\` in this folder; rerunning it resumes where it stopped and rewrites this page.`, '');
  L.push('## Set-up', '');
  L.push(`- **Base model**, pretrained by rrt from scratch: Llama architecture, ${p.base.num_hidden_layers} layers, d ${p.base.hidden_size}, ${p.base.num_attention_heads} heads (${p.base.num_key_value_heads} KV heads), FFN ${p.base.intermediate_size}, stories260K's 512-token vocabulary, tied embeddings; ${p.pretrain.steps} steps × ${p.pretrain.batchSize} × ${p.pretrain.seqLen} tokens, peak LR ${p.pretrain.lr}, cosine.`);
  if (r.corpus)
    L.push(`- **Corpus: synthetic.** ${r.corpus.documents} stories (${(r.corpus.pretrainTokens / 1e6).toFixed(2)} M tokens for pretraining, ${(r.corpus.uptrainTokens / 1e6).toFixed(2)} M fresh tokens for uptraining, mean ${r.corpus.meanDocTokens.toFixed(0)} tokens per story) **sampled from the bundled stories260K** with rrt's batched decoder at temperature ${p.corpus.temperature} (seed ${p.corpus.seed}). The shipped real TinyStories text is only ~260 K tokens, on which an 8-layer model overfits; a sample of the synthetic stories is in [corpus-sample.txt](corpus-sample.txt).`);
  L.push(`- **Evaluation:** perplexity on the first ${r.validTokens} tokens of real TinyStories validation text (\`${basename(r.validSource)}\`, \`--valid\`), windows of ${p.window}; zero-shot acc_norm on the first ${p.taskLimit} examples of ${p.tasks.join(', ')} (tiny story models score near chance here: 50 % for piqa and winogrande, 25 % for arc-easy and hellaswag — the accuracy columns are reported for completeness, perplexity carries the comparisons). stories260K itself scores perplexity ${f2(r.teacherPpl)} on the same tokens.`);
  L.push(`- **Uptraining:** every variant starts from the base model and gets the same budget: ${p.uptrain.steps} steps × ${tokPerStep} tokens = ${((p.uptrain.steps * tokPerStep) / 1e6).toFixed(2)} M tokens of fresh synthetic text, peak LR ${p.uptrain.lr}, cosine; "KD" runs mix CE and distillation from the base model 50/50. Recursive models: 2 loops over ${Number(p.base.num_hidden_layers) / 2} shared layers (cycle). Early-exit training: ${p.exitTrain.steps} more steps at LR ${p.exitTrain.lr}.`);
  for (const n of p.notes) L.push(`- ${n}`);
  L.push(`- **One seed per variant.** Differences under ${TOO_CLOSE * 100} % in perplexity are called "too close to call".`, '');
  if (r.base) {
    const full = r.variants.full;
    L.push('## The base model is not overfitting', '');
    L.push(`Held-out perplexity on real text: ${f2(r.base.quality.ppl)} after pretraining${full ? `, ${f2(full.after.ppl)} after the full-size model is uptrained on ${((p.uptrain.steps * tokPerStep) / 1e6).toFixed(2)} M more tokens (it still falls)` : ''}. Training and held-out (synthetic) loss during pretraining:`, '');
    L.push('![pretraining](pretrain.svg)', '');
  }
  L.push('## Results', '', ...variantTable(r), '');
  L.push('![perplexity against parameters](ppl-vs-params.svg)', '');
  if (svgs['accuracy-vs-params.svg']) L.push('![accuracy against parameters](accuracy-vs-params.svg)', '');
  L.push('![perplexity against rank](ppl-vs-rank.svg)', '', '![uptraining loss](uptrain-loss.svg)', '');
  L.push('## The paper\'s findings, side by side', '', '| paper\'s finding | measured here (perplexity unless stated) | verdict |', '| --- | --- | --- |');
  for (const f of findings(r)) L.push(`| ${f.claim} | ${f.measured} | **${f.verdict}** |`);
  L.push('');
  if (r.speed) {
    L.push('## Throughput frontier', '');
    L.push(`Batch engine, ${p.throughput.requests} requests × (${p.throughput.promptLen} prompt + ${p.throughput.genLen} generated) tokens, concurrency ${p.throughput.concurrency}, greedy, median of ${p.throughput.repeats} runs; recursive models use continuous depth-wise batching, and their early-exit point exits at maxProb ≥ ${p.threshold} (KV of skipped loops filled by propagate). Perplexity under exit is teacher-forced (see src/eval/exit-perplexity.ts).`, '');
    L.push('| model | unique params | tokens/s | × full-size | ppl | tokens/s with exit | loops/token | ppl with exit |', '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    const ref = r.speed.find((s) => s.key === 'full')?.plain.tokensPerS ?? NaN;
    for (const s of r.speed)
      L.push(`| ${s.label} | ${kParams(s.params)} | ${s.plain.tokensPerS.toFixed(0)} | ${(s.plain.tokensPerS / ref).toFixed(2)} | ${f2(s.ppl)} | ${s.exit ? s.exit.tokensPerS.toFixed(0) : '—'} | ${s.exit ? s.exit.meanLoops.toFixed(2) : '—'} | ${f2(s.pplExit)} |`);
    const recs = r.speed.filter((s) => s.exit);
    if (recs.length) {
      const plain = recs.map((s) => s.plain.tokensPerS / ref), gain = recs.map((s) => s.exit!.tokensPerS / s.plain.tokensPerS);
      const span = (a: number[]) => `${Math.min(...a).toFixed(2)}–${Math.max(...a).toFixed(2)}×`;
      L.push('', `Reading: without exits the recursive models run at ${span(plain)} the full-size model's speed: they do the same FLOPs per token, and at this width (d ${p.base.hidden_size}) a decode step is bound by per-operation overhead rather than by reading weights, so sharing weights saves little time. Early exit changes tokens/s by ${span(gain)} at ${recs.map((s) => s.exit!.meanLoops.toFixed(2)).join('/')} loops per token: the skipped loop's keys and values are still computed (propagate), and each loop boundary runs the LM head for the exit test, which eats most of the saving on a model this small. The systems gain of depth-wise batching with exits is measured where it matters, on a SmolLM-135M-shaped model, by \`npm run bench:throughput\` (README).`);
    }
    L.push('', '![throughput frontier](throughput-frontier.svg)', '');
  }
  L.push('## Time per part', '', `Measured on this project's 2-core machine; total ${(total / 60).toFixed(1)} min (the budget is 3 h). Per-variant uptraining times are in the results table; every entry is in results.json.`, '', '| part | seconds |', '| --- | ---: |');
  for (const [part, s] of Object.entries(timeByPart(r.timings))) L.push(`| ${part} | ${s.toFixed(0)} |`);
  L.push('', '## Reproduce', '', '```', o.command, '```', '', 'Work files (corpus, checkpoints, training runs) go to `study-work/`; delete it to start over.', '');
  writeFileSync(join(docs, 'README.md'), L.join('\n'));
}
