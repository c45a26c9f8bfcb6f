// rrt export MODEL DST: a recursive (or plain) model unrolled, adapters merged, as a plain HF
// checkpoint directory, or, when DST ends in .gguf, as one llama.cpp GGUF file: looped (the shared
// block once) for a strictly recursive cycle model, unrolled otherwise (F32, F16, Q8_0 or Q4_0).
import type { Command } from 'commander';
import { exportUnrolled } from '../../recursive/export.js';
import { exportGguf, GGUF_EXPORT_DTYPES, type GgufExportDtype } from '../../recursive/export-gguf.js';
import { InputError } from '../../errors.js';
import { choice } from '../options.js';
import { progressBar } from '../progress.js';

export function registerExport(program: Command): void {
  program
    .command('export')
    .description('write a model unrolled with LoRA merged, as a plain Hugging Face checkpoint directory or (DST ending in .gguf) a llama.cpp GGUF file')
    .argument('<model>', 'recursive (or plain) model')
    .argument('<dst>', 'output directory, or a .gguf file')
    .option('--tokenizer <path>', 'tokenizer of a llama2.c model (for GGUF: the tokenizer to embed)')
    .option('--dtype <t>', 'GGUF matrix dtype: f32, f16, q8_0 or q4_0 (norms stay f32; quantized files keep the token embedding and output in q8_0)', choice(GGUF_EXPORT_DTYPES))
    .option('--looped', 'GGUF: llama.cpp\'s looped architecture, the shared block stored once (strictly recursive cycle models; the default where the model fits it)')
    .option('--unrolled', 'GGUF: every loop\'s layers, adapters merged (any model)')
    .option('--force', 'replace DST if it exists')
    .action((model: string, dst: string, o: { force?: boolean; tokenizer?: string; dtype?: GgufExportDtype; looped?: boolean; unrolled?: boolean }) => {
      if (o.looped && o.unrolled) throw new InputError('bad_option', '--looped and --unrolled exclude each other');
      const bar = progressBar('export');
      try {
        const onProgress = (d: number, t: number, l: string) => bar.update(d, t, l);
        if (dst.endsWith('.gguf')) {
          const layout = o.looped ? 'looped' : o.unrolled ? 'unrolled' : 'auto';
          const r = exportGguf(model, dst, { force: o.force, tokenizer: o.tokenizer, dtype: o.dtype, layout, onProgress });
          bar.stop();
          for (const w of r.warnings) process.stderr.write(`warning: ${w}\n`);
          const shape = r.architecture === 'nanbeige' ? `looped (nanbeige), ${r.layers} shared blocks × ${r.loops} loops` : `${r.architecture}, ${r.layers} blocks, adapters merged`;
          process.stdout.write(`wrote ${r.dst}: ${shape}, ${o.dtype ?? 'f32'}, ${r.tensors} tensors, '${r.tokenizerModel}' tokenizer\n`);
          return;
        }
        if (o.dtype) process.stderr.write('warning: --dtype applies to GGUF export only; the HF checkpoint is written in f32\n');
        if (o.looped) throw new InputError('bad_option', '--looped applies to GGUF export (DST ending in .gguf); an HF checkpoint is always unrolled');
        const r = exportUnrolled(model, dst, { force: o.force, tokenizer: o.tokenizer, onProgress });
        bar.stop();
        process.stdout.write(`wrote ${r.dst}: ${r.layers} layers, adapters merged\n`);
      } finally {
        bar.stop();
      }
    });
}
