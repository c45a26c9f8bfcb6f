// rrt quantize MODEL DST --dtype q8_0|q4_0: weight matrices in a block type, as an rrt checkpoint
// directory (loads with every command; a recursive model's shared block stays shared) or, for a
// DST ending in .gguf, a llama.cpp GGUF file.
import type { Command } from 'commander';
import { quantizeModel } from '../../models/quantize.js';
import { QUANT_DTYPES } from '../../tensor/quant.js';
import type { QuantDType } from '../../tensor/tensor.js';
import { choice, humanBytes } from '../options.js';

export function registerQuantize(program: Command): void {
  program
    .command('quantize')
    .description('store a model\'s weight matrices as q8_0 or q4_0 blocks: an rrt checkpoint directory, or (DST ending in .gguf) a llama.cpp GGUF file')
    .argument('<model>', 'HF model directory, recursive checkpoint, .gguf file or llama2.c .bin')
    .argument('<dst>', 'output directory, or a .gguf file (llama, qwen3, olmo2 and phi3 models)')
    .requiredOption('--dtype <dtype>', 'block type of the projections: q8_0 or q4_0', choice(QUANT_DTYPES))
    .option('--head-dtype <dtype>', 'block type of the token embedding and LM head', choice(QUANT_DTYPES), 'q8_0')
    .option('--tokenizer <path>', 'tokenizer of a llama2.c model')
    .option('--force', 'replace DST if it exists')
    .action((model: string, dst: string, o: { dtype: QuantDType; headDtype: QuantDType; tokenizer?: string; force?: boolean }) => {
      const t0 = performance.now();
      const r = quantizeModel(model, dst, { dtype: o.dtype, headDtype: o.headDtype, tokenizer: o.tokenizer, force: o.force });
      const seconds = (performance.now() - t0) / 1000;
      for (const w of r.warnings) process.stderr.write(`warning: ${w}\n`);
      if (r.kept.length > 0) process.stderr.write(`kept unquantized (rows not whole 32-value blocks): ${r.kept.join(', ')}\n`);
      const peak = process.resourceUsage().maxRSS * 1024;
      process.stdout.write(
        `wrote ${r.dst} (${r.format}): ${o.dtype} projections, ${o.headDtype} embedding/head, ${r.format === 'gguf' ? `${r.quantized} tensors` : `${r.quantized} quantized matrices`}; ` +
          `${humanBytes(r.bytesIn)} → ${humanBytes(r.bytesOut)} in ${seconds.toFixed(1)} s, peak memory ${humanBytes(peak)}\n`,
      );
    });
}
