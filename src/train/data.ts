// Training data as packed token files: DATA.bin holds the token stream as raw little-endian
// uint16 (vocab ≤ 65536) or uint32, DATA.bin.json (the sidecar) says what it holds. The writer
// streams text and JSON Lines inputs a chunk at a time and encodes each document on its own;
// a run that dies leaves only temp names, never a DATA.bin + sidecar pair that loads. The reader
// memory-maps the stream after checking it against the sidecar; WindowSampler draws seeded
// random training windows and keeps a contiguous held-out tail that training never sees.

import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, openSync, readdirSync, readFileSync, readSync, renameSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { endianness } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { ConfigError, FormatError, InputError } from '../errors.js';
import { loadTokenizer, type Tokenizer } from '../formats/tokenizers/index.js';
import { openModelSource } from '../models/load.js';
import { native } from '../tensor/kernels.js';
import { mulberry32Step } from '../tensor/random.js';

export type TokenDType = 'uint16' | 'uint32';
export type TokenArray = Uint16Array | Uint32Array;

export interface TokenFileMeta {
  format: 'rrt-tokens';
  version: 1;
  dtype: TokenDType;
  tokens: number;
  documents: number;
  vocabSize: number;
  /** files: what sha256 covers (their bytes concatenated); sha256 null when the tokenizer lives inside a GGUF model */
  tokenizer: { path: string | null; files: string[]; sha256: string | null };
  bos: number | null;
  eos: number | null;
  sources: string[];
  /** 'rrt data prepare', or what else wrote the file (e.g. a sampled synthetic corpus) */
  createdBy: string;
}

const FORMAT = 'rrt-tokens';
const VERSION = 1;
const ITEM_BYTES: Record<TokenDType, number> = { uint16: 2, uint32: 4 };
/** Blank-line document separator, as splitDocuments (src/eval/text.ts) splits. */
const BLANK_LINE = /\n\s*\n/;
const DEFAULT_CHUNK_BYTES = 1 << 20;
const WRITE_BUFFER_TOKENS = 1 << 18;

/** Typed arrays are host-endian; the files are little-endian. */
function assertLittleEndian(): void {
  if (endianness() !== 'LE') throw new FormatError('unknown_dtype', 'rrt token files are little-endian; this host is big-endian');
}

export function sidecarPath(dataPath: string): string {
  return `${dataPath}.json`;
}

// ---------------------------------------------------------------------------------------------
// Tokenizer resolution

export interface ResolvedTokenizer {
  tokenizer: Tokenizer;
  /** the path given, made absolute */
  path: string;
  /** the files that define the tokenizer (empty when it is embedded in a GGUF model) */
  files: string[];
  sha256: string | null;
}

/**
 * spec: a model (HF directory with config.json, .gguf, llama2.c .bin next to its tokenizer) whose
 * tokenizer is wanted, or a tokenizer itself (tokenizer.json, a directory holding one, a llama2.c
 * tokenizer.bin). A .bin is tried as a llama2.c model first, then as a tokenizer.
 */
export function resolveTokenizer(spec: string): ResolvedTokenizer {
  if (!existsSync(spec)) throw new InputError('not_found', `tokenizer not found: ${spec}`);
  const isDir = statSync(spec).isDirectory();
  const asModel = (isDir && existsSync(join(spec, 'config.json'))) || spec.endsWith('.gguf') || (!isDir && spec.endsWith('.bin') && isLlama2cModel(spec));
  if (asModel) {
    const src = openModelSource(spec);
    try {
      const tokenizer = src.tokenizer();
      if (!tokenizer) throw new InputError('not_found', `model ${spec} has no tokenizer next to it; pass the tokenizer file to --tokenizer`);
      return withHash(spec, tokenizer, src.tokenizerPath ? tokenizerFiles(src.tokenizerPath) : []);
    } finally {
      src.source.close();
    }
  }
  const tokenizer = loadTokenizer(spec);
  const file = isDir ? ['tokenizer.json', 'tokenizer.bin'].map((f) => join(spec, f)).find((f) => existsSync(f))! : spec;
  return withHash(spec, tokenizer, tokenizerFiles(file));
}

function isLlama2cModel(file: string): boolean {
  try {
    openModelSource(file).source.close();
    return true;
  } catch (e) {
    if (e instanceof FormatError || e instanceof ConfigError) return false;
    throw e;
  }
}

