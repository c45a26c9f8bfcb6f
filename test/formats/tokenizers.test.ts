// Tokenizers against oracles nobody here wrote: HF tokenizers 0.23 ids for gpt2 / gpt-neox-20b,
// sentencepiece ids for Llama 2, tiktoken ids for Llama 3 (fixtures/tokenizers/tokenizer_reference.json),
// and llama2.c's published stories260K prompt ids and greedy text. Each reference text is a case;
// a failure names the tokenizer, the text and the first differing position.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tokenizer as HfLib } from '@huggingface/tokenizers';
import { ConfigError, FormatError, InputError } from '../../src/errors.js';
import { openGguf } from '../../src/formats/gguf.js';
import { loadTokenizer, tokenizerFromGgufMetadata, type Tokenizer } from '../../src/formats/tokenizers/index.js';
import { HfTokenizer } from '../../src/formats/tokenizers/hf.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const fixture = (...p: string[]) => join(root, 'fixtures', 'tokenizers', ...p);
const LLAMA2_BIN = fixture('llama2', 'tokenizer.bin');
const LLAMA2_GGUF = join(root, 'fixtures', 'gguf', 'llama-2-tiny-random.gguf');
const TOK512 = join(root, 'assets', 'stories260K', 'tok512.bin');
const STORIES_REF = join(root, 'assets', 'stories260K', 'reference_outputs.json');
// Llama 3's tiktoken file (2.1 MB) is not a fixture; the shared data folder sits beside the checkout.
const LLAMA3_TIKTOKEN = join(root, '..', 'shared', 'data', 'tokenizers', 'llama3', 'tokenizer.model');

interface Reference {
  texts: { tinystories: string; wikitext: string; stress: string[] };
  tokenizers: Record<string, { tinystories: number[]; wikitext: number[]; stress: number[][] }>;
}
const ref = JSON.parse(readFileSync(fixture('tokenizer_reference.json'), 'utf8')) as Reference;

interface Case { label: string; text: string; ids: number[] }
function cases(name: string): Case[] {
  const ids = ref.tokenizers[name];
  return [
    { label: 'tinystories', text: ref.texts.tinystories, ids: ids.tinystories },
    { label: 'wikitext', text: ref.texts.wikitext, ids: ids.wikitext },
    ...ref.texts.stress.map((text, i) => ({ label: `stress[${i}] ${JSON.stringify(text).slice(0, 40)}`, text, ids: ids.stress[i] })),
  ];
}
const allTexts = cases('gpt2').map(({ label, text }) => ({ label, text }));

function assertIds(actual: number[], expected: number[], label: string): void {
  if (actual.length === expected.length && actual.every((id, i) => id === expected[i])) return;
  let i = 0;
  while (i < actual.length && actual[i] === expected[i]) i++;
  assert.fail(`${label}: ids differ at position ${i} of ${expected.length}: got [${actual.slice(i, i + 8)}] (length ${actual.length}), expected [${expected.slice(i, i + 8)}]`);
}

function streamAll(tok: Tokenizer, ids: readonly number[], skip: boolean): { text: string; pieces: string[] } {
  const d = tok.streamDecoder({ skipSpecialTokens: skip });
  const pieces = ids.map((id) => d.push(id));
  pieces.push(d.flush());
  return { text: pieces.join(''), pieces };
}

