// rrt bench throughput [MODEL]: the serving systems side by side in one run (src/infer/throughput.ts).
import type { Command } from 'commander';
import { benchThroughput, formatThroughput, SYSTEM_NAMES, type SystemName } from '../../infer/throughput.js';
import { choice, float, int, DTYPE_HELP, weightDtype } from '../options.js';
import type { WeightDType } from '../../models/weights.js';

interface BenchCli {
  requests: number;
  promptLen: number;
  genLen: number;
  genSpread: number;
  concurrency: number;
  exitFraction?: number;
  threshold: number;
  kvFill: 'propagate' | 'copy';
  kvMb: number;
  threads?: number;
  dtype: WeightDType;
  rounds: number;
  systems?: SystemName[];
  paired?: boolean;
  json?: boolean;
}

export function registerBench(program: Command): void {
  const bench = program.command('bench').description('benchmarks');
  bench
    .command('throughput')
    .description('serving throughput: vanilla serial/batched vs recursive depth-wise batching with and without early exit')
    .argument('[model]', 'a recursive checkpoint (default: random weights shaped like SmolLM-135M, 2 loops)')
    .option('--requests <n>', 'requests', int(1), 8)
    .option('--prompt-len <n>', 'prompt tokens per request', int(1), 16)
    .option('--gen-len <n>', 'generated tokens per request', int(1), 32)
    .option('--gen-spread <f>', 'generated lengths spread over gen-len × (1 ± f), fixed per request', float(0, 0.99), 0)
    .option('--concurrency <n>', 'batch slots', int(1), 8)
    .option('--exit-fraction <f>', 'force this fraction of tokens to exit after loop 1', float(0, 1))
    .option('--threshold <t>', 'maxProb exit threshold when no --exit-fraction', float(0, 1), 0.5)
    .option('--kv-fill <mode>', 'KV of skipped loops: propagate or copy', choice(['propagate', 'copy'] as const), 'propagate')
    .option('--kv-mb <mb>', 'KV cache budget in MiB', int(1), 256)
    .option('--threads <n>', 'compute threads', int(1))
    .option('--dtype <dtype>', DTYPE_HELP, weightDtype(), 'f32')
    .option('--rounds <n>', 'run the systems this many times, alternating, and report medians', int(1), 1)
    .option('--systems <list>', `comma-separated subset of ${SYSTEM_NAMES.join(', ')} (vanilla_batched and depthwise always run)`, (v: string) => v.split(',').map((x) => x.trim()) as SystemName[])
    .option('--paired', 'interleave the batched systems step by step, each timed by its own steps (steadier ratios on a busy machine)')
    .option('--json', 'one JSON object keyed by system')
    .action(async (model: string | undefined, o: BenchCli) => {
      const r = await benchThroughput({ model, ...o, exitFraction: o.exitFraction ?? null });
      process.stdout.write((o.json ? JSON.stringify({ ...r, ...r.systems }) : formatThroughput(r, o.threshold)) + '\n');
    });
}
