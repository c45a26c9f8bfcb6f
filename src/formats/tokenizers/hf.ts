// Hugging Face tokenizer.json through @huggingface/tokenizers (pure JS; ids match the Rust library
// on GPT-2, GPT-NeoX and Llama). Added here: tokenizer_config.json's special tokens, add_bos_token
// and chat template; id range checks; no clean_up_tokenization_spaces (it breaks round trips and
// streaming); streaming decode; and SentencePiece-style (Metaspace) text cut into chunks before the
// JS BPE, which is slow on long single words, only at cuts that provably cannot change the ids.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Tokenizer as HfLib } from '@huggingface/tokenizers';
import { FormatError, InputError } from '../../errors.js';
import type { StreamDecoder, Tokenizer } from './index.js';

/** The fields of tokenizer_config.json that rrt reads; the whole object also goes to the library. */
export interface HfTokenizerConfig {
  bos_token?: string | { content: string } | null;
  eos_token?: string | { content: string } | null;
  add_bos_token?: boolean;
  add_eos_token?: boolean;
  chat_template?: string | { name: string; template: string }[];
  [key: string]: unknown;
}

/** Facts from config.json / GGUF metadata: ids used when tokenizer_config.json does not name the tokens. */
export interface HfSpecialIds {
  bosId?: number | null;
  eosId?: number | null;
  chatTemplate?: string;
  /** the vocabulary's declared size, when it may exceed the highest id the tokenizer knows */
  vocabSize?: number;
}

/** Reads tokenizer.json and, beside it, tokenizer_config.json, config.json and chat_template.jinja when present. */
export function hfTokenizerFromFiles(tokenizerJsonPath: string): HfTokenizer {
  const json = readJson(tokenizerJsonPath, true) as object;
  const dir = dirname(tokenizerJsonPath);
  const config = (readJson(join(dir, 'tokenizer_config.json'), false) ?? {}) as HfTokenizerConfig;
  const modelConfig = readJson(join(dir, 'config.json'), false) as { bos_token_id?: unknown; eos_token_id?: unknown } | undefined;
  const jinja = join(dir, 'chat_template.jinja');
  const ids: HfSpecialIds = {
    bosId: firstId(modelConfig?.bos_token_id),
    eosId: firstId(modelConfig?.eos_token_id),
  };
  if (existsSync(jinja)) ids.chatTemplate = readFileSync(jinja, 'utf8');
  return new HfTokenizer(json, config, ids, tokenizerJsonPath);
}

function readJson(file: string, required: boolean): unknown {
  if (!existsSync(file)) {
    if (required) throw new FormatError('not_found', 'file not found', { file });
    return undefined;
  }
  const text = readFileSync(file, 'utf8');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new FormatError('bad_header', `not valid JSON (${(e as Error).message})`, { file });
  }
}

function firstId(v: unknown): number | null {
  const id = Array.isArray(v) ? v[0] : v;
  return Number.isInteger(id) ? (id as number) : null;
}

/**
 * The part of the library's API used here. Its bundled .d.ts files import without extensions, so
 * under NodeNext resolution their types come out as `any`; this pins what we rely on.
 */
interface HfLibApi {
  encode(text: string, opts: { add_special_tokens: boolean }): { ids: number[] };
  decode(ids: number[], opts: { skip_special_tokens: boolean; clean_up_tokenization_spaces: boolean }): string;
  token_to_id(token: string): number | undefined;
  get_vocab(withAddedTokens: boolean): Map<string, number>;
  get_added_tokens_decoder(): Map<number, { id: number; content: string; special: boolean }>;
}

/** Chunks shorter than this are never cut: the JS BPE is fast on them, and each library call has overhead. */
const MIN_CHUNK = 32;