const tmp = mkdtempSync(join(tmpdir(), 'rrt-tokenizers-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const gpt2 = loadTokenizer(fixture('gpt2'));
const neox = loadTokenizer(fixture('gpt-neox-20b', 'tokenizer.json'));
const llamaBin = loadTokenizer(LLAMA2_BIN);
const llamaGgufMeta = openGguf(LLAMA2_GGUF).metadata;
const llamaGguf = tokenizerFromGgufMetadata(llamaGgufMeta);

/**
 * A Llama-2 tokenizer.json built from the llama2 vocabulary the way transformers' LlamaConverter
 * does (SentencePieceExtractor: every split of a piece into two pieces is a merge, ordered by the
 * piece's score), in the legacy form (Prepend+Replace normalizer) or the Metaspace form.
 */
function llamaTokenizerJsons(): { legacy: object; metaspace: object } {
  const buf = readFileSync(LLAMA2_BIN);
  const pieces: string[] = [];
  const scores: number[] = [];
  for (let o = 4; o < buf.length; ) {
    scores.push(buf.readFloatLE(o));
    const n = buf.readInt32LE(o + 4);
    pieces.push(buf.subarray(o + 8, o + 8 + n).toString('utf8').replaceAll(' ', '\u2581'));
    o += 8 + n;
  }
  pieces[1] = '<s>';
  pieces[2] = '</s>';
  const vocab: Record<string, number> = {};
  pieces.forEach((p, id) => (vocab[p] = id));
  const merges: [string, string, number][] = [];
  pieces.forEach((piece, id) => {
    if (id < 259) return; // <unk>, <s>, </s> and the 256 byte pieces
    const cps = Array.from(piece);
    const local: [string, string, number][] = [];
    for (let k = 1; k < cps.length; k++) {
      const l = cps.slice(0, k).join('');
      const r = cps.slice(k).join('');
      if (l in vocab && r in vocab) local.push([l, r, scores[id]]);
    }
    local.sort((a, b) => vocab[a[0]] - vocab[b[0]] || vocab[a[1]] - vocab[b[1]]);
    merges.push(...local);
  });
  merges.sort((a, b) => b[2] - a[2]);
  const special = (id: number) => ({ id, content: pieces[id], special: true, normalized: false, lstrip: false, rstrip: false, single_word: false });
  const common = {
    version: '1.0',
    added_tokens: [special(0), special(1), special(2)],
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: '\u2581' }, content: ' ' },
        { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: { type: 'BPE', dropout: null, unk_token: '<unk>', fuse_unk: true, byte_fallback: true, vocab, merges: merges.map(([l, r]) => [l, r]) },
  };
  return {
    legacy: {
      ...common,
      normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '\u2581' }, { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' }] },
      pre_tokenizer: null,
    },
    metaspace: { ...common, normalizer: null, pre_tokenizer: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'first', split: false } },
  };
}
const { legacy: llamaLegacyJson, metaspace: llamaMetaspaceJson } = llamaTokenizerJsons();
const llamaHfLegacy = new HfTokenizer(llamaLegacyJson);
const llamaHfMetaspace = new HfTokenizer(llamaMetaspaceJson);

test('gpt2 and gpt-neox-20b tokenizer.json encode every reference text to HF tokenizers 0.23 ids, with and without special tokens', () => {
  for (const [name, tok] of [['gpt2', gpt2], ['gpt-neox-20b', neox]] as const) {
    for (const special of [false, true]) {
      const refName = special ? `${name}+special` : name;
      for (const c of cases(refName)) assertIds(tok.encode(c.text, { addSpecialTokens: special }), c.ids, `${refName} ${c.label}`);
    }
  }
});

test('HF tokenizers: decode(encode(x)) === x for every reference text (special tokens kept), and ids carry vocabSize/bos/eos from the files', () => {
  for (const [name, tok] of [['gpt2', gpt2], ['gpt-neox-20b', neox]] as const) {
    for (const c of allTexts) assert.equal(tok.decode(tok.encode(c.text)), c.text, `${name} ${c.label}`);
  }
  assert.deepEqual([gpt2.vocabSize, gpt2.bosId, gpt2.eosId], [50257, 50256, 50256]);
  const neoxJson = JSON.parse(readFileSync(fixture('gpt-neox-20b', 'tokenizer.json'), 'utf8')) as { added_tokens: { id: number }[]; model: { vocab: Record<string, number> } };
  const neoxMax = Math.max(...Object.values(neoxJson.model.vocab), ...neoxJson.added_tokens.map((t) => t.id));
  assert.deepEqual([neox.vocabSize, neox.bosId, neox.eosId], [neoxMax + 1, 0, 0]);
});

