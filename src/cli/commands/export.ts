// rrt export MODEL DST: a recursive model unrolled, adapters merged, as a plain HF checkpoint.
import type { Command } from 'commander';
import { exportUnrolled } from '../../recursive/export.js';
import { progressBar } from '../progress.js';

export function registerExport(program: Command): void {
  program
    .command('export')
    .description('write a model unrolled with LoRA merged, as a plain Hugging Face checkpoint directory')
    .argument('<model>', 'recursive (or plain) model')
    .argument('<dst>', 'output directory')
    .option('--tokenizer <path>', 'tokenizer of a llama2.c model')
    .option('--force', 'replace DST if it exists')
    .action((model: string, dst: string, o: { force?: boolean; tokenizer?: string }) => {
      const bar = progressBar('export');
      try {
        const r = exportUnrolled(model, dst, { force: o.force, tokenizer: o.tokenizer, onProgress: (d, t, l) => bar.update(d, t, l) });
        bar.stop();
        process.stdout.write(`wrote ${r.dst}: ${r.layers} layers, adapters merged\n`);
      } finally {
        bar.stop();
      }
    });
}
