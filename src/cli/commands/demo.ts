// rrt demo [--out DIR] [--quick] [--model M] [--data FILE] [--force]: the library's runDemo
// (src/demo/demo.ts) with a progress bar per stage on stderr, the sample story with each
// token's exit loop, and the summary table on stdout.
import type { Command } from 'commander';
import { DEMO_STAGES, type DemoResult, formatSummary, runDemo } from '../../demo/demo.js';
import { progressBar, type Progress } from '../progress.js';

interface DemoCli {
  out: string;
  quick?: boolean;
  model?: string;
  data?: string;
  force?: boolean;
}

/** Background colours per exit loop (ANSI 256): loop 1 green, 2 yellow, 3 red, … */
const ANSI = [151, 223, 217, 189, 153, 225];

/** The sample with each token's loop: coloured on a terminal, else tokens that exited early in brackets with their loop. */
export function formatSample(r: DemoResult, color: boolean): string {
  const body = r.sample.tokens
    .map((t) => {
      if (color) return `\x1b[48;5;${ANSI[(t.loops - 1) % ANSI.length]}m\x1b[30m${t.text}\x1b[0m`;
      return t.loops < r.nLoops ? `[${t.text}]${t.loops}` : t.text;
    })
    .join('');
  const legend = color
    ? Array.from({ length: r.nLoops }, (_, i) => `\x1b[48;5;${ANSI[i % ANSI.length]}m\x1b[30m exit after loop ${i + 1} \x1b[0m`).join(' ')
    : `[text]b = the token exited after loop b < ${r.nLoops}; unmarked tokens ran all ${r.nLoops} loops`;
  return `${legend}\n${r.sample.prompt}${body}`;
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('the whole pipeline on a small model: convert, uptrain, early-exit training, evaluation, sampling, throughput, and an HTML report')
    .option('--out <dir>', 'output folder (must not exist unless --force)', './rrt-demo')
    .option('--quick', 'fewer steps and tokens (under a minute on the bundled model)')
    .option('--model <path>', 'source model: HF folder, .gguf or llama2.c .bin (default: the bundled stories260K)')
    .option('--data <file>', 'training text (its last tenth of documents is held out; default: the shipped TinyStories excerpt)')
    .option('--force', 'reuse an existing output folder (replaces its report.html and work/)')
    .action(async (o: DemoCli) => {
      let bar: Progress | null = null;
      const tty = process.stderr.isTTY;
      const r = await (async () => {
        try {
          return await runDemo(
            { out: o.out, quick: o.quick, model: o.model, data: o.data, force: o.force },
            {
              onStage: (stage, i, n) => {
                bar?.stop();
                bar = progressBar(`[${i + 1}/${n}] ${stage.padEnd(DEMO_STAGES.reduce((m, s) => Math.max(m, s.length), 0))}`);
                if (!tty) process.stderr.write(`[${i + 1}/${n}] ${stage}\n`);
              },
              onProgress: (d, t, label) => bar?.update(d, t, label),
              onLog: (line) => {
                if (tty && bar) process.stderr.write('\n');
                process.stderr.write(`  ${line}\n`);
              },
            },
          );
        } finally {
          (bar as Progress | null)?.stop();
        }
      })();
      const color = process.stdout.isTTY && !process.env.NO_COLOR;
      process.stdout.write(`\nsample (greedy, maxProb ≥ ${r.settings.threshold} early exit):\n${formatSample(r, color)}\n\n${formatSummary(r)}\n\nreport: ${r.reportPath} (${r.seconds.toFixed(0)} s)\n`);
    });
}