test('llama2 tokenizer.bin and llama2 GGUF metadata encode every reference text to sentencepiece ids (no BOS) and decode back exactly', () => {
  for (const [name, tok] of [['tokenizer.bin', llamaBin], ['GGUF', llamaGguf]] as const) {
    assert.deepEqual([tok.vocabSize, tok.bosId, tok.eosId], [32000, 1, 2], name);
    for (const c of cases('llama2-sentencepiece')) {
      const ids = tok.encode(c.text, { addSpecialTokens: false });
      assertIds(ids, c.ids, `llama2 ${name} ${c.label}`);
      assert.equal(tok.decode(ids), c.text, `llama2 ${name} round trip ${c.label}`);
      const withBos = tok.encode(c.text);
      assert.deepEqual(withBos, [1, ...c.ids], `llama2 ${name} BOS ${c.label}`);
      assert.equal(tok.decode(withBos, { skipSpecialTokens: true }), c.text, `llama2 ${name} round trip with BOS ${c.label}`);
    }
  }
  const viaPath = loadTokenizer(LLAMA2_GGUF);
  assertIds(viaPath.encode(ref.texts.wikitext), llamaGguf.encode(ref.texts.wikitext), 'loadTokenizer(.gguf) vs tokenizerFromGgufMetadata');
});

test('SentencePiece tokenizers: literal control tokens encode to their ids, get a fresh dummy prefix after them, and round trip', () => {
  for (const tok of [llamaBin, llamaGguf]) {
    const text = 'Hello</s> world<s>x';
    const ids = tok.encode(text, { addSpecialTokens: false });
    assert.deepEqual(ids.filter((id) => id === 1 || id === 2), [2, 1]);
    // After a control token the text is encoded as its own SentencePiece input (llama.cpp): "x" → "▁x".
    assert.deepEqual(ids.slice(ids.lastIndexOf(1) + 1), tok.encode('x', { addSpecialTokens: false }));
    assert.equal(tok.decode(ids), text);
    assert.equal(tok.decode(ids, { skipSpecialTokens: true }), 'Hello worldx');
  }
});

test('stories260K tok512.bin: "Once upon a time" encodes to run.c\'s [1, 403, 407, 261, 378] and the published greedy ids decode to the published text', () => {
  const stories = JSON.parse(readFileSync(STORIES_REF, 'utf8')) as {
    unconditional_greedy: { prompt_ids: number[]; generated_ids: number[]; text: string };
    unconditional_greedy_200: { generated_ids: number[]; text: string };
    prompt_once_upon_a_time: { prompt: string; prompt_ids_runc_encode: number[]; generated_ids_64: number[]; text: string };
  };
  const tok = loadTokenizer(TOK512);
  assert.deepEqual([tok.vocabSize, tok.bosId, tok.eosId], [512, 1, 2]);
  const p = stories.prompt_once_upon_a_time;
  assert.deepEqual(tok.encode(p.prompt), p.prompt_ids_runc_encode);
  for (const run of [stories.unconditional_greedy, stories.unconditional_greedy_200]) {
    // run.c prints each generated piece after the BOS prompt, stripping the first one's leading space.
    const ids = [1, ...run.generated_ids];
    assert.equal(tok.decode(ids, { skipSpecialTokens: true }), run.text);
    assert.equal(tok.decode(run.generated_ids), run.text, 'a leading dummy-prefix space at the start of a sequence is stripped too');
    assert.equal(streamAll(tok, ids, true).text, run.text);
  }
  assert.equal(tok.decode([...p.prompt_ids_runc_encode, ...p.generated_ids_64], { skipSpecialTokens: true }), p.text);
});

