// Score-based BPE as in SentencePiece's bpe_model.cc and llama2.c run.c: spaces become '▁', a
// dummy '▁' is prepended (add_dummy_prefix), each code point starts as one symbol, and the adjacent
// pair whose concatenation is a vocabulary piece with the highest score merges first (leftmost on
// ties); symbols left outside the vocabulary fall back to <0xXX> byte tokens. Only normal and
// user-defined pieces are merge targets, as in SentencePiece (control, byte and unused are not).
// Pieces may spell spaces as '▁' (SentencePiece, GGUF) or ' ' (llama2.c tokenizer.bin).

import { ConfigError, InputError } from '../../errors.js';
import type { StreamDecoder, Tokenizer } from './index.js';

/** SentencePiece piece types, with the numbering GGUF's tokenizer.ggml.token_type uses. */
export const PieceType = { normal: 1, unknown: 2, control: 3, userDefined: 4, unused: 5, byte: 6 } as const;

export interface SentencePieceVocab {
  pieces: readonly string[];
  scores: ArrayLike<number>;
  types: ArrayLike<number>;
  bosId: number | null;
  eosId: number | null;
  /** encode(…, addSpecialTokens) prepends BOS / appends EOS when these are set */
  addBos: boolean;
  addEos: boolean;
  /** SentencePiece add_dummy_prefix: '▁' before the text (and after each control token, as llama.cpp does); decode strips it again */
  addSpacePrefix: boolean;
  chatTemplate?: string;
}

const SPACE = '\u2581';
const BYTE_PIECE = /^<0x([0-9A-Fa-f]{2})>$/;
const utf8 = new TextEncoder();

export class SentencePieceBpe implements Tokenizer {
  readonly vocabSize: number;
  readonly bosId: number | null;
  readonly eosId: number | null;
  readonly chatTemplate?: string;
  private readonly types: Uint8Array;
  private readonly addBos: boolean;
  private readonly addEos: boolean;
  private readonly addSpacePrefix: boolean;
  /** normal and user-defined pieces (spaces as '▁') → id and score */
  private readonly mergeable = new Map<string, { id: number; score: number }>();
  private readonly byteIds = new Int32Array(256).fill(-1);
  private readonly unkId: number | null = null;
  /** text of control, unknown and user-defined pieces (spaces as ' '), longest first, keyed by first UTF-16 unit */
  private readonly literals = new Map<string, { text: string; id: number }[]>();
  /** UTF-8 bytes each id decodes to (spaces restored, byte pieces as their byte) */
  private readonly pieceBytes: Uint8Array[];
  /** code points that some mergeable piece has right before a '▁': a cut between them and '▁' could change the result */
  private readonly joinsSpace = new Set<string>();
  /** ids of recently encoded words (the text between two cuts), as in the HF BPE's cache */
  private readonly cache = new Map<string, number[]>();

  constructor(v: SentencePieceVocab) {
    const n = v.pieces.length;
    if (n === 0) throw new ConfigError('bad_value', 'SentencePiece vocabulary is empty');
    if (v.scores.length !== n || v.types.length !== n) {
      throw new ConfigError('bad_value', `SentencePiece vocabulary has ${n} pieces but ${v.scores.length} scores and ${v.types.length} types`);
    }
    for (const [name, id] of [['bosId', v.bosId], ['eosId', v.eosId]] as const) {
      if (id !== null && !(Number.isInteger(id) && id >= 0 && id < n)) {
        throw new ConfigError('bad_value', `${name} ${id} is outside the vocabulary [0, ${n})`);
      }
    }
    this.vocabSize = n;
    this.bosId = v.bosId;
    this.eosId = v.eosId;
    this.addBos = v.addBos;
    this.addEos = v.addEos;
    this.addSpacePrefix = v.addSpacePrefix;
    if (v.chatTemplate !== undefined) this.chatTemplate = v.chatTemplate;
    this.types = new Uint8Array(n);
    this.pieceBytes = new Array<Uint8Array>(n);
    for (let id = 0; id < n; id++) {
      const type = v.types[id];
      const piece = v.pieces[id].replaceAll(' ', SPACE);
      this.types[id] = type;
      const byte = type === PieceType.byte ? BYTE_PIECE.exec(piece) : null;
      if (byte) {
        const b = parseInt(byte[1], 16);
        if (this.byteIds[b] < 0) this.byteIds[b] = id;
        this.pieceBytes[id] = Uint8Array.of(b);
        continue;
      }
      this.pieceBytes[id] = utf8.encode(piece.replaceAll(SPACE, ' '));
      if (type === PieceType.unknown && this.unkId === null) this.unkId = id;
      if ((type === PieceType.normal || type === PieceType.userDefined) && !this.mergeable.has(piece)) {
        this.mergeable.set(piece, { id, score: v.scores[id] });
      }
      if ((type === PieceType.control || type === PieceType.unknown || type === PieceType.userDefined) && piece.length > 0) {
        const literal = piece.replaceAll(SPACE, ' '); // matched against the raw text
        const list = this.literals.get(literal[0]) ?? [];
        list.push({ text: literal, id });
        this.literals.set(literal[0], list);
      }
    }
    for (const list of this.literals.values()) list.sort((a, b) => b.text.length - a.text.length);
    for (const piece of this.mergeable.keys()) {
      const cps = Array.from(piece);
      for (let i = 0; i + 1 < cps.length; i++) if (cps[i + 1] === SPACE) this.joinsSpace.add(cps[i]);
    }
  }

