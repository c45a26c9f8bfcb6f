// The run plot: training loss per step and held-out loss at each evaluation, from metrics.jsonl.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../errors.js';
import { lineChart, type Series } from '../plot/svg.js';

export function readMetrics(runDir: string): { steps: { step: number; loss: number; ce: number; kd: number | null; exitCe: number | null }[]; evals: { step: number; nll: number }[] } {
  const path = join(runDir, 'metrics.jsonl');
  if (!existsSync(path)) throw new InputError('not_found', `${runDir} has no metrics.jsonl (not a training run?)`);
  const steps = [], evals = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const r = JSON.parse(line);
    if (r.eval) evals.push({ step: r.step, nll: r.eval.nll });
    else steps.push(r);
  }
  return { steps, evals };
}

/** Writes RUN_DIR/loss.svg and returns its path. */
export function writeRunPlot(runDir: string, out = join(runDir, 'loss.svg')): string {
  const { steps, evals } = readMetrics(runDir);
  const series: Series[] = [{ name: 'train loss', points: steps.map((s) => [s.step, s.loss]) }];
  if (steps.some((s) => s.kd !== null)) series.push({ name: 'train CE', points: steps.map((s) => [s.step, s.ce]) });
  if (steps.some((s) => s.exitCe !== null)) series.push({ name: 'exit CE (loops < B)', points: steps.map((s) => [s.step, s.exitCe ?? NaN]) });
  if (evals.length) series.push({ name: 'held-out NLL', points: evals.map((e) => [e.step, e.nll]), markers: true });
  writeFileSync(out, lineChart(series, { title: 'Training', xLabel: 'step', yLabel: 'nats / token' }));
  return out;
}
