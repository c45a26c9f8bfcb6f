// rrt convert SRC DST --loops B [...]: a pretrained model → a (relaxed) Recursive Transformer checkpoint.
import type { Command } from 'commander';
import { convertToRecursive } from '../../recursive/convert.js';
import { INIT_METHODS, type InitMethod, STRATEGIES, type Strategy } from '../../recursive/sharing.js';
import { choice, humanCount, int } from '../options.js';
import { progressBar } from '../progress.js';

interface ConvertCliOptions {
  loops: number;
  strategy: Strategy;
  init: InitMethod;
  loraRank?: number;
  loraRankAttn?: number;
  loraRankMlp?: number;
  loraInit: 'svd' | 'zero';
  loraModules?: string;
  untieNorms?: boolean;
  seed?: number;
  force?: boolean;
  tokenizer?: string;
  json?: boolean;
}

export function registerConvert(program: Command): void {
  program
    .command('convert')
    .description('convert a pretrained model into a (relaxed) Recursive Transformer')
    .argument('<src>', 'source model: HF directory, .gguf or llama2.c .bin')
    .argument('<dst>', 'output directory (must not exist unless --force)')
    .requiredOption('--loops <B>', 'loops over the shared block', int(1))
    .option('--strategy <s>', `sharing strategy: ${STRATEGIES.join(', ')}`, choice(STRATEGIES), 'cycle')
    .option('--init <m>', `shared-block initialisation: ${INIT_METHODS.join(', ')}`, choice(INIT_METHODS), 'stepwise')
    .option('--lora-rank <r>', 'LoRA rank of every projection (0 or absent: strictly recursive; ≥ min(d_in, d_out): full rank)', int(0))
    .option('--lora-rank-attn <r>', 'LoRA rank of the attention projections', int(0))
    .option('--lora-rank-mlp <r>', 'LoRA rank of the MLP projections', int(0))
    .option('--lora-init <i>', 'svd (top-r SVD of W − W\') or zero (B = 0)', choice(['svd', 'zero'] as const), 'svd')
    .option('--lora-modules <list>', 'comma-separated projections to relax (rrt names q,k,v,qkv,o,gate,up,gateUp,down or HF module names)')
    .option('--untie-norms', 'one copy of every norm and bias per unrolled layer (default: shared)')
    .option('--seed <s>', 'seed for --init random and zero-init adapters', int(0, 2 ** 31 - 1))
    .option('--tokenizer <path>', 'tokenizer of a llama2.c source')
    .option('--force', 'replace DST if it exists')
    .option('--json', 'print the summary as one JSON object')
    .action((src: string, dst: string, o: ConvertCliOptions) => {
      const bar = progressBar('convert');
      let summary;
      try {
        summary = convertToRecursive(src, dst, {
          nLoops: o.loops,
          strategy: o.strategy,
          init: o.init,
          seed: o.seed,
          loraRank: o.loraRank,
          loraRankAttn: o.loraRankAttn,
          loraRankMlp: o.loraRankMlp,
          loraInit: o.loraInit,
          loraModules: o.loraModules?.split(',').map((s) => s.trim()).filter(Boolean),
          untieNorms: o.untieNorms,
          force: o.force,
          tokenizer: o.tokenizer,
          onProgress: (d, t, label) => bar.update(d, t, label),
        });
      } finally {
        bar.stop();
      }
      const s = summary;
      if (o.json) {
        process.stdout.write(JSON.stringify({ dst: s.dst, plan: s.plan, before: s.before, after: s.after, ranks: s.ranks, meanRelResidual: s.meanRelResidual, seconds: s.seconds }) + '\n');
        return;
      }
      const p = s.plan;
      const lines = [
        `wrote ${dst} in ${s.seconds.toFixed(1)} s`,
        `sharing      ${p.strategy}, ${p.nShared} shared layers × ${p.nLoops} loops = ${p.unrolled.length} unrolled layers (source: ${p.sourceLayers})`,
        ...(p.selectionNote ? [`selection    ${p.selectionNote}`] : []),
        `init         ${p.init}: slot sources ${p.slotSources.map((x) => x.join('+')).join(', ')}`,
        `parameters   non-embedding ${humanCount(s.before.nonEmbedding)} → ${humanCount(s.after.uniqueNonEmbedding)} unique (${(100 * s.after.ratioToSource).toFixed(1)} %), of which adapters ${humanCount(s.after.adapters)}; embedding ${humanCount(s.after.embedding)}`,
      ];
      const ranks = Object.entries(s.ranks);
      if (ranks.length) {
        lines.push(`LoRA         ${o.loraInit}, ranks ${ranks.map(([k, v]) => `${k} ${v}`).join(', ')}`);
        lines.push(`residual     mean ‖R − BA‖/‖R‖: ${Object.entries(s.meanRelResidual).map(([k, v]) => `${k} ${(v as number).toFixed(3)}`).join(', ')}`);
      } else lines.push('LoRA         none (strictly recursive)');
      process.stdout.write(lines.join('\n') + '\n');
    });
}