/** tokenizer.json's behaviour also depends on its sibling tokenizer_config.json. */
function tokenizerFiles(file: string): string[] {
  const files = [resolve(file)];
  const config = join(dirname(file), 'tokenizer_config.json');
  if (file.endsWith('.json') && existsSync(config)) files.push(resolve(config));
  return files;
}

function withHash(path: string, tokenizer: Tokenizer, files: string[]): ResolvedTokenizer {
  if (files.length === 0) return { tokenizer, path: resolve(path), files, sha256: null };
  const h = createHash('sha256');
  for (const f of files) h.update(readFileSync(f));
  return { tokenizer, path: resolve(path), files, sha256: h.digest('hex') };
}

// ---------------------------------------------------------------------------------------------
// Inputs: files and folders → documents, streamed

const FOLDER_EXTENSIONS = ['.txt', '.jsonl'];

/** Expands folders (recursively, sorted by name, .txt and .jsonl only); every input must exist. */
export function listInputFiles(inputs: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && FOLDER_EXTENSIONS.some((x) => e.name.endsWith(x))) out.push(p);
    }
  };
  for (const input of inputs) {
    if (!existsSync(input)) throw new InputError('not_found', `input not found: ${input}`);
    if (statSync(input).isDirectory()) walk(input);
    else out.push(input);
  }
  return out;
}

function isJsonLines(file: string): boolean {
  return file.endsWith('.jsonl') || file.endsWith('.json');
}

/**
 * The pieces of a file between separators, read chunkBytes at a time; the text after the last
 * separator of a chunk is carried into the next. A separator cut by a chunk boundary leaves only
 * whitespace at a piece's edge, which callers trim, so the pieces match splitting the whole text.
 */
function* splitFile(file: string, sep: RegExp | string, chunkBytes: number): Generator<string> {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(chunkBytes);
    const decoder = new TextDecoder('utf-8');
    let carry = '';
    for (;;) {
      const n = readSync(fd, buf, 0, chunkBytes, null);
      if (n === 0) {
        const last = carry + decoder.decode();
        if (last) yield last;
        return;
      }
      const parts = (carry + decoder.decode(buf.subarray(0, n), { stream: true })).split(sep);
      carry = parts.pop()!;
      yield* parts;
    }
  } finally {
    closeSync(fd);
  }
}

/** Documents of a plain text file, exactly as splitDocuments() splits the whole text. */
function* textDocuments(file: string, chunkBytes: number): Generator<string> {
  // splitDocuments: blank-line blocks when there are at least two, else one document per line
  let blocks = 0;
  for (const piece of splitFile(file, BLANK_LINE, chunkBytes)) if (piece.trim() && ++blocks > 1) break;
  for (const piece of splitFile(file, blocks > 1 ? BLANK_LINE : '\n', chunkBytes)) {
    const doc = piece.trim();
    if (doc) yield doc;
  }
}

/** Documents of a JSON Lines file: the string field `field` of each non-blank line's object. */
function* jsonlDocuments(file: string, field: string, chunkBytes: number): Generator<string> {
  let line = 0;
  for (const raw of splitFile(file, '\n', chunkBytes)) {
    line++;
    if (!raw.trim()) continue;
    let obj: unknown;
    try {
      obj = JSON.parse(raw);
    } catch (e) {
      throw new InputError('bad_option', `${file} line ${line}: not valid JSON (${(e as Error).message}); .jsonl inputs hold one JSON object per line`);
    }
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
      throw new InputError('bad_option', `${file} line ${line}: expected a JSON object, got ${Array.isArray(obj) ? 'an array' : typeof obj}`);
    }
    const text = (obj as Record<string, unknown>)[field];
    if (typeof text !== 'string') {
      throw new InputError('bad_option', `${file} line ${line}: field "${field}" is ${text === undefined ? 'missing' : `a ${typeof text}, not a string`} (choose the field with --text-field)`);
    }
    if (text) yield text;
  }
}

// ---------------------------------------------------------------------------------------------
// Writer

export interface PrepareProgress {
  file: string;
  /** input bytes done: exact at file ends, the documents' UTF-8 bytes in between */
  bytesRead: number;
  totalBytes: number;
  tokens: number;
  documents: number;
  seconds: number;
}