  encode(text: string, opts: { addSpecialTokens?: boolean } = {}): number[] {
    const special = opts.addSpecialTokens ?? true;
    const out: number[] = [];
    if (special && this.addBos && this.bosId !== null) out.push(this.bosId);
    // Literal special pieces split the text; text right after a control token gets its own dummy prefix.
    let start = 0;
    let prefix = this.addSpacePrefix;
    for (let i = 0; i < text.length; ) {
      const hit = this.literalAt(text, i);
      if (!hit) {
        i++;
        continue;
      }
      if (i > start) this.encodeFragment(text.slice(start, i), prefix, out);
      out.push(hit.id);
      prefix = this.addSpacePrefix && this.isControl(hit.id);
      i += hit.text.length;
      start = i;
    }
    if (text.length > start) this.encodeFragment(text.slice(start), prefix, out);
    if (special && this.addEos && this.eosId !== null) out.push(this.eosId);
    return out;
  }

  decode(ids: readonly number[], opts: { skipSpecialTokens?: boolean } = {}): string {
    const state = { first: true, afterControl: false };
    const parts: Uint8Array[] = [];
    let total = 0;
    for (let i = 0; i < ids.length; i++) {
      const bytes = this.bytesFor(ids[i], i, state, opts.skipSpecialTokens ?? false);
      parts.push(bytes);
      total += bytes.length;
    }
    const all = new Uint8Array(total);
    let off = 0;
    for (const p of parts) {
      all.set(p, off);
      off += p.length;
    }
    return new TextDecoder('utf-8').decode(all);
  }

  streamDecoder(opts: { skipSpecialTokens?: boolean } = {}): StreamDecoder {
    const skip = opts.skipSpecialTokens ?? false;
    const state = { first: true, afterControl: false };
    // TextDecoder in streaming mode holds back an incomplete UTF-8 tail, so the pieces add up to decode(all).
    const decoder = new TextDecoder('utf-8');
    let position = 0;
    return {
      push: (id: number) => decoder.decode(this.bytesFor(id, position++, state, skip), { stream: true }),
      flush: () => decoder.decode(), // a non-streaming call ends the held-back tail and resets the decoder
    };
  }

  private isControl(id: number): boolean {
    const t = this.types[id];
    return t === PieceType.control || t === PieceType.unknown;
  }

  private literalAt(text: string, i: number): { text: string; id: number } | undefined {
    const list = this.literals.get(text[i]);
    return list?.find((l) => text.startsWith(l.text, i));
  }

