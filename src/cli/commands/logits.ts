// rrt logits MODEL --input IDS.safetensors --out OUT.safetensors
// Reads `input_ids` (int32 or int64, [B, T]), writes `logits` (f32, [B, T, V]).
import type { Command } from 'commander';
import { InputError } from '../../errors.js';
import { openSafetensors, writeSafetensors } from '../../formats/safetensors.js';
import { loadModel } from '../../models/load.js';
import { noGrad } from '../../tensor/autograd.js';
import { choice, DTYPE_HELP, weightDtype, reportUnquantized } from '../options.js';
import type { WeightDType } from '../../models/weights.js';

export function readInputIds(path: string): { ids: Int32Array; B: number; T: number } {
  const f = openSafetensors(path);
  try {
    if (!f.names().includes('input_ids')) throw new InputError('bad_option', `${path} has no tensor "input_ids" (it has: ${f.names().join(', ') || 'none'})`);
    const t = f.read('input_ids');
    if (t.shape.length !== 2) throw new InputError('bad_option', `input_ids must be [B, T], got [${t.shape.join(', ')}]`);
    const [B, T] = t.shape;
    if (B === 0 || T === 0) throw new InputError('bad_option', `input_ids is empty ([${B}, ${T}])`);
    let ids: Int32Array;
    if (t.dtype === 'i32') ids = t.data as Int32Array;
    else if (t.dtype === 'i64') {
      const src = t.data as BigInt64Array;
      ids = new Int32Array(src.length);
      for (let i = 0; i < src.length; i++) {
        if (src[i] < -2147483648n || src[i] > 2147483647n) throw new InputError('token_out_of_range', `input_ids[${i}] = ${src[i]} does not fit a token id`);
        ids[i] = Number(src[i]);
      }
    } else throw new InputError('bad_option', `input_ids must be int32 or int64, got ${t.dtype}`);
    return { ids, B, T };
  } finally {
    f.close();
  }
}

export function registerLogits(program: Command): void {
  program
    .command('logits')
    .description('run a forward pass over token ids and write the logits')
    .argument('<model>', 'HF model directory, .gguf file or llama2.c .bin')
    .requiredOption('--input <file>', 'safetensors file with input_ids (int32/int64, [B, T])')
    .requiredOption('--out <file>', 'safetensors file to write logits (f32, [B, T, V]) to')
    .option('--tokenizer <path>', 'tokenizer for llama2.c models')
    .option('--dtype <dtype>', DTYPE_HELP, weightDtype(), 'f32')
    .action((model: string, o: { input: string; out: string; tokenizer?: string; dtype: WeightDType }) => {
      const { ids, B, T } = readInputIds(o.input);
      const m = loadModel(model, { tokenizer: o.tokenizer, dtype: o.dtype });
      reportUnquantized(m);
      const logits = noGrad(() => m.decoder.forward(ids, B, T).logits);
      writeSafetensors(o.out, [{ name: 'logits', dtype: 'f32', shape: [B, T, m.config.vocabSize], data: logits.f32 }], { made_by: 'rrt logits' });
      process.stderr.write(`wrote logits [${B}, ${T}, ${m.config.vocabSize}] to ${o.out}\n`);
    });
}