export interface PrepareOptions {
  tokenizer: Tokenizer;
  /** where the tokenizer came from, for the sidecar (resolveTokenizer gives it) */
  tokenizerSource?: { path: string | null; files: string[]; sha256: string | null };
  /** JSON Lines field holding the text. @default 'text' */
  textField?: string;
  /** BOS before each document (when the tokenizer has one). @default true */
  bos?: boolean;
  /** EOS after each document. @default false */
  appendEos?: boolean;
  /** stop after this many tokens (the last document is cut) */
  maxTokens?: number;
  /** bytes read from a file at a time. @default 1 MiB */
  chunkBytes?: number;
  /** called at most every 100 ms and after each file; throwing aborts the run and removes its temp files */
  onProgress?: (p: PrepareProgress) => void;
}

export interface PrepareSummary {
  out: string;
  meta: TokenFileMeta;
  files: number;
  bytesRead: number;
  seconds: number;
}

/** Buffered token output to a file descriptor, as uint16 or uint32. */
class TokenSink {
  private readonly buf: TokenArray;
  private fill = 0;
  count = 0;

  constructor(
    private readonly fd: number,
    dtype: TokenDType,
  ) {
    this.buf = dtype === 'uint16' ? new Uint16Array(WRITE_BUFFER_TOKENS) : new Uint32Array(WRITE_BUFFER_TOKENS);
  }

  push(id: number): void {
    this.buf[this.fill++] = id;
    this.count++;
    if (this.fill === this.buf.length) this.flush();
  }

  flush(): void {
    const bytes = new Uint8Array(this.buf.buffer, 0, this.fill * this.buf.BYTES_PER_ELEMENT);
    for (let off = 0; off < bytes.length; ) off += writeSync(this.fd, bytes, off);
    this.fill = 0;
  }
}

export function tokenDTypeFor(vocabSize: number): TokenDType {
  return vocabSize <= 65536 ? 'uint16' : 'uint32';
}

/**
 * Tokenizes the inputs (text files, .jsonl/.json files, folders of .txt/.jsonl) into `out` and
 * its sidecar. Text files split into documents like splitDocuments(); every document is encoded
 * on its own, with BOS before it (opts.bos) and EOS after it (opts.appendEos).
 */
export function prepareTokenFile(inputs: readonly string[], out: string, opts: PrepareOptions): PrepareSummary {
  assertLittleEndian();
  const t0 = performance.now();
  const { tokenizer } = opts;
  const field = opts.textField ?? 'text';
  const chunkBytes = opts.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  const maxTokens = opts.maxTokens ?? Infinity;
  if (!(maxTokens >= 1) || (maxTokens !== Infinity && !Number.isInteger(maxTokens))) throw new InputError('bad_option', `maxTokens must be a positive integer, got ${opts.maxTokens}`);
  if (!Number.isInteger(chunkBytes) || chunkBytes < 16) throw new InputError('bad_option', `chunkBytes must be an integer ≥ 16, got ${chunkBytes}`);
  const bos = (opts.bos ?? true) ? tokenizer.bosId : null;
  const eos = opts.appendEos ? tokenizer.eosId : null;
  if (opts.appendEos && eos === null) throw new InputError('bad_option', 'appendEos: the tokenizer has no EOS token');

  const outDir = dirname(resolve(out));
  if (!existsSync(outDir) || !statSync(outDir).isDirectory()) throw new InputError('not_found', `output directory does not exist: ${outDir}`);
  if (existsSync(out) && statSync(out).isDirectory()) throw new InputError('bad_option', `output ${out} is a directory; give a file path such as ${join(out, 'data.bin')}`);
  const files = listInputFiles(inputs).filter((f) => resolve(f) !== resolve(out));
  const totalBytes = files.reduce((n, f) => n + statSync(f).size, 0);

  const vocabSize = tokenizer.vocabSize;
  let bytesRead = 0;
  const meta = writeAtomically(out, tokenDTypeFor(vocabSize), (sink) => {
    let documents = 0;
    let lastReport = -Infinity;
    const report = (file: string, force: boolean) => {
      const now = performance.now();
      if (!opts.onProgress || (!force && now - lastReport < 100)) return;
      lastReport = now;
      opts.onProgress({ file, bytesRead, totalBytes, tokens: sink.count, documents, seconds: (now - t0) / 1000 });
    };
    const put = (id: number, file: string) => {
      if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
        throw new InputError('token_out_of_range', `${file}: the tokenizer produced id ${id}, outside its vocabulary [0, ${vocabSize})`);
      }
      sink.push(id);
    };
    let bytesBefore = 0;
    files: for (const file of files) {
      const fileEnd = bytesBefore + statSync(file).size;
      const docs = isJsonLines(file) ? jsonlDocuments(file, field, chunkBytes) : textDocuments(file, chunkBytes);
      for (const doc of docs) {
        // bytes of the documents done (their separators and the JSON around them are not counted until the file ends)
        bytesRead = Math.min(bytesRead + Buffer.byteLength(doc) + 1, fileEnd);
        const ids = tokenizer.encode(doc, { addSpecialTokens: false });
        const all = bos === null ? ids : [bos, ...ids];
        if (eos !== null) all.push(eos);
        if (all.length === 0) continue;
        documents++;
        for (const id of all) {
          if (sink.count >= maxTokens) break files;
          put(id, file);
        }
        report(file, false);
        if (sink.count >= maxTokens) break files;
      }
      bytesRead = bytesBefore = fileEnd;
      report(file, true);
    }
    if (sink.count === 0) {
      throw new InputError('bad_option', `no documents found in ${inputs.join(', ')}${files.length === 0 ? ' (no .txt or .jsonl files)' : ''}; nothing written`);
    }
    return { documents, vocabSize, tokenizerSource: opts.tokenizerSource, bos, eos, sources: files.map((f) => resolve(f)), createdBy: 'rrt data prepare' };
  });
  return { out, meta, files: files.length, bytesRead, seconds: (performance.now() - t0) / 1000 };
}

