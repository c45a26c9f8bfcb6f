// Tokenizers behind one interface: HF tokenizer.json (through @huggingface/tokenizers),
// llama2.c tokenizer.bin and GGUF vocabularies (score-based SentencePiece BPE, or byte-level
// BPE rebuilt as a tokenizer.json). Contract: encode/decode ids in [0, vocabSize); decode of an
// id outside it throws InputError('token_out_of_range'); unreadable files throw FormatError.
// Special tokens written literally in the text ("<s>", "<|endoftext|>") encode to their ids in
// every implementation, as HF tokenizers do.

import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { FormatError } from '../../errors.js';
import { openGguf } from '../gguf.js';
import { hfTokenizerFromFiles } from './hf.js';
import { parseLlama2cTokenizer } from './llama2c.js';
import { tokenizerFromGgufMetadata } from './gguf.js';

export interface Tokenizer {
  readonly vocabSize: number;
  readonly bosId: number | null;
  readonly eosId: number | null;
  /** addSpecialTokens: prepend BOS (and whatever the tokenizer's post-processor adds) — default true, like HF */
  encode(text: string, opts?: { addSpecialTokens?: boolean }): number[];
  /** skipSpecialTokens (default false, like transformers): drop BOS/EOS/other special tokens from the text */
  decode(ids: readonly number[], opts?: { skipSpecialTokens?: boolean }): string;
  /**
   * Incremental decoding for streaming: the concatenation of every push() and the final flush()
   * equals decode(all ids). Like decode(), the first piece of a sequence loses its SentencePiece
   * dummy-prefix space; to stream a continuation, push the prompt's ids first and discard their text.
   */
  streamDecoder(opts?: { skipSpecialTokens?: boolean }): StreamDecoder;
  /** The Jinja chat template, from tokenizer_config.json / chat_template.jinja / GGUF tokenizer.chat_template. */
  readonly chatTemplate?: string;
}

export interface StreamDecoder {
  /** Returns the text that became complete with this id (often '' while a UTF-8 character is split over byte tokens). */
  push(id: number): string;
  /** Returns what is still held back (an incomplete UTF-8 tail comes out as U+FFFD, as decode() renders it); pushing may go on after it. */
  flush(): string;
}

export { tokenizerFromGgufMetadata };

/**
 * path: a directory holding tokenizer.json (plus optional tokenizer_config.json, config.json,
 * chat_template.jinja) or tokenizer.bin; a tokenizer.json file (its sibling files are read too);
 * a GGUF file (its tokenizer.ggml.* metadata); or a llama2.c tokenizer.bin. With opts.gguf, the
 * tokenizer comes from that already-read GGUF metadata and path is not opened.
 */
export function loadTokenizer(path: string, opts: { gguf?: Map<string, unknown> } = {}): Tokenizer {
  if (opts.gguf) return tokenizerFromGgufMetadata(opts.gguf);
  if (!existsSync(path)) throw new FormatError('not_found', 'no such file or directory', { file: path });
  if (statSync(path).isDirectory()) {
    if (existsSync(join(path, 'tokenizer.json'))) return hfTokenizerFromFiles(join(path, 'tokenizer.json'));
    if (existsSync(join(path, 'tokenizer.bin'))) return loadLlama2c(join(path, 'tokenizer.bin'));
    throw new FormatError('not_found', 'directory holds neither tokenizer.json nor tokenizer.bin', { file: path });
  }
  if (path.endsWith('.json')) return hfTokenizerFromFiles(path);
  if (startsWithGgufMagic(path)) {
    const gguf = openGguf(path);
    gguf.close();
    return tokenizerFromGgufMetadata(gguf.metadata);
  }
  return parseLlama2cTokenizer(readFileSync(path), path);
}

function startsWithGgufMagic(file: string): boolean {
  const fd = openSync(file, 'r');
  try {
    const magic = Buffer.alloc(4);
    return readSync(fd, magic, 0, 4, 0) === 4 && magic.toString('latin1') === 'GGUF';
  } finally {
    closeSync(fd);
  }
}

function loadLlama2c(file: string): Tokenizer {
  return parseLlama2cTokenizer(readFileSync(file), file);
}