  /** The bytes one id contributes; strips the dummy-prefix space of the first piece and of a piece right after a control token. */
  private bytesFor(id: number, position: number, state: { first: boolean; afterControl: boolean }, skip: boolean): Uint8Array {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
      throw new InputError('token_out_of_range', `token id ${id} at position ${position} is outside the vocabulary [0, ${this.vocabSize})`);
    }
    const strip = this.addSpacePrefix && (state.first || state.afterControl);
    state.first = false;
    const control = this.isControl(id);
    state.afterControl = control;
    if (control && skip) return EMPTY;
    const bytes = this.pieceBytes[id];
    const t = this.types[id];
    if (strip && t !== PieceType.byte && !control && bytes[0] === 0x20) return bytes.subarray(1);
    return bytes;
  }

  /**
   * Cuts the fragment into words before each '▁' that no mergeable piece joins to the character
   * before it. The cut is exact: every merge result is a piece, so no symbol can span it, and merges
   * on either side never compete with each other. Words are BPE-encoded separately and cached.
   */
  private encodeFragment(fragment: string, prefix: boolean, out: number[]): void {
    const text = (prefix ? SPACE : '') + fragment.replaceAll(' ', SPACE);
    let start = 0;
    let prev = '';
    for (let i = 0; i < text.length; ) {
      const cp = String.fromCodePoint(text.codePointAt(i)!);
      if (cp === SPACE && i > start && !this.joinsSpace.has(prev)) {
        this.encodeWord(text.slice(start, i), out);
        start = i;
      }
      prev = cp;
      i += cp.length;
    }
    this.encodeWord(text.slice(start), out);
  }

  private encodeWord(word: string, out: number[]): void {
    const cached = this.cache.get(word);
    const ids = cached ?? this.bpe(word);
    if (!cached && word.length <= MAX_CACHED_WORD) {
      if (this.cache.size >= CACHE_ENTRIES) this.cache.clear();
      this.cache.set(word, ids);
    }
    for (const id of ids) out.push(id);
  }

  private bpe(word: string): number[] {
    const sym = Array.from(word);
    const n = sym.length;
    const prev = new Int32Array(n);
    const next = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      prev[i] = i - 1;
      next[i] = i + 1 < n ? i + 1 : -1;
    }
    const agenda = new PairHeap();
    const propose = (left: number, right: number) => {
      if (left < 0 || right < 0) return;
      const hit = this.mergeable.get(sym[left] + sym[right]);
      if (hit) agenda.push(hit.score, left, right, sym[left].length + sym[right].length);
    };
    for (let i = 0; i + 1 < n; i++) propose(i, i + 1);
    while (agenda.size > 0) {
      const { left, right, length } = agenda.pop();
      // Stale entry: one side was merged away or grew since the pair was proposed (SentencePiece's check).
      if (sym[left] === '' || sym[right] === '' || next[left] !== right || sym[left].length + sym[right].length !== length) continue;
      sym[left] += sym[right];
      sym[right] = '';
      next[left] = next[right];
      if (next[right] >= 0) prev[next[right]] = left;
      propose(prev[left], left);
      propose(left, next[left]);
    }
    const ids: number[] = [];
    for (let i = 0; i >= 0; i = next[i]) {
      const hit = this.mergeable.get(sym[i]);
      if (hit) {
        ids.push(hit.id);
        continue;
      }
      for (const b of utf8.encode(sym[i])) {
        const id = this.byteIds[b] >= 0 ? this.byteIds[b] : this.unkId;
        if (id === null) {
          throw new ConfigError('bad_value', `character ${JSON.stringify(sym[i])} is not in the vocabulary, which has neither a <0x${b.toString(16).toUpperCase().padStart(2, '0')}> byte piece nor an unknown piece`);
        }
        ids.push(id);
      }
    }
    return ids;
  }
}

const MAX_CACHED_WORD = 64;
const CACHE_ENTRIES = 20000;
const EMPTY = new Uint8Array(0);

/** Max-heap of merge candidates: highest score first, then leftmost (SentencePiece's SymbolPairComparator). */
class PairHeap {
  private score: number[] = [];
  private left: number[] = [];
  private right: number[] = [];
  private length: number[] = [];

  get size(): number {
    return this.score.length;
  }

  push(score: number, left: number, right: number, length: number): void {
    this.score.push(score);
    this.left.push(left);
    this.right.push(right);
    this.length.push(length);
    let i = this.score.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  pop(): { left: number; right: number; length: number } {
    const top = { left: this.left[0], right: this.right[0], length: this.length[0] };
    const last = this.score.length - 1;
    this.swap(0, last);
    this.score.pop();
    this.left.pop();
    this.right.pop();
    this.length.pop();
    for (let i = 0; ; ) {
      const l = 2 * i + 1;
      const r = l + 1;
      let best = i;
      if (l < last && this.before(l, best)) best = l;
      if (r < last && this.before(r, best)) best = r;
      if (best === i) break;
      this.swap(i, best);
      i = best;
    }
    return top;
  }

  private before(a: number, b: number): boolean {
    return this.score[a] > this.score[b] || (this.score[a] === this.score[b] && this.left[a] < this.left[b]);
  }

  private swap(a: number, b: number): void {
    [this.score[a], this.score[b]] = [this.score[b], this.score[a]];
    [this.left[a], this.left[b]] = [this.left[b], this.left[a]];
    [this.right[a], this.right[b]] = [this.right[b], this.right[a]];
    [this.length[a], this.length[b]] = [this.length[b], this.length[a]];
  }
}
