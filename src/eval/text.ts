// Turning text files into token streams for evaluation: documents are separated by blank
// lines (TinyStories) or given one per line; each document is encoded on its own (never
// one huge string: SentencePiece-style tokenizers are slow on those) and prefixed with BOS.
import { readFileSync } from 'node:fs';
import { InputError } from '../errors.js';
import type { Tokenizer } from '../formats/tokenizers/index.js';

export function splitDocuments(text: string): string[] {
  const blocks = text.split(/\n\s*\n/).map((s) => s.trim()).filter(Boolean);
  // no blank lines: one document per line
  return blocks.length > 1 ? blocks : text.split('\n').map((s) => s.trim()).filter(Boolean);
}

export function tokenizeDocuments(docs: readonly string[], tokenizer: Tokenizer, opts: { maxTokens?: number } = {}): Int32Array {
  const out: number[] = [];
  for (const doc of docs) {
    const ids = tokenizer.encode(doc, { addSpecialTokens: false });
    if (tokenizer.bosId !== null) out.push(tokenizer.bosId);
    for (const id of ids) out.push(id);
    if (opts.maxTokens !== undefined && out.length >= opts.maxTokens) break;
  }
  return Int32Array.from(opts.maxTokens !== undefined ? out.slice(0, opts.maxTokens) : out);
}

export function tokenizeFile(path: string, tokenizer: Tokenizer, opts: { maxTokens?: number } = {}): Int32Array {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new InputError('not_found', `cannot read ${path}: ${(e as Error).message}`);
  }
  const docs = splitDocuments(text);
  if (docs.length === 0) throw new InputError('bad_option', `${path} holds no text`);
  return tokenizeDocuments(docs, tokenizer, opts);
}