test('SentencePiece-style tokenizer.json: chunked encode equals the library on the whole text, and matches sentencepiece', () => {
  const metaspaceLib = new HfLib(llamaMetaspaceJson, {});
  for (const c of cases('llama2-sentencepiece')) {
    // The legacy form (Prepend normalizer) is exactly sentencepiece; its chunks drop the space that Prepend restores.
    assertIds(llamaHfLegacy.encode(c.text, { addSpecialTokens: false }), c.ids, `legacy vs sentencepiece ${c.label}`);
    assertIds(llamaHfLegacy.encode(c.text), [1, ...c.ids], `legacy with BOS ${c.label}`);
    const meta = llamaHfMetaspace.encode(c.text, { addSpecialTokens: false });
    assertIds(meta, metaspaceLib.encode(c.text, { add_special_tokens: false }).ids, `metaspace chunked vs whole ${c.label}`);
    // HF's Metaspace pre-tokenizer adds no '▁' to text that already starts with a space, where
    // sentencepiece always adds one (" Hello" → ▁Hello vs ▁▁Hello); that is the library's (and
    // Rust tokenizers') documented legacy behaviour, so those texts are compared to the library only.
    if (!c.text.startsWith(' ')) assertIds(meta, c.ids, `metaspace vs sentencepiece ${c.label}`);
  }
  // Runs of spaces are where a cut could change the ids (Llama has '▁▁', '▁▁▁', … pieces).
  const legacyLib = new HfLib(llamaLegacyJson, {});
  const spaced = ref.texts.tinystories.slice(0, 3000).replace(/ /g, (_, i: number) => ' '.repeat(1 + (i % 4))) + ' <s> x  </s>  y ';
  for (const [name, tok, lib] of [['legacy', llamaHfLegacy, legacyLib], ['metaspace', llamaHfMetaspace, metaspaceLib]] as const) {
    for (const special of [false, true]) {
      assertIds(tok.encode(spaced, { addSpecialTokens: special }), lib.encode(spaced, { add_special_tokens: special }).ids, `${name} spaced text, special=${special}`);
    }
  }
  // The same text through the score-based BPE: the legacy form's Prepend normalizer also gives each
  // section after a special token its own '▁', as rrt's SentencePiece encoder does.
  assertIds(llamaBin.encode(spaced), legacyLib.encode(spaced).ids, 'tokenizer.bin spaced text vs legacy tokenizer.json');
});

test('GGUF "gpt2" vocabularies (tokens + merges → tokenizer.json) encode like HF tokenizers on every reference text', () => {
  const json = JSON.parse(readFileSync(fixture('gpt2', 'tokenizer.json'), 'utf8')) as {
    added_tokens: { id: number; content: string }[]; model: { vocab: Record<string, number>; merges: string[] };
  };
  const tokens: string[] = [];
  for (const [t, id] of Object.entries(json.model.vocab)) tokens[id] = t;
  const types = tokens.map((_, id) => (json.added_tokens.some((a) => a.id === id) ? 3 : 1));
  const meta = new Map<string, unknown>([
    ['tokenizer.ggml.model', 'gpt2'], ['tokenizer.ggml.pre', 'gpt-2'], ['tokenizer.ggml.tokens', tokens],
    ['tokenizer.ggml.token_type', types], ['tokenizer.ggml.merges', json.model.merges],
    ['tokenizer.ggml.bos_token_id', 50256], ['tokenizer.ggml.eos_token_id', 50256], ['tokenizer.chat_template', '{{ messages }}'],
  ]);
  const tok = tokenizerFromGgufMetadata(meta);
  assert.deepEqual([tok.vocabSize, tok.bosId, tok.eosId, tok.chatTemplate], [50257, 50256, 50256, '{{ messages }}']);
  for (const special of [false, true]) {
    for (const c of cases(special ? 'gpt2+special' : 'gpt2')) assertIds(tok.encode(c.text, { addSpecialTokens: special }), c.ids, `GGUF gpt2 ${c.label}`);
  }
  meta.set('tokenizer.ggml.add_bos_token', true);
  assert.deepEqual(tokenizerFromGgufMetadata(meta).encode('Hello world'), [50256, 15496, 995]);
});