export class HfTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly bosId: number | null;
  readonly eosId: number | null;
  readonly chatTemplate?: string;
  private readonly lib: HfLibApi;
  /** what the post-processor puts around the text's ids when special tokens are added (null: not a plain frame; ask the library) */
  private readonly frame: { prefix: number[]; suffix: number[] } | null;
  private readonly chunking: { replacement: string; dropLeadingSpace: boolean; bigrams: Set<string>; added: string[] } | null;

  constructor(json: object, config: HfTokenizerConfig = {}, ids: HfSpecialIds = {}, source = 'tokenizer.json') {
    const model = (json as { model?: { type?: unknown } }).model;
    if (typeof model !== 'object' || model === null || typeof model.type !== 'string') {
      throw new FormatError('bad_header', 'tokenizer.json has no "model" object with a "type"', { file: source });
    }
    try {
      this.lib = new HfLib({ added_tokens: [], ...json }, config) as HfLibApi;
    } catch (e) {
      throw new FormatError('bad_header', `@huggingface/tokenizers cannot build this tokenizer: ${(e as Error).message}`, { file: source });
    }
    let maxId = -1;
    for (const id of this.lib.get_vocab(true).values()) maxId = Math.max(maxId, id);
    this.vocabSize = Math.max(maxId + 1, ids.vocabSize ?? 0);

    const frame = this.probeFrame();
    const named = (t: HfTokenizerConfig['bos_token']) => {
      const content = typeof t === 'string' ? t : t?.content;
      return content === undefined ? undefined : this.lib.token_to_id(content);
    };
    const specials = [...this.lib.get_added_tokens_decoder().values()].filter((t) => t.special);
    const byName = (names: string[]) => specials.find((t) => names.includes(t.content))?.id;
    const single = (ids: number[] | undefined) => (ids?.length === 1 && specials.some((t) => t.id === ids[0]) ? ids[0] : undefined);
    this.bosId = named(config.bos_token) ?? ids.bosId ?? single(frame?.prefix) ?? byName(['<s>', '<|begin_of_text|>', '<bos>', '<|endoftext|>']) ?? null;
    this.eosId = named(config.eos_token) ?? ids.eosId ?? single(frame?.suffix) ?? byName(['</s>', '<|end_of_text|>', '<eos>', '<|endoftext|>']) ?? null;

    // transformers rebuilds Llama-style post-processors from add_bos_token/add_eos_token; do the same to the frame.
    if (frame) {
      const adjust = (list: number[], want: boolean | undefined, id: number | null, atStart: boolean) => {
        if (want === undefined || id === null) return list;
        const without = list.filter((x) => x !== id);
        return want ? (atStart ? [id, ...without] : [...without, id]) : without;
      };
      frame.prefix = adjust(frame.prefix, config.add_bos_token, this.bosId, true);
      frame.suffix = adjust(frame.suffix, config.add_eos_token, this.eosId, false);
    }
    this.frame = frame;

    const template = ids.chatTemplate ?? pickTemplate(config.chat_template);
    if (template !== undefined) this.chatTemplate = template;
    this.chunking = frame && config.remove_space !== true && config.do_lowercase_and_remove_accent !== true ? this.chunkingRules(json) : null;
  }

  encode(text: string, opts: { addSpecialTokens?: boolean } = {}): number[] {
    const special = opts.addSpecialTokens ?? true;
    if (!this.frame) return this.lib.encode(text, { add_special_tokens: special }).ids;
    const body: number[] = [];
    const chunks = this.chunk(text);
    for (let i = 0; i < chunks.length; i++) {
      // A later chunk starts with the space the cut fell before; a Prepend normalizer adds it back as '▁'.
      const part = i > 0 && this.chunking!.dropLeadingSpace ? chunks[i].slice(1) : chunks[i];
      for (const id of this.lib.encode(part, { add_special_tokens: false }).ids) body.push(id);
    }
    return special ? [...this.frame.prefix, ...body, ...this.frame.suffix] : body;
  }

  decode(ids: readonly number[], opts: { skipSpecialTokens?: boolean } = {}): string {
    ids.forEach((id, i) => this.check(id, i));
    if (ids.length === 0) return '';
    return this.lib.decode([...ids], { skip_special_tokens: opts.skipSpecialTokens ?? false, clean_up_tokenization_spaces: false });
  }

  /**
   * Decodes a sliding window and emits only what extends the text already emitted (the approach of
   * HF text-generation-inference): the window's first token keeps decoder context such as Metaspace's
   * leading-space rule, and text ending in U+FFFD (a UTF-8 character split over byte tokens) waits.
   */
  streamDecoder(opts: { skipSpecialTokens?: boolean } = {}): StreamDecoder {
    const skip = opts.skipSpecialTokens ?? false;
    let ids: number[] = [];
    let read = 0; // ids[0, read) are already emitted and stay only as decoding context for what follows
    let position = 0;
    const emit = (final: boolean): string => {
      const before = read > 0 ? this.decode(ids.slice(0, read), { skipSpecialTokens: skip }) : '';
      const now = this.decode(ids, { skipSpecialTokens: skip });
      if (!final && (now.length <= before.length || now.endsWith('\uFFFD') || !now.startsWith(before))) return '';
      const out = now.slice(before.length);
      ids = ids.slice(read);
      read = ids.length;
      return out;
    };
    return {
      push: (id: number) => {
        this.check(id, position++);
        ids.push(id);
        return emit(false);
      },
      flush: () => (ids.length > read ? emit(true) : ''),
    };
  }

  private check(id: number, position: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
      throw new InputError('token_out_of_range', `token id ${id} at position ${position} is outside the vocabulary [0, ${this.vocabSize})`);
    }
  }

  /** Finds what add_special_tokens puts before and after the ids of a probe text, if it only adds a frame. */
  private probeFrame(): { prefix: number[]; suffix: number[] } | null {
    const probe = 'a';
    const plain = this.lib.encode(probe, { add_special_tokens: false }).ids;
    const full = this.lib.encode(probe, { add_special_tokens: true }).ids;
    for (let at = 0; at + plain.length <= full.length; at++) {
      if (plain.every((id, i) => full[at + i] === id)) return { prefix: full.slice(0, at), suffix: full.slice(at + plain.length) };
    }
    return null;
  }

  /**
   * SentencePiece-style BPE (a Metaspace pre-tokenizer or Prepend/Replace normalizers, no other
   * normalization) runs over whole lines. A cut before a space is exact when no vocabulary piece
   * contains the two characters around it (spaces as the replacement): every merge result is a
   * piece, so no token can span the cut. Returns null for tokenizers that need no chunking.
   */
  private chunkingRules(json: object): HfTokenizer['chunking'] {
    const j = json as { model: { type: string }; pre_tokenizer?: { type?: string; replacement?: string } | null; normalizer?: Normalizer | null };
    if (j.model.type !== 'BPE') return null;
    const pre = j.pre_tokenizer ?? null;
    if (pre !== null && pre.type !== 'Metaspace') return null;
    const parts = j.normalizer == null ? [] : j.normalizer.type === 'Sequence' ? j.normalizer.normalizers ?? [] : [j.normalizer];
    let replacement = pre?.replacement ?? '\u2581';
    let prepend = false;
    for (const n of parts) {
      if (n.type === 'Prepend' && typeof n.prepend === 'string') {
        prepend = true;
        replacement = n.prepend;
      } else if (n.type === 'Replace' && n.pattern?.String === ' ' && typeof n.content === 'string') {
        replacement = n.content;
      } else {
        return null;
      }
    }
    if (pre === null && !prepend) return null;
    const bigrams = new Set<string>();
    for (const piece of this.lib.get_vocab(true).keys()) {
      const cps = Array.from(piece);
      for (let i = 0; i + 1 < cps.length; i++) bigrams.add(cps[i] + cps[i + 1]);
    }
    const added = [...this.lib.get_added_tokens_decoder().values()].map((t) => t.content).filter((c) => c.length > 0);
    return { replacement, dropLeadingSpace: prepend, bigrams, added };
  }

  private chunk(text: string): string[] {
    const rules = this.chunking;
    if (!rules || text.length < 2 * MIN_CHUNK) return [text];
    // No cut inside an added token that occurs literally, nor next to it (lstrip/rstrip, section boundaries).
    const blocked = new Uint8Array(text.length + 1);
    for (const content of rules.added) {
      for (const form of new Set([content, content.replaceAll(rules.replacement, ' ')])) {
        for (let s = text.indexOf(form); s >= 0; s = text.indexOf(form, s + 1)) {
          blocked.fill(1, Math.max(0, s - 1), s + form.length + 1);
        }
      }
    }
    const chunks: string[] = [];
    let start = 0;
    for (let p = start + MIN_CHUNK; p + 1 < text.length; p++) {
      if (text[p] !== ' ' || blocked[p] || p - start < MIN_CHUNK) continue;
      const low = text.charCodeAt(p - 1);
      const before = low >= 0xdc00 && low <= 0xdfff && p >= 2 ? text.slice(p - 2, p) : text[p - 1];
      const left = before === ' ' ? rules.replacement : before;
      if (rules.bigrams.has(left + rules.replacement)) continue;
      chunks.push(text.slice(start, p));
      start = p;
    }
    chunks.push(text.slice(start));
    return chunks;
  }
}

interface Normalizer {
  type?: string;
  prepend?: unknown;
  content?: unknown;
  pattern?: { String?: unknown };
  normalizers?: Normalizer[];
}

function pickTemplate(t: HfTokenizerConfig['chat_template']): string | undefined {
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) return (t.find((x) => x.name === 'default') ?? t[0])?.template;
  return undefined;
}
