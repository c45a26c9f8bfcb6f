// rrt info MODEL: architecture, parameters (embedding / non-embedding), dtype, size on disk.
import type { Command } from 'commander';
import { BUNDLED_MODEL, openModelSource, sizeOnDisk, storedDtypes } from '../../models/load.js';
import { countParameters } from '../../models/params.js';
import { recursiveParameterCount } from '../../recursive/convert.js';
import { native } from '../../tensor/kernels.js';
import { humanBytes, humanCount } from '../options.js';

export function registerInfo(program: Command): void {
  program
    .command('info')
    .description('show a model\'s architecture, parameter counts, dtype and size')
    .argument('[model]', 'HF model directory, .gguf file or llama2.c .bin', BUNDLED_MODEL)
    .option('--tokenizer <path>', 'tokenizer for llama2.c models')
    .option('--json', 'print one JSON object')
    .option('--cpu', 'also show the CPU features and the kernels chosen for them')
    .action((model: string, o: { tokenizer?: string; json?: boolean; cpu?: boolean }) => {
      const { format, config: c, source } = openModelSource(model, o);
      try {
        const rec = c.recursive;
        const params = rec ? null : countParameters(c, source);
        const recParams = rec
          ? recursiveParameterCount(source.names().map((n) => ({ name: n, dtype: 'f32' as const, shape: source.info(n).shape })), { embedding: 0, nonEmbedding: rec.source.nonEmbeddingParameters, total: 0 })
          : null;
        const dtypes = storedDtypes(source);
        const info = {
          path: model,
          format,
          architecture: c.arch,
          layers: c.nLayers,
          hidden: c.hidden,
          intermediate: c.intermediate,
          heads: c.nHeads,
          kvHeads: c.nKvHeads,
          headDim: c.headDim,
          vocab: c.vocabSize,
          context: c.maxPositions,
          tiedEmbeddings: c.tiedHead,
          parameters: params ?? { embedding: recParams!.embedding, nonEmbedding: recParams!.uniqueNonEmbedding, total: recParams!.embedding + recParams!.uniqueNonEmbedding },
          ...(rec
            ? {
                recursive: {
                  strategy: rec.plan.strategy,
                  loops: rec.plan.nLoops,
                  sharedLayers: rec.plan.nShared,
                  unrolledLayers: c.nLayers,
                  uniqueNonEmbedding: recParams!.uniqueNonEmbedding,
                  adapters: recParams!.adapters,
                  sourceNonEmbedding: rec.source.nonEmbeddingParameters,
                  ratioToSource: recParams!.ratioToSource,
                  loraRanks: rec.lora?.ranks ?? {},
                  sharedNorms: rec.sharedNorms,
                },
              }
            : {}),
          dtypes,
          bytesOnDisk: sizeOnDisk(model),
          ...(o.cpu ? { cpu: native ? native.isa_info() : { best: 'none', active: 'reference (TypeScript)' } } : {}),
        };
        if (o.json) {
          process.stdout.write(JSON.stringify(info) + '\n');
          return;
        }
        const rows: [string, string][] = [
          ['model', model],
          ['format', format],
          ['architecture', `${c.arch} (${c.nLayers} layers, d ${c.hidden}, ffn ${c.intermediate}, ${c.nHeads} heads / ${c.nKvHeads} kv, head dim ${c.headDim})`],
          ['vocabulary', `${c.vocabSize}${c.tiedHead ? ' (tied head)' : ''}`],
          ['context', String(c.maxPositions)],
          ['parameters', `${humanCount(info.parameters.total)} total: ${humanCount(info.parameters.embedding)} embedding, ${humanCount(info.parameters.nonEmbedding)} non-embedding${rec ? ' (unique)' : ''}`],
          ['dtype', Object.entries(dtypes).map(([d, n]) => `${d} (${n} tensors)`).join(', ')],
          ['size on disk', humanBytes(info.bytesOnDisk)],
        ];
        if (info.recursive) {
          const r = info.recursive;
          rows.splice(3, 0, ['recursive', `${r.strategy}: ${r.sharedLayers} shared layers × ${r.loops} loops = ${r.unrolledLayers} unrolled; norms ${r.sharedNorms ? 'shared' : 'per layer'}`]);
          rows.push(['adapters', Object.keys(r.loraRanks).length ? `${humanCount(r.adapters)} (ranks ${Object.entries(r.loraRanks).map(([k, v]) => `${k} ${v}`).join(', ')})` : 'none (strictly recursive)']);
          rows.push(['vs source', `${(100 * r.ratioToSource).toFixed(1)} % of the source's ${humanCount(r.sourceNonEmbedding)} non-embedding parameters`]);
        }
        if (info.cpu) rows.push(['cpu', `best ${info.cpu.best}, active ${info.cpu.active}`]);
        const w = Math.max(...rows.map((r) => r[0].length));
        for (const [k, v] of rows) process.stdout.write(`${k.padEnd(w)}  ${v}\n`);
      } finally {
        source.close();
      }
    });
}
