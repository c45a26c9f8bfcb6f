// Quantizing a model: any model rrt loads (HF directory, recursive checkpoint, GGUF, llama2.c)
// written with its weight matrices in q8_0 or q4_0, as an rrt checkpoint directory (each matrix
// stored once as its GGUF blocks: a recursive model's shared block stays shared) or, for a DST
// ending in .gguf, a llama.cpp GGUF file. Norms, biases and LoRA adapters stay f32.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../errors.js';
import { exportGguf } from '../recursive/export-gguf.js';
import { isQuantized, type QuantDType } from '../tensor/tensor.js';
import { loadModel } from './load.js';
import { saveModel } from './save.js';
import { namedTensors } from './weights.js';

export interface QuantizeOptions {
  dtype: QuantDType;
  /** the token embedding's and LM head's dtype. @default 'q8_0' */
  headDtype?: QuantDType;
  force?: boolean;
  /** tokenizer of a llama2.c source (for a GGUF destination, the one to embed) */
  tokenizer?: string;
}

export interface QuantizeSummary {
  dst: string;
  format: 'checkpoint' | 'gguf';
  /** distinct matrices stored quantized (a shared slot counts once) */
  quantized: number;
  /** matrices kept unquantized because their rows are not whole 32-value blocks, 'name [shape]' */
  kept: string[];
  bytesIn: number;
  bytesOut: number;
  warnings: string[];
}

function bytesOf(path: string): number {
  if (!existsSync(path)) return 0;
  const s = statSync(path);
  return s.isDirectory() ? readdirSync(path).reduce((n, f) => n + bytesOf(join(path, f)), 0) : s.size;
}

/**
 * @example
 * quantizeModel('out/tinyllama-rrt', 'out/tinyllama-rrt-q8', { dtype: 'q8_0' });
 */
export function quantizeModel(src: string, dst: string, opts: QuantizeOptions): QuantizeSummary {
  if (!isQuantized(opts.dtype)) throw new InputError('bad_option', `--dtype must be q8_0 or q4_0, got '${String(opts.dtype)}'`);
  if (existsSync(dst) && !opts.force) throw new InputError('exists', `${dst} already exists; pass --force to replace it`);
  const headDtype = opts.headDtype ?? 'q8_0';
  if (dst.endsWith('.gguf')) {
    const r = exportGguf(src, dst, { dtype: opts.dtype, headDtype, force: opts.force, tokenizer: opts.tokenizer });
    const kept = r.warnings.filter((w) => w.includes('not whole 32-value blocks'));
    return { dst, format: 'gguf', quantized: r.tensors, kept, bytesIn: bytesOf(src), bytesOut: bytesOf(dst), warnings: r.warnings.filter((w) => !kept.includes(w)) };
  }
  const m = loadModel(src, { dtype: opts.dtype, headDtype, tokenizer: opts.tokenizer, hugePages: false });
  const tokenizerFrom = m.format === 'hf' ? src : (m.tokenizerPath ?? undefined);
  saveModel(m.config, m.decoder.weights, dst, { force: opts.force, tokenizerFrom });
  const quantized = [...namedTensors(m.decoder.weights).keys()].filter((t) => isQuantized(t.dtype)).length;
  const warnings = tokenizerFrom ? [] : [`${src} has no tokenizer to copy; pass --tokenizer`];
  return { dst, format: 'checkpoint', quantized, kept: m.unquantized, bytesIn: bytesOf(src), bytesOut: bytesOf(dst), warnings };
}

