// rrt eval MODEL --task T [--task T2 ...] [--limit N] [--shots K] [--seed S] [--json]
//   [--window W --stride S] [--exits] [--data-dir DIR]
// stdout: one JSON object per task per line ({"task","n","metrics"} and, with --exits,
// "exits"); stderr: progress and a human-readable table.
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { InputError } from '../../errors.js';
import { evaluate, type TaskResult } from '../../eval/evaluate.js';
import { BUNDLED_EVAL_DATA, parseTask, taskNames } from '../../eval/tasks.js';
import { loadModel } from '../../models/load.js';
import { choice, int, DTYPE_HELP, weightDtype, reportUnquantized } from '../options.js';
import { progressBar } from '../progress.js';
import type { WeightDType } from '../../models/weights.js';

interface EvalCliOptions {
  task: string[];
  limit?: number;
  shots: number;
  seed: number;
  json?: boolean;
  window?: number;
  stride?: number;
  exits?: boolean;
  dataDir?: string;
  tokenizer?: string;
  dtype: WeightDType;
}

/** --data-dir as an absolute path, or the evaluation data shipped with the package. */
function dataDir(o: EvalCliOptions): string {
  if (o.dataDir === undefined) return BUNDLED_EVAL_DATA;
  if (!(existsSync(o.dataDir) && statSync(o.dataDir).isDirectory())) throw new InputError('not_found', `--data-dir ${o.dataDir} is not a directory`);
  return resolve(o.dataDir);
}

function table(results: readonly TaskResult[]): string {
  const rows: string[][] = [['task', 'n', 'metric', 'value', 'seconds']];
  for (const r of results) {
    const entries: [string, number][] = Object.entries(r.metrics);
    for (const [loop, m] of Object.entries(r.exits ?? {})) for (const [k, v] of Object.entries(m)) entries.push([`${k} @exit ${loop}`, v]);
    entries.forEach(([k, v], i) => rows.push(i === 0 ? [r.task, String(r.n), k, v.toFixed(4), r.seconds.toFixed(1)] : ['', '', k, v.toFixed(4), '']));
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  return rows.map((row) => row.map((cell, c) => (c === 1 || c >= 3 ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join('  ').trimEnd()).join('\n') + '\n';
}

export function registerEval(program: Command): void {
  program
    .command('eval')
    .description('evaluate a model: perplexity of a file, multiple-choice tasks and LAMBADA as lm-evaluation-harness scores them')
    .argument('<model>', 'HF model directory, .gguf file or llama2.c .bin')
    .requiredOption('--task <task>', `task to run, repeatable: ${taskNames().join(', ')}`, (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--limit <n>', 'first N examples (documents for ppl: text files, tokens for token files and ids:)', int(1))
    .option('--shots <k>', 'few-shot demonstrations drawn from the same file', int(0), 0)
    .option('--seed <s>', 'seed of the few-shot draw', int(0, 2 ** 32 - 1), 1234)
    .option('--json', 'JSON lines on stdout (always written; the table goes to stderr)')
    .option('--window <w>', 'perplexity window in tokens (default: the model context)', int(2))
    .option('--stride <s>', 'perplexity stride in tokens (default: the window)', int(1))
    .option('--exits', 'recursive models: also score each loop exit')
    .option('--data-dir <dir>', "eval data folder with the layout of the package's data/eval/ (default: that folder)")
    .option('--tokenizer <path>', 'tokenizer for llama2.c models')
    .option('--dtype <dtype>', DTYPE_HELP, weightDtype(), 'f32')
    .action((model: string, o: EvalCliOptions) => {
      const dir = dataDir(o);
      o.task.forEach(parseTask); // a typo in the last task fails before the first one runs
      const m = loadModel(model, { tokenizer: o.tokenizer, dtype: o.dtype });
      reportUnquantized(m);
      const results: TaskResult[] = [];
      for (const task of o.task) {
        const bar = progressBar(`eval ${task}`);
        const [r] = evaluate(m, [task], {
          dataDir: dir,
          limit: o.limit,
          shots: o.shots,
          seed: o.seed,
          window: o.window,
          stride: o.stride,
          exits: o.exits,
          onProgress: (_, done, total) => bar.update(done, total, task),
        });
        bar.stop();
        const line: Record<string, unknown> = { task: r.task, n: r.n, metrics: r.metrics };
        if (r.exits) line.exits = r.exits;
        process.stdout.write(JSON.stringify(line) + '\n');
        results.push(r);
      }
      process.stderr.write(table(results));
    });
}
