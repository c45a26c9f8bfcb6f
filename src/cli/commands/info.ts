// rrt info MODEL: architecture, parameters (embedding / non-embedding), dtype, size on disk;
// for GGUF, the ggml types and what loading does with each.
import { cpus } from 'node:os';
import type { Command } from 'commander';
import { type GgmlLoadForm, openGguf, ggufTypeSummary } from '../../formats/gguf.js';
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
      const { format, config: c, source, textOnly } = openModelSource(model, o);
      try {
        const rec = c.recursive;
        const params = rec ? null : countParameters(c, source);
        const recParams = rec
          ? recursiveParameterCount(source.names().map((n) => ({ name: n, dtype: 'f32' as const, shape: source.info(n).shape })), { embedding: 0, nonEmbedding: rec.source.nonEmbeddingParameters, total: 0 })
          : null;
        const dtypes = storedDtypes(source);
        const ggml = format === 'gguf' ? ggmlTypes(model) : null;
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
          ...(textOnly ? { textOnly: { skippedTensors: textOnly.skipped } } : {}),
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
          ...(ggml ? { ggmlTypes: Object.fromEntries(ggml.map((t) => [t.type, { tensors: t.tensors, load: t.load }])) } : {}),
          bytesOnDisk: sizeOnDisk(model),
          ...(o.cpu ? { cpu: { model: cpus()[0]?.model ?? 'unknown', ...(native ? native.isa_info() : { best: 'none', active: 'reference (TypeScript)', quant: 'reference (TypeScript)' }) } } : {}),
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
          ggml
            ? ['ggml types', ggmlTypesLine(ggml)]
            : ['dtype', Object.entries(dtypes).map(([d, n]) => `${d} (${n} tensors)`).join(', ')],
          ['size on disk', humanBytes(info.bytesOnDisk)],
        ];
        if (textOnly) rows.splice(3, 0, ['multimodal', `text model only; vision tower not loaded (${textOnly.skipped} tensors)`]);
        if (info.recursive) {
          const r = info.recursive;
          rows.splice(3, 0, ['recursive', `${r.strategy}: ${r.sharedLayers} shared layers × ${r.loops} loops = ${r.unrolledLayers} unrolled; norms ${r.sharedNorms ? 'shared' : 'per layer'}`]);
          rows.push(['adapters', Object.keys(r.loraRanks).length ? `${humanCount(r.adapters)} (ranks ${Object.entries(r.loraRanks).map(([k, v]) => `${k} ${v}`).join(', ')})` : 'none (strictly recursive)']);
          rows.push(['vs source', `${(100 * r.ratioToSource).toFixed(1)} % of the source's ${humanCount(r.sourceNonEmbedding)} non-embedding parameters`]);
        }
        if (info.cpu) rows.push(['cpu', `${info.cpu.model}: best ${info.cpu.best}, active ${info.cpu.active}; q8_0/q4_0 kernels ${info.cpu.quant}`]);
        const w = Math.max(...rows.map((r) => r[0].length));
        for (const [k, v] of rows) process.stdout.write(`${k.padEnd(w)}  ${v}\n`);
      } finally {
        source.close();
      }
    });
}

/** Tensors per ggml type in a GGUF file, with what loading does with each type. */
function ggmlTypes(path: string): ReturnType<typeof ggufTypeSummary> {
  const file = openGguf(path);
  try {
    return ggufTypeSummary(file);
  } finally {
    file.close();
  }
}

const LOAD_WORDS: [GgmlLoadForm, string][] = [
  ['as stored', 'as stored'], ['kept quantized', 'kept quantized'], ['dequantized to bf16', 'dequantized to bf16 at load'], ['not readable', 'not readable by rrt'],
];

/** e.g. "F32 5 as stored · Q4_0 6, Q8_0 3 kept quantized · Q4_K 1, Q6_K 1 dequantized to bf16 at load" */
function ggmlTypesLine(types: ReturnType<typeof ggufTypeSummary>): string {
  return LOAD_WORDS.flatMap(([form, words]) => {
    const group = types.filter((t) => t.load === form);
    return group.length ? [`${group.map((t) => `${t.type} ${t.tensors}`).join(', ')} ${words}`] : [];
  }).join(' · ');
}
