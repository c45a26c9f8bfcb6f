// The demo's report: one self-contained HTML page (inline CSS and SVG, no scripts, no external
// resources) — summary table, loss curves, perplexity bars, parameters vs perplexity, the
// exit-loop histogram, serving throughput, and the sample story with one coloured span per
// token showing the loop it exited after.
import { barChart, lineChart, type Series } from '../plot/svg.js';
import type { DemoResult } from './demo.js';

/** Background colour of a token that exited after loop b (1-based) of n. */
export const LOOP_COLORS = ['#c7e9c0', '#fdd0a2', '#fcbba1', '#dadaeb', '#c6dbef', '#fde0ef'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const SHORT: Record<DemoResult['rows'][number]['key'], string> = {
  original: 'original', converted: 'converted', relaxed: 'relaxed', 'relaxed-exit': 'relaxed + exit', 'relaxed-loop1': 'relaxed, loop 1', strict: 'strict', reduced: 'reduced-size',
};

function k(n: number): string {
  return `${(n / 1000).toFixed(1)} K`;
}

function table(head: string[], rows: string[][]): string {
  return `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`).join('')}</tbody></table>`;
}

function figure(id: string, svg: string, caption: string): string {
  return `<figure id="${id}">${svg}<figcaption>${esc(caption)}</figcaption></figure>`;
}

export function renderReport(r: DemoResult): string {
  const s = r.settings;
  const up = r.curves.uptrain;
  const lossSeries: Series[] = [
    { name: `relaxed (LoRA r${r.relaxedSummary.loraRank})`, points: up.relaxed.map((p) => [p.step, p.loss]) },
    { name: 'strictly recursive', points: up.strict.map((p) => [p.step, p.loss]) },
    { name: 'reduced-size', points: up.reduced.map((p) => [p.step, p.loss]) },
  ];
  const exitSeries: Series[] = [
    { name: 'total loss', points: r.curves.exit.map((p) => [p.step, p.loss]) },
    { name: 'final-loop CE', points: r.curves.exit.map((p) => [p.step, p.ce]) },
    { name: 'loop-1 exit CE', points: r.curves.exit.filter((p) => p.exitCe !== null).map((p) => [p.step, p.exitCe as number]) },
  ];
  // bars of ln(ppl) = nats/token: the converted model's thousands would flatten a linear ppl axis
  const pplBars = r.rows.map((m) => ({ label: m.label, value: Math.log(m.ppl), note: `ppl ${m.ppl.toFixed(2)}` }));
  const scatter: Series[] = r.rows.filter((m) => m.key !== 'relaxed-loop1').map((m) => ({ name: SHORT[m.key], points: [[m.params / 1000, m.ppl]], markers: true }));
  const hist = r.sample.histogram.map((n, i) => ({ label: `exit after loop ${i + 1}`, value: n, note: `${n} tokens` }));
  const sys = Object.entries(r.throughput.systems).map(([name, v]) => ({ label: name, value: v.tokens_per_s, note: `${v.tokens_per_s.toFixed(0)} tok/s, ${v.ratio_to_vanilla_batched.toFixed(2)}×` }));

  const summary = table(
    ['model', 'unique non-embedding params', 'ppl before training', 'held-out ppl', 'train time'],
    r.rows.map((m) => [m.label, k(m.params), m.pplBefore === null ? '—' : m.pplBefore.toFixed(2), m.ppl.toFixed(2), m.trainSeconds === null ? '—' : `${m.trainSeconds.toFixed(0)} s`]),
  );
  const tput = table(
    ['system', 'tokens/s', '× vanilla batched', 'loops/token', 'agreement with full depth'],
    Object.entries(r.throughput.systems).map(([name, v]) => [name, v.tokens_per_s.toFixed(0), v.ratio_to_vanilla_batched.toFixed(2), v.mean_loops.toFixed(2), `${(100 * v.agreement_with_depthwise).toFixed(1)} %`]),
  );
  const spans = r.sample.tokens
    .map((t) => `<span class="tok loop${t.loops}" title="exited after loop ${t.loops}" style="background:${LOOP_COLORS[(t.loops - 1) % LOOP_COLORS.length]}">${esc(t.text)}</span>`)
    .join('');
  const legend = Array.from({ length: r.nLoops }, (_, i) => `<span class="tok" style="background:${LOOP_COLORS[i % LOOP_COLORS.length]}">exit after loop ${i + 1}</span>`).join(' ');
  const residuals = Object.entries(r.relaxedSummary.meanRelResidual).map(([p, v]) => `${p} ${v.toFixed(2)}`).join(', ');

  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>rrt demo report</title>
<style>
body{font-family:sans-serif;max-width:1340px;margin:24px auto;padding:0 16px;color:#222}
h1{margin-bottom:4px}.sub{color:#555;margin-top:0}
table{border-collapse:collapse;margin:12px 0}th,td{border:1px solid #ccc;padding:4px 10px;text-align:right}th:first-child,td:first-child{text-align:left}
th{background:#f3f3f3}
.charts{display:flex;flex-wrap:wrap;gap:16px}figure{margin:0;border:1px solid #ddd;padding:8px}figcaption{font-size:13px;color:#555;max-width:640px}
.story{font-family:Georgia,serif;font-size:17px;line-height:1.9;white-space:pre-wrap;border:1px solid #ddd;padding:12px}
.tok{border-radius:3px;padding:1px 0}.prompt{font-weight:bold}
</style></head><body>
<h1>Relaxed Recursive Transformer demo</h1>
<p class="sub">${esc(r.model)} → ${r.nLoops} loops over a shared block; ${r.trainTokens} training tokens, ${r.evalTokens} held-out tokens; ${r.seconds.toFixed(0)} s in all.</p>
<h2>What ran</h2>
<ol>
<li><b>Convert</b>: ${r.selectedLayers.length} layers (${r.selectedLayers.join(', ')}) as ${r.selectedLayers.length / r.nLoops} shared layers × ${r.nLoops} loops (cycle).${r.selectionNote ? ' ' + esc(r.selectionNote) + '.' : ''} Shared weights initialised as the <i>average</i> of their source layers; each depth gets LoRA rank ${r.relaxedSummary.loraRank} from the truncated SVD of what sharing lost (mean relative residual per projection: ${esc(residuals)}). Averaging spreads the loss evenly over the depths, so each depth's SVD residual has captured energy to recover; rank ${r.relaxedSummary.loraRank} keeps the model at ${(100 * r.relaxedSummary.ratioToSource).toFixed(0)} % of the original's non-embedding parameters (${r.relaxedSummary.adapters} adapter parameters).</li>
<li><b>Uptrain</b>: ${s.uptrainSteps} AdamW steps × ${s.batchSize} × ${s.seqLen} tokens, peak lr ${s.lr}, cosine, distillation from the original (weight 0.5). The strictly recursive model (stepwise init, no LoRA) and the reduced-size model (the first layers, no looping) are trained the same way.</li>
<li><b>Early-exit post-training</b>: ${s.exitSteps} steps with the aggressive exit loss (the loop-1 exit learns CE + KL to the detached final output), peak lr ${s.exitLr}.</li>
<li><b>Evaluate</b> held-out perplexity (window ${s.window}) — <b>sample</b> greedily with maxProb ≥ ${s.threshold} early exit — <b>serve</b> with continuous depth-wise batching.</li>
</ol>
<h2>Summary</h2>
${summary}
<h2>Charts</h2>
<div class="charts">
${figure('chart-uptrain', lineChart(lossSeries, { title: 'Uptraining loss (distillation mix)', xLabel: 'step', yLabel: 'nats / token' }), 'Training loss per step: (1 − w)·CE + w·KL to the original, w = 0.5.')}
${figure('chart-exit', lineChart(exitSeries, { title: 'Early-exit post-training', xLabel: 'step', yLabel: 'nats / token' }), 'Aggressive exit loss: the final output keeps its objective, the loop-1 exit is trained towards it.')}
${figure('chart-ppl', barChart(pplBars, { title: 'Held-out perplexity (lower is better)', yLabel: 'ln perplexity = nats / token', width: 640 }), 'All models scored on the same held-out tokens; bar length is ln(ppl), the label the perplexity.')}
${figure('chart-params', lineChart(scatter, { title: 'Parameters vs perplexity', xLabel: 'unique non-embedding parameters (K)', yLabel: 'perplexity', logY: true }), 'Down and left is better; the converted model before training sits far up.')}
${figure('chart-exits', barChart(hist, { title: 'Exit loop of the sample\'s tokens', yLabel: 'tokens', width: 640 }), `Mean ${r.sample.meanLoops.toFixed(2)} loops per token (maxProb threshold ${s.threshold}).`)}
${figure('chart-throughput', barChart(sys, { title: 'Serving throughput', yLabel: 'generated tokens / s', width: 640 }), `${r.throughput.requests} requests × (${r.throughput.prompt_len} prompt + ${r.throughput.gen_len} generated), concurrency ${r.throughput.concurrency}${r.throughput.rounds > 1 ? `; medians of ${r.throughput.rounds} rounds` : ''}${r.throughput.paired ? ', batched systems interleaved step by step, each timed on its own steps' : ''}; vanilla = the unrolled twin of the recursive model.`)}
</div>
<h2>Sample story</h2>
<p>${legend}</p>
<div class="story" id="sample"><span class="prompt">${esc(r.sample.prompt)}</span>${spans}</div>
<h2>Serving throughput</h2>
${tput}
</body></html>
`;
}