test('GGUF "gpt2" with pre = llama-bpe encodes like tiktoken on every Llama 3 reference text', { skip: !existsSync(LLAMA3_TIKTOKEN) && 'Llama 3 tokenizer.model (tiktoken ranks) is not a fixture and ../shared/data is absent' }, () => {
  // tiktoken ranks → byte-level token strings and merges, as transformers' TikTokenConverter does.
  const printable = (b: number) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  const byteChar: string[] = [];
  for (let b = 0, extra = 0; b < 256; b++) byteChar[b] = String.fromCharCode(printable(b) ? b : 256 + extra++);
  const ranks = new Map<string, number>();
  const tokens: string[] = [];
  for (const line of readFileSync(LLAMA3_TIKTOKEN, 'utf8').split('\n')) {
    if (!line) continue;
    const [b64, rank] = line.split(' ');
    const bytes = Buffer.from(b64, 'base64');
    ranks.set(bytes.toString('latin1'), Number(rank));
    tokens[Number(rank)] = Array.from(bytes, (b) => byteChar[b]).join('');
  }
  const merges: [number, number, number][] = [];
  for (const [t, rank] of ranks) {
    const local: [number, number, number][] = [];
    for (let k = 1; k < t.length; k++) {
      const l = ranks.get(t.slice(0, k));
      const r = ranks.get(t.slice(k));
      if (l !== undefined && r !== undefined) local.push([l, r, rank]);
    }
    local.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    merges.push(...local);
  }
  merges.sort((a, b) => a[2] - b[2]);
  const tok = tokenizerFromGgufMetadata(new Map<string, unknown>([
    ['tokenizer.ggml.model', 'gpt2'], ['tokenizer.ggml.pre', 'llama-bpe'], ['tokenizer.ggml.tokens', tokens],
    ['tokenizer.ggml.merges', merges.map(([l, r]) => `${tokens[l]} ${tokens[r]}`)],
  ]));
  for (const c of cases('llama3-tiktoken')) {
    const ids = tok.encode(c.text, { addSpecialTokens: false });
    assertIds(ids, c.ids, `llama3 ${c.label}`);
    assert.equal(tok.decode(ids), c.text, `llama3 round trip ${c.label}`);
  }
});

test('streaming decode: pushing ids one at a time yields exactly decode(all) for every reference text and tokenizer', () => {
  const tokenizers: [string, Tokenizer][] = [
    ['gpt2', gpt2], ['gpt-neox-20b', neox], ['llama2 tokenizer.bin', llamaBin], ['llama2 GGUF', llamaGguf],
    ['llama2 tokenizer.json (legacy)', llamaHfLegacy], ['llama2 tokenizer.json (Metaspace)', llamaHfMetaspace],
  ];
  for (const [name, tok] of tokenizers) {
    for (const c of allTexts) {
      const ids = tok.encode(c.text);
      for (const skip of [false, true]) {
        const { text, pieces } = streamAll(tok, ids, skip);
        assert.equal(text, tok.decode(ids, { skipSpecialTokens: skip }), `${name} ${c.label} skip=${skip}`);
        // Valid text never shows a replacement character mid-stream: split UTF-8 waits for its last byte.
        if (!c.text.includes('\uFFFD')) assert.ok(!pieces.some((s) => s.includes('\uFFFD')), `${name} ${c.label}: a pushed piece holds U+FFFD`);
      }
      // flush() in the middle (between two whole characters) does not restart the sequence.
      const d = tok.streamDecoder();
      const half = ids.findIndex((_, i) => i >= ids.length / 2 && !tok.decode(ids.slice(0, i)).endsWith('\uFFFD'));
      const split = half < 0 ? ids.length : half;
      const text = ids.slice(0, split).map((id) => d.push(id)).join('') + d.flush() + ids.slice(split).map((id) => d.push(id)).join('') + d.flush();
      assert.equal(text, tok.decode(ids), `${name} ${c.label}: flush at ${split}`);
    }
  }
});

