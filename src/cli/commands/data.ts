// rrt data prepare INPUT... --tokenizer MODEL --out DATA.bin: text and JSON Lines corpora →
// a packed token file and its sidecar (src/train/data.ts), for training.
import type { Command } from 'commander';
import { prepareTokenFile, resolveTokenizer } from '../../train/data.js';
import { humanBytes, humanCount, int } from '../options.js';
import { progressBar } from '../progress.js';

interface PrepareCliOptions {
  tokenizer: string;
  out: string;
  textField: string;
  bos: boolean;
  appendEos?: boolean;
  maxTokens?: number;
  json?: boolean;
}

export function registerData(program: Command): void {
  const data = program.command('data').description('prepare training data');
  data
    .command('prepare')
    .description('tokenize text files, .jsonl files or folders of them into a packed token file (DATA.bin + DATA.bin.json)')
    .argument('<inputs...>', 'text files (documents separated by blank lines, else one per line), .jsonl files, or folders of .txt/.jsonl (recursive)')
    .requiredOption('--tokenizer <model>', 'a model (HF directory, .gguf, llama2.c .bin) whose tokenizer to use, or a tokenizer file')
    .requiredOption('--out <file>', 'output token file; its sidecar is <file>.json')
    .option('--text-field <name>', 'field holding the text in .jsonl lines', 'text')
    .option('--no-bos', 'do not put BOS before each document')
    .option('--append-eos', 'put EOS after each document')
    .option('--max-tokens <n>', 'stop after n tokens', int(1))
    .option('--json', 'print the summary as one JSON object')
    .action((inputs: string[], o: PrepareCliOptions) => {
      const tok = resolveTokenizer(o.tokenizer);
      const bar = progressBar('prepare');
      let summary;
      try {
        summary = prepareTokenFile(inputs, o.out, {
          tokenizer: tok.tokenizer,
          tokenizerSource: { path: tok.path, files: tok.files, sha256: tok.sha256 },
          textField: o.textField,
          bos: o.bos,
          appendEos: o.appendEos,
          maxTokens: o.maxTokens,
          onProgress: (p) => bar.update(p.bytesRead, p.totalBytes, `${humanCount(p.tokens)} tokens, ${humanCount(p.tokens / Math.max(p.seconds, 1e-3))} tok/s`),
        });
      } finally {
        bar.stop();
      }
      const { meta, seconds } = summary;
      const rate = meta.tokens / Math.max(seconds, 1e-6);
      if (o.json) {
        process.stdout.write(JSON.stringify({ out: summary.out, ...meta, inputFiles: summary.files, bytesRead: summary.bytesRead, seconds, tokensPerSecond: rate }) + '\n');
        return;
      }
      const id = (x: number | null) => (x === null ? 'none' : String(x));
      process.stdout.write(
        [
          `wrote ${summary.out} (+ .json) in ${seconds.toFixed(1)} s`,
          `tokens      ${humanCount(meta.tokens)} (${meta.tokens}) as ${meta.dtype}, ${meta.documents} documents from ${summary.files} files (${humanBytes(summary.bytesRead)})`,
          `tokenizer   ${tok.path}: vocab ${meta.vocabSize}, BOS ${id(meta.bos)}, EOS ${id(meta.eos)}`,
          `throughput  ${humanCount(rate)} tokens/s`,
        ].join('\n') + '\n',
      );
    });
}
