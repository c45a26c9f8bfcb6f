// loadModel: one entry for every checkpoint kind. A directory with config.json
// (HF layout, single or sharded safetensors), a .gguf file, or a llama2.c .bin
// (with its tokenizer.bin) becomes a ModelConfig + Weights + Decoder + Tokenizer.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ConfigError, FormatError, InputError } from '../errors.js';
import { openGguf, ggufToHf } from '../formats/gguf.js';
import { openLlama2c } from '../formats/llama2c.js';
import { openCheckpointDir } from '../formats/safetensors.js';
import type { TensorSource } from '../formats/tensor-source.js';
import { loadTokenizer, tokenizerFromGgufMetadata, type Tokenizer } from '../formats/tokenizers/index.js';
import { packTensors } from '../tensor/huge-pages.js';
import type { ModelConfig } from './config.js';
import { Decoder } from './decoder.js';
import { configFromHf } from './profiles/index.js';
import { MULTIMODAL_TYPE, TextModelSource } from './profiles/gemma3-mm.js';
import { loadWeights, type WeightDType, type WeightPlan } from './weights.js';

export type ModelFormat = 'hf' | 'gguf' | 'llama2c';

export interface LoadOptions {
  /** tokenizer path (llama2.c models need one; others carry theirs) */
  tokenizer?: string;
  /**
   * dtype of the weight matrices in memory; norms and biases stay f32. 'auto': as stored (a GGUF
   * file's q8_0/q4_0 blocks stay packed, its other block types become bf16, the rest f32). @default 'f32'
   */
  dtype?: WeightDType | 'auto';
  /** dtype of the token embedding and LM head (quantized dtypes only). @default 'q8_0' */
  headDtype?: WeightDType;
  /** weights in one arena on 2 MB pages (src/tensor/huge-pages.ts; RRT_HUGE_PAGES=0 also turns it off). @default true */
  hugePages?: boolean;
}

export interface LoadedModel {
  path: string;
  format: ModelFormat;
  config: ModelConfig;
  decoder: Decoder;
  tokenizer: Tokenizer | null;
  /** the tokenizer's file or directory (what to copy next to a saved model) */
  tokenizerPath: string | null;
  /** matrices kept in bf16 under a quantized dtype (rows not whole 32-value blocks), as 'name [shape]' */
  unquantized: string[];
  /** dtypes of the tensors as stored in the checkpoint (counted by tensor) */
  storedDtypes: Record<string, number>;
  bytesOnDisk: number;
}

/** The model shipped inside the package (llama2.c stories260K, MIT). */
export const BUNDLED_MODEL = new URL('../../assets/stories260K/stories260K.bin', import.meta.url).pathname;

/** Bytes of a model file, or of the files directly in a model directory. */
export function sizeOnDisk(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.size;
  return readdirSync(path).reduce((n, f) => {
    const s = statSync(join(path, f));
    return n + (s.isFile() ? s.size : 0);
  }, 0);
}

/** How many tensors the checkpoint stores in each dtype. */
export function storedDtypes(source: TensorSource): Record<string, number> {
  const out: Record<string, number> = {};
  for (const n of source.names()) {
    const d = source.info(n).dtype;
    out[d] = (out[d] ?? 0) + 1;
  }
  return out;
}

/** Finds the llama2.c tokenizer next to a model: tokenizer.bin, or the only tok*.bin. */
function siblingTokenizer(modelPath: string): string | null {
  const dir = dirname(modelPath);
  if (existsSync(join(dir, 'tokenizer.bin'))) return join(dir, 'tokenizer.bin');
  const toks = readdirSync(dir).filter((f) => /^tok.*\.bin$/.test(f) && f !== basename(modelPath));
  return toks.length === 1 ? join(dir, toks[0]) : null;
}

