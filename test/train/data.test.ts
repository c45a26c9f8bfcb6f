// Packed token files: prepare (text, .jsonl, folders, streaming, uint16/uint32, crash safety),
// the memory-mapped reader and its sidecar checks, and the seeded window sampler.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { FormatError, InputError } from '../../src/errors.js';
import { loadTokenizer, type Tokenizer } from '../../src/formats/tokenizers/index.js';
import { splitDocuments } from '../../src/eval/text.js';
import { native } from '../../src/tensor/kernels.js';
import { checkVocab, openTokenFile, prepareTokenFile, resolveTokenizer, WindowSampler, writeTokenFile, type PrepareOptions } from '../../src/train/data.js';
import { rng, skipWithoutNative } from '../helpers.js';

const root = new URL('../../', import.meta.url).pathname;
const TOK = join(root, 'assets/stories260K/tok512.bin');
const MODEL = join(root, 'assets/stories260K/stories260K.bin');
const tok = loadTokenizer(TOK);
const tmp = mkdtempSync(join(tmpdir(), 'rrt-data-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let dirCount = 0;
const freshDir = () => {
  const d = join(tmp, `d${dirCount++}`);
  mkdirSync(d);
  return d;
};

const STORY = `Once upon a time, there was a little girl named Lily. She loved to play outside.

One day, she saw a big red ball in the park. "Can I play?" she asked.
Her mom said yes.

  The end. Lily was happy, and they went home together — très bien! 😀  `;

/** What prepare must write: each document encoded alone, BOS before (and EOS after) it. */
function expectedTokens(docs: string[], t: Tokenizer, opts: { bos?: boolean; eos?: boolean } = {}): number[] {
  const out: number[] = [];
  for (const d of docs) {
    if (opts.bos !== false && t.bosId !== null) out.push(t.bosId);
    out.push(...t.encode(d, { addSpecialTokens: false }));
    if (opts.eos && t.eosId !== null) out.push(t.eosId);
  }
  return out;
}

/** The file as little-endian uint16s, read without the code under test. */
function readU16(file: string): number[] {
  const raw = readFileSync(file);
  return Array.from({ length: raw.length / 2 }, (_, i) => raw.readUInt16LE(2 * i));
}

function prepare(inputs: string[], out: string, opts: Partial<PrepareOptions> = {}) {
  return prepareTokenFile(inputs, out, { tokenizer: tok, ...opts });
}

/** A character-level tokenizer, fast and with a chosen vocabulary size, for the writer's own logic. */
function charTokenizer(vocabSize: number, base: number): Tokenizer {
  return {
    vocabSize,
    bosId: vocabSize - 1,
    eosId: vocabSize - 2,
    encode: (text) => Array.from(text, (c) => base + (c.codePointAt(0)! % (vocabSize - base - 2))),
    decode: () => {
      throw new Error('not used');
    },
    streamDecoder: () => {
      throw new Error('not used');
    },
  };
}

test('prepare writes each text document as BOS + tokenizer.encode(document), with a sidecar that describes it', () => {
  const dir = freshDir();
  writeFileSync(join(dir, 'story.txt'), STORY);
  const out = join(dir, 'data.bin');
  const sum = prepare([join(dir, 'story.txt')], out, { tokenizerSource: resolveTokenizer(TOK) });
  const docs = splitDocuments(STORY);
  assert.equal(docs.length, 3);
  const want = expectedTokens(docs, tok);
  assert.deepEqual(readU16(out), want);
  const meta = JSON.parse(readFileSync(`${out}.json`, 'utf8'));
  assert.deepEqual(meta, sum.meta);
  assert.equal(meta.format, 'rrt-tokens');
  assert.equal(meta.version, 1);
  assert.equal(meta.dtype, 'uint16');
  assert.equal(meta.tokens, want.length);
  assert.equal(meta.documents, 3);
  assert.equal(meta.vocabSize, 512);
  assert.equal(meta.bos, 1);
  assert.equal(meta.eos, null);
  assert.deepEqual(meta.sources, [join(dir, 'story.txt')]);
  assert.equal(meta.tokenizer.sha256, createHash('sha256').update(readFileSync(TOK)).digest('hex'));
  assert.equal(meta.createdBy, 'rrt data prepare');
  assert.deepEqual(readdirSync(dir).sort(), ['data.bin', 'data.bin.json', 'story.txt'], 'no temp files left');
});

test('--no-bos drops BOS, --append-eos adds EOS, --max-tokens cuts the stream', () => {
  const dir = freshDir();
  writeFileSync(join(dir, 'story.txt'), STORY);
  const docs = splitDocuments(STORY);
  const a = prepare([join(dir, 'story.txt')], join(dir, 'a.bin'), { bos: false, appendEos: true });
  const want = expectedTokens(docs, tok, { bos: false, eos: true });
  assert.deepEqual(Array.from(openTokenFile(join(dir, 'a.bin')).tokens), want);
  assert.equal(a.meta.bos, null);
  assert.equal(a.meta.eos, 2);
  const full = expectedTokens(docs, tok);
  const n = full.length - 5;
  const b = prepare([join(dir, 'story.txt')], join(dir, 'b.bin'), { maxTokens: n });
  assert.equal(b.meta.tokens, n);
  assert.deepEqual(Array.from(openTokenFile(join(dir, 'b.bin')).tokens), full.slice(0, n));
});

test('folders are read recursively in name order (.txt/.jsonl only) and mixed with files, text split like splitDocuments', () => {
  const dir = freshDir();
  const corpus = join(dir, 'corpus');
  mkdirSync(join(corpus, 'b-sub'), { recursive: true });
  const blocks = 'The cat sat.\nThe dog ran.\n\nA bird sang.\n';
  const perLine = 'First line story.\nSecond line story.\n  Third one.  \n';
  const jsonDocs = ['Tom had a toy car.', 'Sue liked "red" apples.\nShe ate two.'];
  writeFileSync(join(corpus, 'c.txt'), blocks);
  writeFileSync(join(corpus, 'a.jsonl'), jsonDocs.map((t, i) => JSON.stringify({ id: i, text: t })).join('\r\n') + '\n\n');
  writeFileSync(join(corpus, 'b-sub', 'x.txt'), perLine);
  writeFileSync(join(corpus, 'notes.md'), 'ignored');
  writeFileSync(join(corpus, 'meta.json'), '{"text": "ignored"}');
  const extra = join(dir, 'extra.txt');
  writeFileSync(extra, STORY);
  const out = join(dir, 'data.bin');
  const meta = prepare([corpus, extra], out).meta;
  const docs = [...jsonDocs, ...splitDocuments(perLine), ...splitDocuments(blocks), ...splitDocuments(STORY)];
  assert.deepEqual(splitDocuments(perLine).length, 3, 'no blank lines: one document per line');
  assert.deepEqual(splitDocuments(blocks).length, 2, 'blank lines: blocks');
  assert.deepEqual(meta.sources, [join(corpus, 'a.jsonl'), join(corpus, 'b-sub/x.txt'), join(corpus, 'c.txt'), extra]);
  assert.equal(meta.documents, docs.length);
  assert.deepEqual(Array.from(openTokenFile(out).tokens), expectedTokens(docs, tok));
});

test('.jsonl: --text-field picks the field; a malformed line or a missing field names the file and line', () => {
  const dir = freshDir();
  const f = join(dir, 'x.jsonl');
  writeFileSync(f, [JSON.stringify({ body: 'A small story.' }), '', JSON.stringify({ body: 'Another one.' })].join('\n'));
  const meta = prepare([f], join(dir, 'ok.bin'), { textField: 'body' }).meta;
  assert.deepEqual(Array.from(openTokenFile(join(dir, 'ok.bin')).tokens), expectedTokens(['A small story.', 'Another one.'], tok));
  assert.equal(meta.documents, 2);
  assert.throws(() => prepare([f], join(dir, 'bad.bin')), (e: Error) => e instanceof InputError && /x\.jsonl line 1: field "text" is missing/.test(e.message));
  writeFileSync(f, [JSON.stringify({ text: 'fine' }), JSON.stringify({ text: 'fine' }), '{"text": "broken'].join('\n'));
  assert.throws(() => prepare([f], join(dir, 'bad.bin')), (e: Error) => e instanceof InputError && /x\.jsonl line 3: not valid JSON/.test(e.message));
  writeFileSync(f, '{"text": 5}\n');
  assert.throws(() => prepare([f], join(dir, 'bad.bin')), /line 1: field "text" is a number/);
  writeFileSync(f, '["text"]\n');
  assert.throws(() => prepare([f], join(dir, 'bad.bin')), /line 1: expected a JSON object, got an array/);
  assert.deepEqual(readdirSync(dir).sort(), ['ok.bin', 'ok.bin.json', 'x.jsonl'], 'failed runs leave nothing');
});

test('streaming: a 5 MB text file read in 1 MiB chunks gives the tokens of splitting and encoding it whole', () => {
  const dir = freshDir();
  const r = rng(3);
  const words = ['the', 'cat', 'déjà', 'vu', '😀', 'Lily', 'ran', 'home.', 'naïve', '日本'];
  const parts: string[] = [];
  let size = 0;
  while (size < 5_000_000) {
    const n = 5 + Math.floor(r() * 200);
    const doc = Array.from({ length: n }, () => words[Math.floor(r() * words.length)]).join(r() < 0.1 ? '\n' : ' ');
    const sep = ['\n\n', '\n \n', '\r\n\r\n', '\n\n\n\t\n'][Math.floor(r() * 4)];
    parts.push(doc, sep);
    size += doc.length + sep.length;
  }
  const text = parts.join('');
  const file = join(dir, 'big.txt');
  writeFileSync(file, text);
  assert.ok(readFileSync(file).length > 4 * (1 << 20));
  const fake = charTokenizer(512, 3);
  const meta = prepareTokenFile([file], join(dir, 'big.bin'), { tokenizer: fake }).meta;
  const docs = splitDocuments(text);
  assert.equal(meta.documents, docs.length);
  const got = openTokenFile(join(dir, 'big.bin')).tokens;
  const want = expectedTokens(docs, fake);
  assert.equal(got.length, want.length);
  for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) assert.fail(`token ${i}: ${got[i]} vs ${want[i]}`);
});

test('streaming: tiny chunks that cut separators, \\r\\n and multi-byte characters give the same tokens (both splitting modes)', () => {
  const dir = freshDir();
  const blockText = `${STORY}\r\n\r\nSecond  part — 日本語 😀 story.\n\t\n\nThird.\n \n \n  Fourth 😀😀.`;
  const lineText = 'Line one é.\r\nLine two 😀.\nLine three 日本.';
  for (const [name, text] of [['blocks', blockText], ['lines', lineText]] as const) {
    const file = join(dir, `${name}.txt`);
    writeFileSync(file, text);
    const want = expectedTokens(splitDocuments(text), tok);
    for (const chunkBytes of [16, 17, 31, 64, 1000]) {
      const out = join(dir, `${name}-${chunkBytes}.bin`);
      prepare([file], out, { chunkBytes });
      assert.deepEqual(Array.from(openTokenFile(out).tokens), want, `${name}, chunkBytes ${chunkBytes}`);
    }
  }
});

test('uint32 files for vocabularies over 65536 round-trip ids above 65535', () => {
  const dir = freshDir();
  const big = charTokenizer(70_000, 65_530);
  writeFileSync(join(dir, 'a.txt'), STORY);
  const meta = prepareTokenFile([join(dir, 'a.txt')], join(dir, 'a.bin'), { tokenizer: big, appendEos: true }).meta;
  assert.equal(meta.dtype, 'uint32');
  const want = expectedTokens(splitDocuments(STORY), big, { eos: true });
  assert.ok(want.some((x) => x > 65535));
  assert.equal(readFileSync(join(dir, 'a.bin')).length, 4 * want.length);
  const f = openTokenFile(join(dir, 'a.bin'));
  assert.ok(f.tokens instanceof Uint32Array);
  assert.deepEqual(Array.from(f.tokens), want);
});

test('a tokenizer that emits an id outside its vocabulary is refused', () => {
  const dir = freshDir();
  writeFileSync(join(dir, 'a.txt'), STORY);
  const liar = { ...charTokenizer(512, 3), encode: () => [7, 600] };
  assert.throws(() => prepareTokenFile([join(dir, 'a.txt')], join(dir, 'a.bin'), { tokenizer: liar }), /produced id 600, outside its vocabulary \[0, 512\)/);
  assert.deepEqual(readdirSync(dir), ['a.txt']);
});

test('the memory-mapped reader returns the bytes fs.readFileSync reads; close() unmaps and empties the view', { skip: skipWithoutNative(native) }, () => {
  const dir = freshDir();
  writeFileSync(join(dir, 'a.txt'), STORY.repeat(50));
  const out = join(dir, 'a.bin');
  prepare([join(dir, 'a.txt')], out);
  const want = Uint16Array.from(readU16(out));
  const mapped = openTokenFile(out);
  assert.equal(mapped.mapped, true);
  assert.deepEqual(mapped.tokens, want);
  const plain = openTokenFile(out, { mmap: false });
  assert.equal(plain.mapped, false);
  assert.deepEqual(plain.tokens, want);
  const view = mapped.tokens.subarray(10, 20);
  mapped.close();
  assert.equal(mapped.tokens.length, 0);
  assert.equal(view.length, 0, 'views of a closed mapping read as empty, never freed memory');
  plain.close();
  assert.equal(plain.tokens.length, 0);
});

test('mmap_file validates its argument, reports errno text, maps empty files as zero-length, writes stay private', { skip: skipWithoutNative(native) }, () => {
  const m = native as unknown as { mmap_file(p: unknown): ArrayBuffer; mmap_close(b: unknown): void };
  const dir = freshDir();
  assert.throws(() => m.mmap_file(42), (e: Error) => e instanceof TypeError && /\[mmap_file\] path must be a string/.test(e.message));
  assert.throws(() => (m.mmap_file as () => ArrayBuffer)(), /expected 1 arguments, got 0/);
  assert.throws(() => m.mmap_file(''), TypeError);
  assert.throws(() => m.mmap_file(join(dir, 'nope')), /cannot open .*nope: No such file or directory/);
  assert.throws(() => m.mmap_file(dir), /Is a directory/);
  writeFileSync(join(dir, 'empty'), '');
  assert.equal(m.mmap_file(join(dir, 'empty')).byteLength, 0);
  writeFileSync(join(dir, 'x'), Buffer.from([1, 2, 3]));
  const buf = m.mmap_file(join(dir, 'x'));
  const bytes = new Uint8Array(buf);
  assert.deepEqual(Array.from(bytes), [1, 2, 3]);
  bytes[0] = 9;
  assert.equal(bytes[0], 9);
  assert.deepEqual(Array.from(readFileSync(join(dir, 'x'))), [1, 2, 3], 'copy-on-write: the file is untouched');
  assert.throws(() => m.mmap_close(new ArrayBuffer(8)), /returned by mmap_file/);
  assert.throws(() => m.mmap_close(bytes), TypeError);
  m.mmap_close(buf);
  m.mmap_close(buf); // closing twice is harmless
});

test('the reader refuses a missing or corrupt sidecar and a file whose size disagrees with it, showing the numbers', () => {
  const dir = freshDir();
  writeFileSync(join(dir, 'a.txt'), STORY);
  const out = join(dir, 'a.bin');
  const meta = prepare([join(dir, 'a.txt')], out).meta;
  const side = `${out}.json`;
  const good = readFileSync(side, 'utf8');
  const expectFormat = (code: string, re: RegExp) =>
    assert.throws(() => openTokenFile(out), (e: Error) => e instanceof FormatError && e.code === code && re.test(e.message), `${code} ${re}`);
  writeFileSync(side, good.slice(0, 20));
  expectFormat('bad_header', /not valid JSON/);
  writeFileSync(side, JSON.stringify({ ...meta, version: 2 }));
  expectFormat('bad_version', /version 2; rrt reads version 1/);
  writeFileSync(side, JSON.stringify({ ...meta, format: 'npy' }));
  expectFormat('bad_magic', /format is "npy"/);
  writeFileSync(side, JSON.stringify({ ...meta, dtype: 'int8' }));
  expectFormat('unknown_dtype', /dtype "int8"/);
  writeFileSync(side, JSON.stringify({ ...meta, tokens: -1 }));
  expectFormat('bad_header', /tokens is -1/);
  writeFileSync(side, JSON.stringify({ ...meta, tokens: meta.tokens + 1 }));
  expectFormat('truncated', new RegExp(`file has ${2 * meta.tokens} bytes; its sidecar says ${meta.tokens + 1} uint16 tokens = ${2 * meta.tokens + 2} bytes`));
  writeFileSync(side, JSON.stringify({ ...meta, dtype: 'uint32', tokens: Math.floor(meta.tokens / 2) - 1 }));
  expectFormat('shape_size_mismatch', /uint32 tokens/);
  writeFileSync(side, good);
  truncateSync(out, 2 * meta.tokens - 1);
  expectFormat('truncated', new RegExp(`file has ${2 * meta.tokens - 1} bytes`));
  writeFileSync(join(dir, 'lonely.bin'), Buffer.alloc(8));
  assert.throws(() => openTokenFile(join(dir, 'lonely.bin')), (e: Error) => e instanceof FormatError && e.code === 'not_found' && /no sidecar lonely\.bin\.json/.test(e.message));
});

test('prepare errors: no documents, a missing input, a missing output directory — and nothing is written', () => {
  const dir = freshDir();
  writeFileSync(join(dir, 'blank.txt'), '\n  \n\t\n');
  mkdirSync(join(dir, 'empty-folder'));
  writeFileSync(join(dir, 'empty-folder', 'skip.md'), 'not read');
  const out = join(dir, 'data.bin');
  assert.throws(() => prepare([join(dir, 'blank.txt')], out), (e: Error) => e instanceof InputError && /no documents found in .*blank\.txt; nothing written/.test(e.message));
  assert.throws(() => prepare([join(dir, 'empty-folder')], out), /no \.txt or \.jsonl files/);
  assert.throws(() => prepare([join(dir, 'blank.txt'), join(dir, 'missing.txt')], out), (e: Error) => e instanceof InputError && e.code === 'not_found' && /input not found: .*missing\.txt/.test(e.message));
  assert.throws(() => prepare([join(dir, 'blank.txt')], join(dir, 'no/such/dir/data.bin')), /output directory does not exist: .*no\/such\/dir/);
  assert.throws(() => prepare([join(dir, 'blank.txt')], join(dir, 'empty-folder')), /is a directory/);
  assert.throws(() => prepare([join(dir, 'blank.txt')], out, { appendEos: true, tokenizer: { ...charTokenizer(512, 3), eosId: null } }), /no EOS token/);
  assert.deepEqual(readdirSync(dir).sort(), ['blank.txt', 'empty-folder']);
});

test('a run that dies mid-way (progress callback throws) leaves neither DATA.bin nor DATA.bin.json, nor temp files', () => {
  const dir = freshDir();
  writeFileSync(join(dir, 'a.txt'), STORY.repeat(20));
  let calls = 0;
  assert.throws(
    () =>
      prepare([join(dir, 'a.txt')], join(dir, 'data.bin'), {
        onProgress: (p) => {
          calls++;
          assert.ok(p.tokens > 0 && p.bytesRead > 0 && p.totalBytes === readFileSync(join(dir, 'a.txt')).length);
          throw new Error('killed');
        },
      }),
    /killed/,
  );
  assert.equal(calls, 1);
  assert.deepEqual(readdirSync(dir), ['a.txt']);
  assert.ok(!existsSync(join(dir, 'data.bin')) && !existsSync(join(dir, 'data.bin.json')));
});

test('resolveTokenizer takes a model or a tokenizer file and fingerprints the same tokenizer file either way', () => {
  const a = resolveTokenizer(MODEL);
  const b = resolveTokenizer(TOK);
  assert.deepEqual(a.files, [TOK]);
  assert.equal(a.sha256, b.sha256);
  assert.deepEqual(a.tokenizer.encode('Once upon a time'), tok.encode('Once upon a time'));
  const gpt2 = resolveTokenizer(join(root, 'fixtures/tokenizers/gpt2'));
  assert.equal(gpt2.tokenizer.vocabSize, 50257);
  assert.deepEqual(gpt2.files, [join(root, 'fixtures/tokenizers/gpt2/tokenizer.json')]);
  const gguf = resolveTokenizer(join(root, 'fixtures/gguf/llama-2-tiny-random.gguf'));
  assert.equal(gguf.tokenizer.vocabSize, 32000);
  assert.deepEqual([gguf.files, gguf.sha256], [[], null], 'a tokenizer inside a GGUF model has no file of its own to hash');
  assert.throws(() => resolveTokenizer(join(tmp, 'nope')), /tokenizer not found/);
});

test('checkVocab names the first token outside the model vocabulary, and refuses a larger tokenizer vocabulary', () => {
  const dir = freshDir();
  writeFileSync(join(dir, 'a.txt'), STORY);
  const f = openTokenFile((prepare([join(dir, 'a.txt')], join(dir, 'a.bin')), join(dir, 'a.bin')));
  checkVocab(f, 512);
  checkVocab(f, 1024); // a padded model vocabulary is fine
  let first = -1;
  for (let i = 0; i < f.tokens.length && first < 0; i++) if (f.tokens[i] >= 300) first = i;
  assert.ok(first > 0);
  assert.throws(() => checkVocab(f, 300), (e: Error) => e instanceof InputError && e.message.includes(`token ${f.tokens[first]} at position ${first} is outside the model's vocabulary [0, 300)`));
  const max = Math.max(...f.tokens);
  assert.throws(() => checkVocab(f, max + 1), /prepared with a tokenizer of 512 tokens .*more than the model's/);
});

/** tokens[i] = i, so a window's first input is its start. */
const iota = (n: number) => Uint32Array.from({ length: n }, (_, i) => i);

test('sampler windows: targets are inputs shifted by one, every start in range is reachable, none touches the held-out tail', () => {
  const tokens = iota(120);
  const s = new WindowSampler(tokens, { seqLen: 4, seed: 1, heldOutTokens: 100 });
  assert.equal(s.trainEnd, 20);
  const seen = new Set<number>();
  for (let k = 0; k < 300; k++) {
    const { inputs, targets } = s.next(8);
    assert.equal(inputs.length, 32);
    for (let b = 0; b < 8; b++) {
      const start = inputs[b * 4];
      seen.add(start);
      for (let t = 0; t < 4; t++) {
        assert.equal(inputs[b * 4 + t], start + t);
        assert.equal(targets[b * 4 + t], start + t + 1);
      }
      assert.ok(start + 4 < s.trainEnd, `window at ${start} reaches the held-out split at ${s.trainEnd}`);
    }
  }
  assert.deepEqual([...seen].sort((a, b) => a - b), Array.from({ length: 16 }, (_, i) => i), 'starts 0..trainEnd−seqLen−1, all of them');
  const h = new WindowSampler(tokens, { seqLen: 4, seed: 1, heldOutTokens: 100, split: 'heldout' });
  for (let k = 0; k < 50; k++) for (const x of h.next(4).inputs) assert.ok(x >= 20);
});

test('sampler defaults hold out the ceil(1 %) tail; held-out windows are deterministic, non-overlapping and inside it', () => {
  const tokens = iota(10_001);
  const s = new WindowSampler(tokens, { seqLen: 16, seed: 9 });
  assert.equal(s.heldOutTokens, 101);
  assert.equal(s.trainEnd, 9900);
  const wins = [...s.heldOutWindows()];
  assert.deepEqual(wins.map((w) => w.start), [9900, 9916, 9932, 9948, 9964, 9980]);
  for (const w of wins) {
    assert.deepEqual(Array.from(w.inputs), Array.from({ length: 16 }, (_, i) => w.start + i));
    assert.deepEqual(Array.from(w.targets), Array.from({ length: 16 }, (_, i) => w.start + i + 1));
  }
  assert.deepEqual([...s.heldOutWindows(32, 40)].map((w) => w.start), [9900, 9940]);
  assert.deepEqual([...s.heldOutWindows()].map((w) => w.start), wins.map((w) => w.start));
  assert.throws(() => [...s.heldOutWindows(16, 8)], /stride must be an integer ≥ seqLen/);
  assert.throws(() => [...s.heldOutWindows(200)], /held-out split holds 101 tokens, fewer than seqLen \+ 1 = 201/);
});

test('sampler is deterministic per seed, and a restored state continues with the identical windows', () => {
  const tokens = iota(50_000);
  const a = new WindowSampler(tokens, { seqLen: 32, seed: 42 });
  const b = new WindowSampler(tokens, { seqLen: 32, seed: 42 });
  const c = new WindowSampler(tokens, { seqLen: 32, seed: 43 });
  const ba = a.next(4);
  assert.deepEqual(ba, b.next(4));
  assert.notDeepEqual(ba.inputs, c.next(4).inputs);
  a.next(3);
  const saved = JSON.parse(JSON.stringify(a.state()));
  const continued = [a.next(5), a.next(2)];
  const resumed = new WindowSampler(tokens, { seqLen: 32, seed: 0 });
  resumed.restore(saved);
  assert.deepEqual([resumed.next(5), resumed.next(2)], continued);
  assert.equal(resumed.state().windows, 4 + 3 + 5 + 2);
  const other = new WindowSampler(tokens, { seqLen: 64, seed: 42 });
  assert.throws(() => other.restore(saved), /another layout: seqLen 32 \(now 64\)/);
  assert.throws(() => resumed.restore({ ...saved, rng: -1 }), /rng must be a uint32/);
  assert.throws(() => resumed.restore({ kind: 'x' } as never), /not a window sampler state/);
});

test('sampler refuses a token stream shorter than seqLen + 1 and bad options', () => {
  assert.throws(() => new WindowSampler(iota(16), { seqLen: 16, seed: 1, heldOutTokens: 0 }), /train split holds 16 of the file's 16 tokens .* fewer than seqLen \+ 1 = 17/);
  assert.doesNotThrow(() => new WindowSampler(iota(17), { seqLen: 16, seed: 1, heldOutTokens: 0 }));
  assert.throws(() => new WindowSampler(iota(100), { seqLen: 16, seed: 1, heldOutTokens: 10, split: 'heldout' }), /heldout split holds 10/);
  assert.throws(() => new WindowSampler(iota(100), { seqLen: 0, seed: 1 }), /seqLen must be a positive integer/);
  assert.throws(() => new WindowSampler(iota(100), { seqLen: 4, seed: -1 }), /seed must be an integer/);
  assert.throws(() => new WindowSampler(iota(100), { seqLen: 4, seed: 1, heldOutFraction: 1 }), /heldOutFraction must be in \[0, 1\)/);
  assert.throws(() => new WindowSampler(iota(100), { seqLen: 4, seed: 1, heldOutTokens: 101 }), /heldOutTokens must be an integer in \[0, 100\]/);
  assert.throws(() => new WindowSampler(iota(100), { seqLen: 4, seed: 1, heldOutTokens: 1, heldOutFraction: 0.1 }), /not both/);
  assert.throws(() => new WindowSampler(iota(100), { seqLen: 4, seed: 1 }).next(0), /batchSize must be a positive integer/);
});

test('rrt data prepare end to end: a folder and a model path in, a loadable token file out; bad input gets one error line', () => {
  const dir = freshDir();
  mkdirSync(join(dir, 'in'));
  writeFileSync(join(dir, 'in', 'a.txt'), STORY);
  writeFileSync(join(dir, 'in', 'b.jsonl'), JSON.stringify({ text: 'Tom had a toy car.' }) + '\n');
  const out = join(dir, 'data.bin');
  const cli = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), 'data', 'prepare', ...args], { encoding: 'utf8', cwd: root, timeout: 60_000 });
  const r = cli(join(dir, 'in'), '--tokenizer', MODEL, '--out', out, '--append-eos', '--json');
  assert.equal(r.status, 0, r.stderr);
  const summary = JSON.parse(r.stdout);
  const f = openTokenFile(out);
  assert.equal(summary.tokens, f.meta.tokens);
  assert.ok(summary.tokensPerSecond > 0);
  assert.deepEqual(Array.from(f.tokens), expectedTokens([...splitDocuments(STORY), 'Tom had a toy car.'], tok, { eos: true }));
  const text = cli(join(dir, 'in', 'a.txt'), '--tokenizer', TOK, '--out', join(dir, 'b.bin'), '--no-bos', '--max-tokens', '10');
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /tokens +10 \(10\) as uint16/);
  assert.equal(openTokenFile(join(dir, 'b.bin')).meta.bos, null);
  const bad = cli(join(dir, 'missing.txt'), '--tokenizer', TOK, '--out', join(dir, 'c.bin'));
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /^error: input not found: .*missing\.txt\n$/);
  const noDir = cli(join(dir, 'in'), '--tokenizer', TOK, '--out', join(dir, 'nowhere', 'c.bin'));
  assert.equal(noDir.status, 1);
  assert.match(noDir.stderr, /^error: output directory does not exist/);
});

test('writeTokenFile stores token-id documents that the reader loads back; an out-of-range id leaves no file', () => {
  const d = freshDir();
  const out = join(d, 'ids.bin');
  const docs = [[1, 300, 301, 2], [], [1, 511, 0]];
  const meta = writeTokenFile(out, docs, { vocabSize: 512, bos: 1, eos: 2, sources: ['sampled'], createdBy: 'test' });
  assert.equal(meta.tokens, 7);
  assert.equal(meta.documents, 2);
  const f = openTokenFile(out);
  assert.deepEqual(Array.from(f.tokens), docs.flat());
  assert.equal(f.meta.createdBy, 'test');
  const bad = join(d, 'bad.bin');
  assert.throws(() => writeTokenFile(bad, [[1, 2], [512]], { vocabSize: 512, bos: 1, eos: 2, sources: [], createdBy: 'test' }), (e: unknown) => e instanceof InputError && /512 is outside/.test(e.message));
  assert.deepEqual(readdirSync(d).sort(), ['ids.bin', 'ids.bin.json']);
});