/**
 * Writes DATA.bin and its sidecar under temp names, then renames them into place: `fill` streams
 * the tokens into the sink and describes them. On any error both temp files are removed.
 */
function writeAtomically(out: string, dtype: TokenDType, fill: (sink: TokenSink) => TokenDocumentsInfo & { documents: number }): TokenFileMeta {
  const tmpBin = `${out}.tmp-${process.pid}`;
  const tmpMeta = `${sidecarPath(out)}.tmp-${process.pid}`;
  const fd = openSync(tmpBin, 'w');
  let fdOpen = true;
  try {
    const sink = new TokenSink(fd, dtype);
    const info = fill(sink);
    sink.flush();
    fsyncSync(fd);
    closeSync(fd);
    fdOpen = false;
    const src = info.tokenizerSource;
    const meta: TokenFileMeta = {
      format: FORMAT, version: VERSION, dtype, tokens: sink.count, documents: info.documents, vocabSize: info.vocabSize,
      tokenizer: { path: src?.path ?? null, files: src?.files ?? [], sha256: src?.sha256 ?? null },
      bos: info.bos, eos: info.eos, sources: info.sources, createdBy: info.createdBy,
    };
    writeFileSync(tmpMeta, JSON.stringify(meta, null, 2) + '\n');
    // An old sidecar must not outlive its data: a kill between the renames leaves DATA.bin alone, which does not load.
    if (existsSync(sidecarPath(out))) unlinkSync(sidecarPath(out));
    renameSync(tmpBin, out);
    renameSync(tmpMeta, sidecarPath(out));
    return meta;
  } catch (e) {
    if (fdOpen) closeSync(fd);
    for (const f of [tmpBin, tmpMeta]) if (existsSync(f)) unlinkSync(f);
    throw e;
  }
}

export interface TokenDocumentsInfo {
  vocabSize: number;
  tokenizerSource?: { path: string | null; files: string[]; sha256: string | null };
  bos: number | null;
  eos: number | null;
  sources: string[];
  createdBy: string;
}

/**
 * Writes documents that are already token ids (e.g. sampled from a model) as a token file, with
 * the same atomic temp-and-rename as prepareTokenFile. Every id is checked against the vocabulary.
 */
export function writeTokenFile(out: string, documents: Iterable<ArrayLike<number>>, info: TokenDocumentsInfo): TokenFileMeta {
  assertLittleEndian();
  return writeAtomically(out, tokenDTypeFor(info.vocabSize), (sink) => {
    let count = 0;
    for (const doc of documents) {
      for (let i = 0; i < doc.length; i++) {
        const id = doc[i];
        if (!Number.isInteger(id) || id < 0 || id >= info.vocabSize) throw new InputError('token_out_of_range', `document ${count}: id ${id} is outside the vocabulary [0, ${info.vocabSize})`);
        sink.push(id);
      }
      if (doc.length > 0) count++;
    }
    if (sink.count === 0) throw new InputError('bad_option', 'no tokens to write; nothing written');
    return { ...info, documents: count };
  });
}