export function readHfConfig(dir: string): Record<string, unknown> {
  const file = join(dir, 'config.json');
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ConfigError('bad_value', `${file}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new ConfigError('bad_value', `${file}: must hold a JSON object`);
  return json as Record<string, unknown>;
}

/** Opens a checkpoint and returns its config and tensors under HF names, without loading weights. */
export interface ModelSource {
  format: ModelFormat;
  config: ModelConfig;
  source: TensorSource;
  /** loads the model's tokenizer (null when it has none) */
  tokenizer: () => Tokenizer | null;
  /** the tokenizer file, when it is a separate file */
  tokenizerPath: string | null;
  /** a multimodal checkpoint read as its text model: how many vision-tower and projector tensors were not read */
  textOnly?: { skipped: number };
}

export function openModelSource(path: string, opts: { tokenizer?: string } = {}): ModelSource {
  if (!existsSync(path)) throw new InputError('not_found', `model not found: ${path}`);
  const st = statSync(path);
  if (st.isDirectory()) {
    if (!existsSync(join(path, 'config.json'))) throw new FormatError('not_found', `${path} has no config.json (expected a Hugging Face model directory)`);
    const json = readHfConfig(path);
    const config = configFromHf(json);
    const files = openCheckpointDir(path);
    let source: TensorSource = files, textOnly: ModelSource['textOnly'];
    if (json.model_type === MULTIMODAL_TYPE) {
      try {
        const text = new TextModelSource(files);
        source = text;
        textOnly = { skipped: text.skipped };
      } catch (e) {
        files.close();
        throw e;
      }
    }
    // tokenizer.json (HF), or tokenizer.bin (a converted llama2.c model)
    const tokPath = opts.tokenizer ?? ['tokenizer.json', 'tokenizer.bin'].map((f) => join(path, f)).find((f) => existsSync(f)) ?? null;
    return { format: 'hf', config, source, tokenizer: () => (tokPath ? loadTokenizer(tokPath) : null), tokenizerPath: tokPath, textOnly };
  }
  if (path.endsWith('.gguf')) {
    const file = openGguf(path);
    const { config: hf, source } = ggufToHf(file);
    const config = configFromHf(hf);
    const tokenizer = () => (opts.tokenizer ? loadTokenizer(opts.tokenizer) : tokenizerFromGgufMetadata(file.metadata as Map<string, unknown>));
    return { format: 'gguf', config, source, tokenizer, tokenizerPath: opts.tokenizer ?? null };
  }
  if (path.endsWith('.bin')) {
    const { config: hf, source } = openLlama2c(path);
    const config = configFromHf(hf);
    const tokPath = opts.tokenizer ?? siblingTokenizer(path);
    return { format: 'llama2c', config, source, tokenizer: () => (tokPath ? loadTokenizer(tokPath) : null), tokenizerPath: tokPath };
  }
  throw new InputError('bad_option', `${path}: not a model (expected an HF directory with config.json, a .gguf file or a llama2.c .bin)`);
}

/**
 * Loads a model for inference or training.
 * @example
 * const m = loadModel('assets/stories260K/stories260K.bin');
 * for (const id of generateIds(m.decoder, m.tokenizer!.encode('Once upon a time'), { maxTokens: 50 })) ...
 */
export function loadModel(path: string, opts: LoadOptions = {}): LoadedModel {
  const { format, config, source, tokenizer, tokenizerPath } = openModelSource(path, opts);
  try {
    const plan: WeightPlan = { dtype: opts.dtype ?? 'f32', head: opts.headDtype };
    const loaded = loadWeights(source, config, plan);
    const weights = opts.hugePages === false ? loaded : packTensors(loaded);
    return {
      path,
      format,
      config,
      decoder: new Decoder(config, weights),
      tokenizer: tokenizer(),
      tokenizerPath: format === 'hf' && tokenizerPath ? path : tokenizerPath,
      storedDtypes: storedDtypes(source),
      unquantized: plan.unquantized ?? [],
      bytesOnDisk: sizeOnDisk(path),
    };
  } finally {
    source.close();
  }
}
