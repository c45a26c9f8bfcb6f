// rrt train MODEL --data DATA.bin --out RUN_DIR [...] and rrt train --resume RUN_DIR
import type { Command } from 'commander';
import { InputError } from '../../errors.js';
import { EXIT_LOSSES, type ExitLoss } from '../../train/losses.js';
import { SCHEDULES, type ScheduleKind } from '../../train/schedule.js';
import { resumeTraining, train, type TrainHooks, type TrainOptions, type Trainable } from '../../train/trainer.js';
import { writeRunPlot } from '../../train/plot.js';
import { choice, float, int } from '../options.js';
import { progressBar } from '../progress.js';

interface TrainCli {
  data?: string;
  out?: string;
  resume?: string;
  steps?: number;
  batchSize: number;
  seqLen: number;
  gradAccum: number;
  lr: number;
  warmup?: number;
  schedule: ScheduleKind;
  weightDecay: number;
  clip: number;
  train: Trainable;
  freezeEmbeddings?: boolean;
  teacher?: string;
  distillWeight: number;
  temperature: number;
  exitLoss: ExitLoss;
  exitWeight: number;
  evalEvery: number;
  evalWindows: number;
  checkpointEvery: number;
  seed: number;
  recompute?: boolean;
  tokenizer?: string;
  force?: boolean;
}

function hooks(): TrainHooks & { done(): void } {
  const bar = progressBar('train');
  let last = '';
  return {
    onStep: (m, total) => {
      last = `step ${m.step}/${total} loss ${m.loss.toFixed(4)} lr ${m.lr.toExponential(2)} ${m.tokensPerS.toFixed(0)} tok/s`;
      bar.update(m.step, total, `loss ${m.loss.toFixed(3)} | lr ${m.lr.toExponential(1)} | ${m.tokensPerS.toFixed(0)} tok/s`);
      if (!process.stderr.isTTY && m.step % 10 === 0) process.stderr.write(last + '\n');
    },
    onEval: (e) => {
      if (!process.stderr.isTTY) process.stderr.write(`eval step ${e.step}: held-out nll ${e.nll.toFixed(4)} (ppl ${e.ppl.toFixed(2)})\n`);
    },
    onLog: (line) => process.stderr.write(line + '\n'),
    done: () => bar.stop(),
  };
}

export function registerTrain(program: Command): void {
  program
    .command('train')
    .description('uptrain a model (recursive or not) with optional distillation and early-exit losses')
    .argument('[model]', 'model to train (HF dir, recursive dir, .gguf, llama2.c .bin)')
    .option('--data <file>', 'packed token file from `rrt data prepare`')
    .option('--out <dir>', 'run directory (metrics.jsonl, checkpoint/, model/, loss.svg)')
    .option('--resume <dir>', 'continue the run in DIR from its last good checkpoint')
    .option('--steps <n>', 'optimizer steps', int(1))
    .option('--batch-size <n>', 'sequences per micro-batch', int(1), 8)
    .option('--seq-len <n>', 'tokens per sequence', int(2), 128)
    .option('--grad-accum <n>', 'micro-batches per step', int(1), 1)
    .option('--lr <x>', 'peak learning rate', float(0), 3e-4)
    .option('--warmup <n>', 'warm-up steps (default 10 % of steps)', int(0))
    .option('--schedule <s>', `learning-rate schedule: ${SCHEDULES.join(', ')}`, choice(SCHEDULES), 'cosine')
    .option('--weight-decay <x>', 'AdamW weight decay (not on norms, biases, embeddings)', float(0), 0.1)
    .option('--clip <x>', 'max gradient norm (0: off)', float(0), 1)
    .option('--train <what>', 'all, adapters (LoRA only) or shared (shared block only)', choice(['all', 'adapters', 'shared'] as const), 'all')
    .option('--freeze-embeddings', 'keep embeddings and head fixed')
    .option('--teacher <model>', "distil from this model (default: a recursive model's source; 'none' to turn off)")
    .option('--distill-weight <w>', 'share of the KL term in the loss', float(0, 1), 0.5)
    .option('--temperature <t>', 'distillation temperature', float(0), 1)
    .option('--exit-loss <kind>', `early-exit loss: ${EXIT_LOSSES.join(', ')}`, choice(EXIT_LOSSES), 'none')
    .option('--exit-weight <w>', 'aggressive: weight of the intermediate exits', float(0), 0.1)
    .option('--eval-every <n>', 'held-out evaluation every N steps (0: at the end)', int(0), 0)
    .option('--eval-windows <n>', 'held-out windows per evaluation', int(1), 16)
    .option('--checkpoint-every <n>', 'checkpoint every N steps (0: at the end)', int(0), 0)
    .option('--seed <s>', 'data-sampling seed', int(0, 2 ** 32 - 1), 0)
    .option('--recompute', 'recompute activations in the backward pass (saves memory)')
    .option('--tokenizer <path>', 'tokenizer of a llama2.c model')
    .option('--force', 'replace an existing run directory')
    .action((model: string | undefined, o: TrainCli) => {
      const h = hooks();
      let r;
      try {
        if (o.resume) r = resumeTraining(o.resume, h);
        else {
          if (!model) throw new InputError('bad_option', 'give the model to train (or --resume RUN_DIR)');
          if (!o.data || !o.out || !o.steps) throw new InputError('bad_option', '--data, --out and --steps are required');
          const opts: TrainOptions = { ...o, model, data: o.data, out: o.out, steps: o.steps };
          r = train(opts, h);
        }
      } finally {
        h.done();
      }
      const last = r.evals.at(-1);
      process.stdout.write(
        `trained ${r.steps} steps in ${r.seconds.toFixed(1)} s (${r.trainable} trainable parameters); loss ${r.losses[0]?.toFixed(4) ?? '-'} → ${r.losses.at(-1)?.toFixed(4) ?? '-'}` +
          (last ? `; held-out nll ${last.nll.toFixed(4)} (ppl ${last.ppl.toFixed(2)})` : '') +
          `\nmodel: ${r.modelDir}\nplot: ${r.runDir}/loss.svg\n`,
      );
    });

  program
    .command('plot')
    .description('write RUN_DIR/loss.svg from a run\'s metrics')
    .argument('<run>', 'run directory')
    .option('--out <file>', 'SVG path (default RUN_DIR/loss.svg)')
    .action((run: string, o: { out?: string }) => {
      process.stdout.write(`wrote ${writeRunPlot(run, o.out)}\n`);
    });
}