// ---------------------------------------------------------------------------------------------
// Reader

export interface TokenFile {
  path: string;
  meta: TokenFileMeta;
  /** over the memory map when `mapped`: read-only by contract (writes stay private to this process) */
  tokens: TokenArray;
  mapped: boolean;
  /** unmaps now; `tokens` (and views of it) then read as empty */
  close(): void;
}

const mmapAddon = native;

/** Opens DATA.bin after checking it against DATA.bin.json. opts.mmap false reads it into memory instead. */
export function openTokenFile(path: string, opts: { mmap?: boolean } = {}): TokenFile {
  assertLittleEndian();
  const meta = readSidecar(path);
  if (!existsSync(path)) throw new FormatError('not_found', `token file missing (its sidecar ${sidecarPath(path)} exists)`, { file: path });
  const item = ITEM_BYTES[meta.dtype];
  const size = statSync(path).size;
  const expected = meta.tokens * item;
  if (size !== expected) {
    throw new FormatError(size < expected ? 'truncated' : 'shape_size_mismatch', `file has ${size} bytes; its sidecar says ${meta.tokens} ${meta.dtype} tokens = ${expected} bytes (re-run rrt data prepare)`, { file: path });
  }
  const Ctor = meta.dtype === 'uint16' ? Uint16Array : Uint32Array;
  if (mmapAddon && opts.mmap !== false) {
    const buffer = mmapAddon.mmap_file(path);
    return { path, meta, tokens: new Ctor(buffer), mapped: true, close: () => mmapAddon.mmap_close(buffer) };
  }
  const bytes = readFileSync(path);
  // a typed array needs an aligned offset; Buffer's may not be
  const buffer = bytes.byteOffset % item === 0 ? bytes.buffer : new Uint8Array(bytes).buffer;
  const offset = buffer === bytes.buffer ? bytes.byteOffset : 0;
  const file: TokenFile = { path, meta, tokens: new Ctor(buffer, offset, meta.tokens), mapped: false, close: () => void (file.tokens = new Ctor(0)) };
  return file;
}

function readSidecar(path: string): TokenFileMeta {
  const side = sidecarPath(path);
  if (!existsSync(side)) {
    throw new FormatError('not_found', `no sidecar ${basename(side)} next to the token file; rrt data prepare writes both (a missing sidecar means that run did not finish)`, { file: path });
  }
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(side, 'utf8'));
  } catch (e) {
    throw new FormatError('bad_header', `not valid JSON (${(e as Error).message})`, { file: side });
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new FormatError('bad_header', 'expected a JSON object', { file: side });
  const m = json as Record<string, unknown>;
  if (m.format !== FORMAT) throw new FormatError('bad_magic', `format is ${JSON.stringify(m.format)}, expected "${FORMAT}"`, { file: side });
  if (m.version !== VERSION) throw new FormatError('bad_version', `version ${JSON.stringify(m.version)}; rrt reads version ${VERSION}`, { file: side });
  if (m.dtype !== 'uint16' && m.dtype !== 'uint32') throw new FormatError('unknown_dtype', `dtype ${JSON.stringify(m.dtype)}, expected "uint16" or "uint32"`, { file: side });
  for (const k of ['tokens', 'documents', 'vocabSize'] as const) {
    const v = m[k];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new FormatError('bad_header', `${k} is ${JSON.stringify(v)}, expected a non-negative integer`, { file: side });
  }
  if ((m.vocabSize as number) < 1 || (m.dtype === 'uint16' && (m.vocabSize as number) > 65536)) {
    throw new FormatError('bad_header', `vocabSize ${m.vocabSize} does not fit dtype ${m.dtype}`, { file: side });
  }
  for (const k of ['bos', 'eos'] as const) {
    const v = m[k];
    if (v !== null && (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= (m.vocabSize as number))) {
      throw new FormatError('bad_header', `${k} is ${JSON.stringify(v)}, expected null or an id below vocabSize ${m.vocabSize}`, { file: side });
    }
  }
  return json as TokenFileMeta;
}