test('streaming decode holds back a character split over byte-fallback tokens and emits it whole', () => {
  for (const tok of [llamaBin, llamaHfLegacy, gpt2]) {
    const ids = tok.encode('a 😀', { addSpecialTokens: false });
    const d = tok.streamDecoder();
    const pieces = ids.map((id) => d.push(id));
    assert.ok(ids.length >= 3, `emoji should take several tokens, got ${ids}`);
    assert.equal(pieces.filter((p) => p.includes('😀')).length, 1, `the emoji comes out whole in one piece: ${JSON.stringify(pieces)}`);
    assert.ok(pieces.some((p) => p === '') && !pieces.some((p) => p.includes('\uFFFD')), `its first bytes were held back: ${JSON.stringify(pieces)}`);
    assert.equal(pieces.join('') + d.flush(), 'a 😀');
  }
  // An incomplete sequence at the end comes out of flush() as U+FFFD, as decode() renders it.
  const d = llamaBin.streamDecoder();
  const partial = llamaBin.encode('😀', { addSpecialTokens: false }).slice(0, -1);
  const text = partial.map((id) => d.push(id)).join('') + d.flush();
  assert.equal(text, llamaBin.decode(partial));
  assert.ok(text.endsWith('\uFFFD'));
});

test('tokenizer_config.json supplies special tokens, add_bos_token and the chat template; config.json ids are a fallback', () => {
  const dir = join(tmp, 'llama-hf');
  mkdirSync(dir);
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(llamaLegacyJson));
  const template = "{% for m in messages %}{{ m['content'] }}{% endfor %}";
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ bos_token: '<s>', eos_token: { content: '</s>' }, add_bos_token: false, add_eos_token: true, chat_template: template }));
  const tok = loadTokenizer(dir);
  assert.deepEqual([tok.bosId, tok.eosId, tok.chatTemplate], [1, 2, template]);
  assert.deepEqual(tok.encode('Hello'), [15043, 2], 'add_bos_token false drops the post-processor BOS; add_eos_token adds EOS');

  const gdir = join(tmp, 'gpt2-hf');
  mkdirSync(gdir);
  writeFileSync(join(gdir, 'tokenizer.json'), readFileSync(fixture('gpt2', 'tokenizer.json')));
  writeFileSync(join(gdir, 'tokenizer_config.json'), JSON.stringify({ add_bos_token: true, chat_template: [{ name: 'default', template: 'T' }] }));
  writeFileSync(join(gdir, 'config.json'), JSON.stringify({ bos_token_id: 50256, eos_token_id: [50256] }));
  writeFileSync(join(gdir, 'chat_template.jinja'), 'J');
  const g = loadTokenizer(gdir);
  assert.deepEqual([g.bosId, g.eosId, g.chatTemplate], [50256, 50256, 'J']);
  assert.deepEqual(g.encode('Hello world'), [50256, 15496, 995]);
  assert.deepEqual(g.encode('Hello world', { addSpecialTokens: false }), [15496, 995]);
});

test('decode and stream push reject ids outside [0, vocabSize) and non-integers with InputError token_out_of_range', () => {
  for (const tok of [gpt2, llamaBin, llamaGguf, llamaHfMetaspace]) {
    for (const bad of [tok.vocabSize, tok.vocabSize + 100, -1, 1.5, NaN]) {
      assert.throws(() => tok.decode([5, bad]), (e: unknown) => e instanceof InputError && e.code === 'token_out_of_range' && e.message.includes(String(bad)), `decode(${bad})`);
      assert.throws(() => tok.streamDecoder().push(bad), (e: unknown) => e instanceof InputError && e.code === 'token_out_of_range', `push(${bad})`);
    }
    assert.equal(tok.decode([]), '');
    assert.equal(tok.decode([tok.vocabSize - 1]).length >= 0, true);
  }
});

