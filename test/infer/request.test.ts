// A request's token events against its result: text held back because it could begin a stop
// string reaches the stream however the request ends (EOS, cancel, max tokens), on both
// engines and through the server's SSE stream, so the streamed pieces concatenate to the text.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generateIds } from '../../src/models/generate.js';
import { BUNDLED_MODEL, loadModel } from '../../src/models/load.js';
import { BatchEngine } from '../../src/infer/engine.js';
import { SerialEngine } from '../../src/infer/serial-engine.js';
import type { Engine, RequestHandle, TokenEvent } from '../../src/infer/types.js';
import { createServer } from '../../src/serve/server.js';

const m = loadModel(BUNDLED_MODEL);
const tok = m.tokenizer!;
const prompt = tok.encode('Once upon a time');
const full = [...generateIds(m.decoder, prompt, { maxTokens: 40, eosIds: [] })];
/** texts[j]: the decoded continuation after tokens 0..j (the stream decoder primed with the prompt, as a request does). */
const texts: string[] = (() => {
  const d = tok.streamDecoder({ skipSpecialTokens: true });
  for (const id of prompt) d.push(id);
  d.flush();
  let s = '';
  return full.map((id) => (s += d.push(id)));
})();
// k: token k+1 first appears there (so it can serve as EOS) and tokens k-1 and k both add text
const k = full.findIndex((id, i) => i >= 3 && !full.slice(0, i).includes(id) && texts[i - 3].length < texts[i - 2].length && texts[i - 2].length < texts[i - 1].length) - 1;
// a stop string that begins with the last character of token k-1's text, runs through token k's
// text and never completes ('§' is not in the text), so text stays held back from token k-1 on
const a = texts[k - 1].length - 1;
const stop = texts[k].slice(a) + '§';

const ENGINES: Record<string, () => Engine> = {
  serial: () => new SerialEngine(m.decoder, { tokenizer: tok }),
  batch: () => new BatchEngine(m.decoder, { tokenizer: tok, maxBatch: 2 }),
};

async function collect(h: RequestHandle, onEvent?: (events: TokenEvent[]) => void): Promise<TokenEvent[]> {
  const events: TokenEvent[] = [];
  for await (const e of h.events()) {
    events.push(e);
    onEvent?.(events);
  }
  return events;
}

for (const [label, make] of Object.entries(ENGINES)) {
  test(`${label}: with a stop string pending, the streamed pieces concatenate to the result text when the request ends by EOS, cancel or max tokens`, async () => {
    assert.ok(k >= 2 && !texts.some((t) => t.includes(stop)), `setup: token ${k}, stop ${JSON.stringify(stop)}`);
    const engine = make();

    const eos = engine.submit(prompt, { maxTokens: 40, eosIds: [full[k + 1]], stop: [stop] });
    const eosEvents = await collect(eos);
    const e = await eos.result;
    assert.equal(e.finishReason, 'stop');
    assert.deepEqual(e.ids, full.slice(0, k + 1));
    assert.equal(e.text, texts[k], 'EOS: the held-back text is part of the result');
    assert.equal(eosEvents.map((x) => x.text).join(''), e.text, 'EOS: the stream carries the held-back text');
    assert.deepEqual(eosEvents.map((x) => x.id), e.ids, 'EOS: one event per token, in order');

    // cancelled once token k-1's event is in: token k-1's text (at least) is held back at that point
    const c = engine.submit(prompt, { maxTokens: 40, eosIds: [], stop: [stop] });
    const cEvents = await collect(c, (evs) => {
      if (evs.length === k) c.cancel();
    });
    const r = await c.result;
    assert.equal(r.finishReason, 'cancelled');
    assert.ok(r.ids.length >= k && r.ids.length < full.length, `cancelled after ${r.ids.length} tokens`);
    assert.equal(r.text, texts[r.ids.length - 1]);
    assert.ok(stop.startsWith(r.text.slice(a)) && r.text.length > a, 'the request ended with text held back');
    assert.equal(cEvents.map((x) => x.text).join(''), r.text, 'cancel: the stream carries the held-back text');
    assert.deepEqual(cEvents.map((x) => x.id), r.ids, 'cancel: one event per token, in order');

    const len = engine.submit(prompt, { maxTokens: k + 1, eosIds: [], stop: [stop] });
    const lenEvents = await collect(len);
    const l = await len.result;
    assert.equal(l.finishReason, 'length');
    assert.equal(l.text, texts[k]);
    assert.equal(lenEvents.map((x) => x.text).join(''), l.text, 'max tokens: the stream carries the held-back text');
  });
}

test('server: an SSE completion that ends by EOS with a stop string pending streams the same text as the plain response', async () => {
  const server = createServer(new SerialEngine(m.decoder, { tokenizer: tok }), { name: 'stories260K', config: m.config, tokenizer: tok });
  const url = `http://127.0.0.1:${(await server.listen(0, '127.0.0.1')).port}/v1/completions`;
  const post = async (body: object) => fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ prompt: 'Once upon a time', max_tokens: 400, temperature: 1, ...body }) });
  try {
    // a seed whose story ends with EOS
    let seed = 0, text = '';
    for (; seed < 20; seed++) {
      const j = await (await post({ seed })).json();
      if (j.choices[0].finish_reason === 'stop') {
        text = j.choices[0].text;
        break;
      }
    }
    assert.ok(text.length >= 2, `setup: no seed below 20 ends with EOS (got ${JSON.stringify(text)})`);
    const held = text.slice(-2) + '§';
    const plain = await (await post({ seed, stop: [held] })).json();
    assert.equal(plain.choices[0].text, text);
    const res = await post({ seed, stop: [held], stream: true });
    const chunks = (await res.text()).split('\n\n').filter((s) => s.startsWith('data: {')).map((s) => JSON.parse(s.slice(6)));
    assert.equal(chunks.at(-1).choices[0].finish_reason, 'stop');
    assert.equal(chunks.map((c) => c.choices[0].text).join(''), text, 'the SSE chunks carry the held-back text');
  } finally {
    await server.close();
  }
});