/** Index of the first token ≥ vocabSize, or −1. */
export function firstTokenOutOfRange(tokens: TokenArray, vocabSize: number): number {
  if (vocabSize > 0xffff && tokens instanceof Uint16Array) return -1;
  for (let i = 0; i < tokens.length; i++) if (tokens[i] >= vocabSize) return i;
  return -1;
}

/**
 * Refuses data made with a tokenizer that does not match a model of `vocabSize` embeddings: a
 * token outside [0, vocabSize) (named by position), or a tokenizer vocabulary larger than the
 * model's. A smaller tokenizer vocabulary is fine (models often pad theirs).
 */
export function checkVocab(file: Pick<TokenFile, 'path' | 'meta' | 'tokens'>, vocabSize: number): void {
  const made = `it was prepared with a tokenizer of ${file.meta.vocabSize} tokens (${file.meta.tokenizer.path ?? 'unknown path'})`;
  const bad = firstTokenOutOfRange(file.tokens, vocabSize);
  if (bad >= 0) {
    throw new InputError('token_out_of_range', `${file.path}: token ${file.tokens[bad]} at position ${bad} is outside the model's vocabulary [0, ${vocabSize}); ${made}. Prepare the data with the model's tokenizer`);
  }
  if (file.meta.vocabSize > vocabSize) {
    throw new InputError('token_out_of_range', `${file.path}: ${made}, more than the model's ${vocabSize}. Prepare the data with the model's tokenizer`);
  }
}

// ---------------------------------------------------------------------------------------------
// Sampler

export type Split = 'train' | 'heldout';

export interface SamplerOptions {
  /** tokens per window; a window reads seqLen + 1 tokens (targets are inputs shifted by one) */
  seqLen: number;
  /** uint32 seed of the window PRNG */
  seed: number;
  /** held-out share of the stream, rounded up to whole tokens. @default 0.01 */
  heldOutFraction?: number;
  /** held-out token count (instead of heldOutFraction) */
  heldOutTokens?: number;
  /** which range next() samples from. @default 'train' */
  split?: Split;
}

export interface Batch {
  /** [B·T] token ids */
  inputs: Int32Array;
  /** [B·T] the next token after each input */
  targets: Int32Array;
}

export interface Window extends Batch {
  /** position of inputs[0] in the token stream */
  start: number;
}

/** JSON-serialisable; restore() checks that it belongs to a sampler over the same layout. */
export interface SamplerState {
  kind: 'rrt-window-sampler';
  version: 1;
  seqLen: number;
  split: Split;
  totalTokens: number;
  heldOutTokens: number;
  /** mulberry32 state */
  rng: number;
  /** windows drawn so far */
  windows: number;
}

/**
 * Random windows of seqLen + 1 tokens from one split of a token stream. The held-out split is
 * the stream's last heldOutTokens tokens; training windows end before it, so the two never
 * share a token. Starts come from a mulberry32 PRNG whose whole state is one uint32, saved by
 * state() and put back by restore() so a resumed run draws the same windows it would have.
 */
export class WindowSampler {
  readonly seqLen: number;
  readonly split: Split;
  /** [0, trainEnd) is the training split, [trainEnd, total) the held-out one */
  readonly trainEnd: number;
  readonly heldOutTokens: number;
  private readonly lo: number;
  private readonly hi: number;
  private rng: number;
  private windows = 0;

  constructor(
    readonly tokens: TokenArray,
    opts: SamplerOptions,
  ) {
    const n = tokens.length;
    const { seqLen, seed } = opts;
    if (!Number.isInteger(seqLen) || seqLen < 1) throw new InputError('bad_option', `seqLen must be a positive integer, got ${seqLen}`);
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new InputError('bad_option', `seed must be an integer in [0, 2^32), got ${seed}`);
    if (opts.heldOutFraction !== undefined && opts.heldOutTokens !== undefined) throw new InputError('bad_option', 'give heldOutFraction or heldOutTokens, not both');
    let held: number;
    if (opts.heldOutTokens !== undefined) {
      held = opts.heldOutTokens;
      if (!Number.isInteger(held) || held < 0 || held > n) throw new InputError('bad_option', `heldOutTokens must be an integer in [0, ${n}] (the token count), got ${held}`);
    } else {
      const f = opts.heldOutFraction ?? 0.01;
      if (!(f >= 0 && f < 1)) throw new InputError('bad_option', `heldOutFraction must be in [0, 1), got ${f}`);
      held = Math.ceil(n * f);
    }
    this.seqLen = seqLen;
    this.split = opts.split ?? 'train';
    this.heldOutTokens = held;
    this.trainEnd = n - held;
    [this.lo, this.hi] = this.split === 'train' ? [0, this.trainEnd] : [this.trainEnd, n];
    if (this.hi - this.lo < seqLen + 1) {
      throw new InputError(
        'bad_option',
        `the ${this.split} split holds ${this.hi - this.lo} of the file's ${n} tokens (held out: ${held}), fewer than seqLen + 1 = ${seqLen + 1}: use more data, a shorter seqLen or a different held-out size`,
      );
    }
    this.rng = seed >>> 0;
  }