test('corrupt or missing tokenizer files throw FormatError naming the file', () => {
  const bin = readFileSync(TOK512);
  const write = (name: string, bytes: Uint8Array | string) => {
    const p = join(tmp, name);
    writeFileSync(p, bytes);
    return p;
  };
  const isFormat = (code: string, file?: string) => (e: unknown) => e instanceof FormatError && e.code === code && (file === undefined || e.message.includes(file));
  // truncated inside a piece, inside a score/length header, and before the first token's header ends
  for (const cut of [bin.length - 3, bin.length - 300, 6]) {
    const p = write(`trunc-${cut}.bin`, bin.subarray(0, cut));
    assert.throws(() => loadTokenizer(p), isFormat('truncated', p), `cut at ${cut}`);
  }
  const negative = Buffer.from(bin);
  negative.writeInt32LE(-5, 4 + 4); // first token's length
  assert.throws(() => loadTokenizer(write('negative.bin', negative)), isFormat('bad_header'));
  const badMax = Buffer.from(bin);
  badMax.writeInt32LE(0, 0);
  assert.throws(() => loadTokenizer(write('badmax.bin', badMax)), isFormat('bad_header'));
  assert.throws(() => loadTokenizer(write('tiny.bin', bin.subarray(0, 2))), isFormat('truncated'));

  const badJson = write('bad.json', '{"model": {"type": "BPE", "vocab": {');
  assert.throws(() => loadTokenizer(badJson), isFormat('bad_header', badJson));
  assert.throws(() => loadTokenizer(write('nomodel.json', '{"added_tokens": []}')), isFormat('bad_header'));
  const dir = join(tmp, 'bad-config');
  mkdirSync(dir);
  writeFileSync(join(dir, 'tokenizer.json'), readFileSync(fixture('gpt2', 'tokenizer.json')));
  writeFileSync(join(dir, 'tokenizer_config.json'), '{ not json');
  assert.throws(() => loadTokenizer(dir), isFormat('bad_header', 'tokenizer_config.json'));
  assert.throws(() => loadTokenizer(join(tmp, 'does-not-exist')), isFormat('not_found'));
  assert.throws(() => loadTokenizer(tmp), isFormat('not_found'), 'a directory without tokenizer.json or tokenizer.bin');
});

test('GGUF metadata without a usable tokenizer throws ConfigError naming the key and value', () => {
  const withModel = (model: unknown, extra: [string, unknown][] = []) =>
    new Map<string, unknown>([...llamaGgufMeta, ['tokenizer.ggml.model', model], ...extra]);
  const isConfig = (code: string, ...words: string[]) => (e: unknown) => e instanceof ConfigError && e.code === code && words.every((w) => e.message.includes(w));
  assert.throws(() => tokenizerFromGgufMetadata(withModel('bert')), isConfig('unsupported', "'bert'".replaceAll("'", '"'), 'llama', 'gpt2'));
  assert.throws(() => tokenizerFromGgufMetadata(withModel('gpt2', [['tokenizer.ggml.merges', []], ['tokenizer.ggml.pre', 'qwen2']])), isConfig('unsupported', 'qwen2'));
  const noModel = new Map(llamaGgufMeta);
  noModel.delete('tokenizer.ggml.model');
  assert.throws(() => tokenizerFromGgufMetadata(noModel), isConfig('missing_field', 'tokenizer.ggml.model'));
  const noScores = new Map(llamaGgufMeta);
  noScores.delete('tokenizer.ggml.scores');
  assert.throws(() => tokenizerFromGgufMetadata(noScores), isConfig('missing_field', 'tokenizer.ggml.scores'));
  assert.throws(() => tokenizerFromGgufMetadata(withModel('llama', [['tokenizer.ggml.scores', [0, 1]]])), isConfig('bad_value', 'tokenizer.ggml.scores', '2'));
  assert.throws(() => tokenizerFromGgufMetadata(withModel('llama', [['tokenizer.ggml.bos_token_id', 32000]])), isConfig('bad_value', 'bos_token_id'));
});
