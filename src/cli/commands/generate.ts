// rrt generate [MODEL] --prompt TEXT --max-tokens N [--temperature T --top-k K --top-p P --seed S]
// Streams the continuation to stdout as it is generated; a stats line goes to stderr.
import type { Command } from 'commander';
import { InputError } from '../../errors.js';
import { generateIds } from '../../models/generate.js';
import { BUNDLED_MODEL, loadModel } from '../../models/load.js';
import { choice, float, int, DTYPE_HELP, weightDtype, reportUnquantized } from '../options.js';
import type { WeightDType } from '../../models/weights.js';

interface GenerateCliOptions {
  prompt: string;
  maxTokens: number;
  temperature: number;
  topK: number;
  topP: number;
  seed?: number;
  tokenizer?: string;
  dtype: WeightDType;
  stats?: boolean;
}

export function registerGenerate(program: Command): void {
  program
    .command('generate')
    .description('generate text from a prompt (streams to stdout)')
    .argument('[model]', 'HF model directory, .gguf file or llama2.c .bin (default: the bundled stories260K)', BUNDLED_MODEL)
    .option('--prompt <text>', 'text to continue (empty: start from BOS)', '')
    .option('--max-tokens <n>', 'tokens to generate at most', int(0), 256)
    .option('--temperature <t>', '0 = greedy', float(0), 0)
    .option('--top-k <k>', 'sample among the k most likely tokens (0 = all)', int(0), 0)
    .option('--top-p <p>', 'nucleus sampling threshold', float(0, 1), 1)
    .option('--seed <s>', 'sampling seed', int(0, 2 ** 32 - 1))
    .option('--tokenizer <path>', 'tokenizer for llama2.c models')
    .option('--dtype <dtype>', DTYPE_HELP, weightDtype(), 'f32')
    .option('--no-stats', 'do not print the speed line on stderr')
    .action((model: string, o: GenerateCliOptions) => {
      const m = loadModel(model, { tokenizer: o.tokenizer, dtype: o.dtype });
      reportUnquantized(m);
      const tok = m.tokenizer;
      if (!tok) throw new InputError('not_found', `no tokenizer found for ${model}; pass --tokenizer`);
      const prompt = o.prompt === '' ? (tok.bosId !== null ? [tok.bosId] : []) : tok.encode(o.prompt, { addSpecialTokens: true });
      if (prompt.length === 0) throw new InputError('bad_option', 'empty prompt and the tokenizer has no BOS token: pass --prompt');
      const out = tok.streamDecoder({ skipSpecialTokens: true });
      // the decoder sees the prompt first (so word-boundary spaces come out right); the prompt is echoed as typed
      for (const id of prompt) out.push(id);
      process.stdout.write(o.prompt);
      const t0 = performance.now();
      let n = 0;
      for (const id of generateIds(m.decoder, prompt, { maxTokens: o.maxTokens, temperature: o.temperature, topK: o.topK, topP: o.topP, seed: o.seed })) {
        process.stdout.write(out.push(id));
        n++;
      }
      process.stdout.write(out.flush() + '\n');
      const s = (performance.now() - t0) / 1000;
      if (o.stats) process.stderr.write(`${n} tokens in ${s.toFixed(2)} s (${(n / s).toFixed(1)} tok/s, prompt ${prompt.length} tokens)\n`);
    });
}