  /** batchSize windows at uniformly random starts within the split. */
  next(batchSize: number): Batch {
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new InputError('bad_option', `batchSize must be a positive integer, got ${batchSize}`);
    const T = this.seqLen;
    const starts = this.hi - this.lo - T;
    const inputs = new Int32Array(batchSize * T);
    const targets = new Int32Array(batchSize * T);
    for (let b = 0; b < batchSize; b++) {
      const s = this.lo + this.uniformInt(starts);
      inputs.set(this.tokens.subarray(s, s + T), b * T);
      targets.set(this.tokens.subarray(s + 1, s + T + 1), b * T);
    }
    this.windows += batchSize;
    return { inputs, targets };
  }

  /** The held-out split as windows at starts trainEnd, trainEnd + stride, …, each fully inside it. */
  *heldOutWindows(seqLen = this.seqLen, stride = seqLen): Generator<Window> {
    if (!Number.isInteger(seqLen) || seqLen < 1) throw new InputError('bad_option', `seqLen must be a positive integer, got ${seqLen}`);
    if (!Number.isInteger(stride) || stride < seqLen) throw new InputError('bad_option', `stride must be an integer ≥ seqLen (${seqLen}) so windows do not overlap, got ${stride}`);
    const n = this.tokens.length;
    if (this.heldOutTokens < seqLen + 1) {
      throw new InputError('bad_option', `the held-out split holds ${this.heldOutTokens} tokens, fewer than seqLen + 1 = ${seqLen + 1}: hold out more tokens`);
    }
    for (let s = this.trainEnd; s + seqLen + 1 <= n; s += stride) {
      yield { start: s, inputs: Int32Array.from(this.tokens.subarray(s, s + seqLen)), targets: Int32Array.from(this.tokens.subarray(s + 1, s + seqLen + 1)) };
    }
  }

  state(): SamplerState {
    return {
      kind: 'rrt-window-sampler',
      version: 1,
      seqLen: this.seqLen,
      split: this.split,
      totalTokens: this.tokens.length,
      heldOutTokens: this.heldOutTokens,
      rng: this.rng,
      windows: this.windows,
    };
  }

  restore(state: SamplerState): void {
    const mine = this.state();
    if (state?.kind !== mine.kind || state.version !== mine.version) throw new InputError('bad_option', `not a window sampler state (kind ${JSON.stringify(state?.kind)}, version ${JSON.stringify(state?.version)})`);
    const differs = (['seqLen', 'split', 'totalTokens', 'heldOutTokens'] as const).filter((k) => state[k] !== mine[k]);
    if (differs.length) {
      throw new InputError('bad_option', `sampler state is for another layout: ${differs.map((k) => `${k} ${JSON.stringify(state[k])} (now ${JSON.stringify(mine[k])})`).join(', ')}`);
    }
    if (!Number.isInteger(state.rng) || state.rng < 0 || state.rng > 0xffffffff) throw new InputError('bad_option', `sampler state rng must be a uint32, got ${state.rng}`);
    if (!Number.isSafeInteger(state.windows) || state.windows < 0) throw new InputError('bad_option', `sampler state windows must be a non-negative integer, got ${state.windows}`);
    this.rng = state.rng;
    this.windows = state.windows;
  }

  /** mulberry32: one uint32 of state, full period 2^32. */
  private nextU32(): number {
    const [state, bits] = mulberry32Step(this.rng);
    this.rng = state;
    return bits;
  }

  /** Uniform in [0, n) from 53 random bits (n may exceed 2^32). */
  private uniformInt(n: number): number {
    const hi = this.nextU32() >>> 5;
    const lo = this.nextU32() >>> 6;
    return Math.floor(((hi * 67108864 + lo) / 9007199254740992) * n);
  }
}
