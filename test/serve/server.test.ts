// The OpenAI-compatible server on the bundled stories260K, listening on a loopback port 0,
// over infer's SerialEngine (and BatchEngine for concurrency): answers, streaming, chat
// templates, validation, limits, back-pressure, client disconnects and draining.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Template } from '@huggingface/jinja';
import type { Tokenizer } from '../../src/formats/tokenizers/index.js';
import type { Engine, RequestHandle, RequestOptions } from '../../src/infer/types.js';
import type { Decoder } from '../../src/models/decoder.js';
import { generateIds } from '../../src/models/generate.js';
import { BUNDLED_MODEL, loadModel, type LoadedModel } from '../../src/models/load.js';
import { BatchEngine } from '../../src/infer/engine.js';
import { SerialEngine } from '../../src/infer/serial-engine.js';
import { createServer, type RrtServer, type ServedModel, type ServerOptions } from '../../src/serve/server.js';

const m = loadModel(BUNDLED_MODEL);
const tok = m.tokenizer!;
const served: ServedModel = { name: 'stories260K', config: m.config, tokenizer: tok };

async function start(opts: { engine?: Engine; model?: ServedModel; server?: ServerOptions } = {}): Promise<{ url: string; server: RrtServer; engine: Engine }> {
  const engine = opts.engine ?? new SerialEngine(m.decoder, { tokenizer: tok });
  const server = createServer(engine, opts.model ?? served, opts.server);
  const addr = await server.listen(0, '127.0.0.1');
  return { url: `http://127.0.0.1:${addr.port}`, server, engine };
}

function post(url: string, body: unknown): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });
}

/** The `data:` payloads of an SSE body, in order. */
function sseData(text: string): string[] {
  assert.ok(text.endsWith('\n\n'), 'the event stream ends with a blank line');
  return text
    .split('\n\n')
    .filter((e) => e !== '')
    .map((e) => {
      assert.match(e, /^data: /, `every event is a data line: ${JSON.stringify(e)}`);
      return e.slice('data: '.length);
    });
}

/** What plain single-stream decoding writes after the prompt (the server's reference). */
function greedyText(prompt: number[], maxTokens: number, decoder: Decoder = m.decoder, t: Tokenizer = tok): string {
  const d = t.streamDecoder({ skipSpecialTokens: true });
  for (const id of prompt) d.push(id);
  let s = '';
  for (const id of generateIds(decoder, prompt, { maxTokens })) s += d.push(id);
  return s + d.flush();
}

/** A decoder whose every forward pass takes at least `ms` longer (blocking, like real compute). */
function slowDecoder(ms: number): Decoder {
  const slow = Object.create(m.decoder) as Decoder;
  const cell = new Int32Array(new SharedArrayBuffer(4));
  slow.forward = (...args) => {
    Atomics.wait(cell, 0, 0, ms);
    return m.decoder.forward(...args);
  };
  return slow;
}

/** Records every handle the server submits. */
function spy(engine: Engine): { engine: Engine; handles: RequestHandle[] } {
  const handles: RequestHandle[] = [];
  return {
    handles,
    engine: {
      nLoops: engine.nLoops,
      earlyExitHandling: engine.earlyExitHandling,
      submit: (p, o) => {
        const h = engine.submit(p, o);
        handles.push(h);
        return h;
      },
      stats: () => engine.stats(),
      drain: () => engine.drain(),
    },
  };
}

async function waitFor(cond: () => boolean, ms = 3000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

const PROMPT = 'Once upon a time';

test('a greedy completion equals generateIds decoding of the same prompt, as text or as token ids', async () => {
  const { url, server } = await start();
  try {
    const ids = tok.encode(PROMPT, { addSpecialTokens: true });
    const want = greedyText(ids, 40);
    for (const prompt of [PROMPT, ids]) {
      const res = await post(`${url}/v1/completions`, { prompt, max_tokens: 40, temperature: 0, ignore_eos: false });
      assert.equal(res.status, 200);
      const body = await res.json();
      assert.equal(body.object, 'text_completion');
      assert.match(body.id, /^cmpl-/);
      assert.equal(body.model, 'stories260K');
      assert.equal(typeof body.created, 'number');
      assert.equal(body.choices.length, 1);
      assert.deepEqual({ ...body.choices[0], text: undefined }, { index: 0, text: undefined, finish_reason: 'length', logprobs: null });
      assert.equal(body.choices[0].text, want);
      assert.deepEqual(body.usage, { prompt_tokens: ids.length, completion_tokens: 40, total_tokens: ids.length + 40 });
      assert.deepEqual(body.rrt, { mean_loops: 1, exit_histogram: [40] });
    }
  } finally {
    await server.close();
  }
});

test('a streamed completion sends one SSE chunk per piece of text, a final chunk with finish_reason and usage, then [DONE]; the pieces join to the non-streamed text', async () => {
  const { url, server } = await start();
  try {
    const ids = tok.encode(PROMPT, { addSpecialTokens: true });
    const res = await post(`${url}/v1/completions`, { prompt: PROMPT, max_tokens: 30, temperature: 0, stream: true });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /^text\/event-stream/);
    const data = sseData(await res.text());
    assert.equal(data.at(-1), '[DONE]');
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
    assert.ok(chunks.length >= 10, `${chunks.length} chunks for 30 tokens`);
    for (const c of chunks.slice(0, -1)) assert.equal(c.choices[0].finish_reason, null);
    const last = chunks.at(-1);
    assert.equal(last.choices[0].finish_reason, 'length');
    assert.deepEqual(last.usage, { prompt_tokens: ids.length, completion_tokens: 30, total_tokens: ids.length + 30 });
    assert.equal(new Set(chunks.map((c) => c.id)).size, 1, 'every chunk carries the same id');
    assert.equal(chunks.map((c) => c.choices[0].text).join(''), greedyText(ids, 30));
  } finally {
    await server.close();
  }
});

test('over the batching engine, concurrent greedy requests (streamed and not) each equal generateIds decoding of their own prompt', async () => {
  const { url, server } = await start({ engine: new BatchEngine(m.decoder, { tokenizer: tok, maxBatch: 4, kvBudgetBytes: 16 * 2 ** 20 }) });
  try {
    const prompts = ['Once upon a time', 'The little dog', 'Lily and Tom went to the park', 'One day, a bird', 'The sun was'];
    const texts = await Promise.all(
      prompts.map(async (prompt, i) => {
        const res = await post(`${url}/v1/completions`, { prompt, max_tokens: 24, temperature: 0, stream: i % 2 === 0 });
        assert.equal(res.status, 200);
        if (i % 2 === 1) return (await res.json()).choices[0].text as string;
        const data = sseData(await res.text());
        return data.slice(0, -1).map((d) => JSON.parse(d).choices[0].text).join('');
      }),
    );
    assert.deepEqual(texts, prompts.map((p) => greedyText(tok.encode(p, { addSpecialTokens: true }), 24)));
  } finally {
    await server.close();
  }
});

test('a stop string ends the completion before it, streamed or not, with finish_reason stop', async () => {
  const { url, server } = await start();
  try {
    const full = greedyText(tok.encode(PROMPT, { addSpecialTokens: true }), 60);
    const stop = full.slice(40, 46); // spans token boundaries in general
    const want = full.slice(0, full.indexOf(stop));
    const plain = await (await post(`${url}/v1/completions`, { prompt: PROMPT, max_tokens: 60, temperature: 0, stop: [stop, 'zzzz'] })).json();
    assert.equal(plain.choices[0].text, want);
    assert.equal(plain.choices[0].finish_reason, 'stop');
    const data = sseData(await (await post(`${url}/v1/completions`, { prompt: PROMPT, max_tokens: 60, temperature: 0, stop, stream: true })).text());
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
    assert.equal(chunks.map((c) => c.choices[0].text).join(''), want);
    assert.equal(chunks.at(-1).choices[0].finish_reason, 'stop');
  } finally {
    await server.close();
  }
});

test('chat completions render the tokenizer chat template (with bos_token) and answer as greedy decoding of the rendered prompt would', async () => {
  const source = "{{ bos_token }}{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}";
  const withTemplate = Object.assign(Object.create(tok), { chatTemplate: source }) as Tokenizer;
  const { url, server } = await start({ model: { ...served, tokenizer: withTemplate } });
  try {
    const messages = [
      { role: 'system', content: 'Tell a story.' },
      { role: 'user', content: [{ type: 'text', text: 'A cat' }] },
    ];
    const rendered = new Template(source).render({ messages: [messages[0], { role: 'user', content: 'A cat' }], add_generation_prompt: true, bos_token: '<s>', eos_token: '</s>' });
    const ids = tok.encode(rendered, { addSpecialTokens: false });
    assert.equal(ids[0], tok.bosId, 'the rendered <s> encodes to BOS');
    const res = await post(`${url}/v1/chat/completions`, { model: 'stories260K', messages, max_tokens: 25, temperature: 0 });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-rrt-chat-template'), 'model');
    const body = await res.json();
    assert.equal(body.object, 'chat.completion');
    assert.match(body.id, /^chatcmpl-/);
    assert.equal(body.usage.prompt_tokens, ids.length);
    assert.deepEqual(body.choices[0].message, { role: 'assistant', content: greedyText(ids, 25) });

    const data = sseData(await (await post(`${url}/v1/chat/completions`, { messages, max_tokens: 25, temperature: 0, stream: true })).text());
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
    assert.equal(chunks[0].object, 'chat.completion.chunk');
    assert.equal(chunks[0].choices[0].delta.role, 'assistant');
    assert.equal(chunks.map((c) => c.choices[0].delta.content ?? '').join(''), body.choices[0].message.content);
    assert.deepEqual(chunks.at(-1).choices[0].delta, {});
  } finally {
    await server.close();
  }
});

test("chat completions read the chat template from a model directory's tokenizer_config.json", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rrt-serve-'));
  try {
    cpSync('fixtures/hf/gpt2', dir, { recursive: true });
    cpSync('fixtures/tokenizers/gpt2/tokenizer.json', join(dir, 'tokenizer.json'));
    // GPT-2's merges give ids < 512 (the fixture's vocabulary) for these strings
    const source = '{% for m in messages %}{{ m.role[0] }}:{{ m.content }}\n{% endfor %}A:';
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ chat_template: source }));
    const g: LoadedModel = loadModel(dir);
    assert.equal(g.tokenizer!.chatTemplate, source);
    const ids = g.tokenizer!.encode('u:he is in\nA:', { addSpecialTokens: false });
    assert.ok(ids.every((id) => id < g.config.vocabSize));
    const { url, server } = await start({ engine: new SerialEngine(g.decoder, { tokenizer: g.tokenizer }), model: { name: 'gpt2', config: g.config, tokenizer: g.tokenizer! } });
    try {
      const res = await post(`${url}/v1/chat/completions`, { messages: [{ role: 'user', content: 'he is in' }], max_tokens: 8, temperature: 0 });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('x-rrt-chat-template'), 'model');
      const body = await res.json();
      assert.equal(body.usage.prompt_tokens, ids.length);
      assert.equal(body.choices[0].message.content, greedyText(ids, 8, g.decoder, g.tokenizer!));
    } finally {
      await server.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a model without a chat template gets the documented fallback prompt and says so in a header', async () => {
  const { url, server } = await start();
  try {
    const res = await post(`${url}/v1/chat/completions`, { messages: [{ role: 'user', content: 'Hi' }], max_tokens: 5, temperature: 0 });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-rrt-chat-template'), 'fallback');
    const body = await res.json();
    assert.equal(body.usage.prompt_tokens, tok.encode('User: Hi\nAssistant:', { addSpecialTokens: true }).length);
  } finally {
    await server.close();
  }
});

test('/v1/models lists the model, /health answers ok, /metrics is Prometheus text with gauges, an exit histogram and request counts', async () => {
  const { url, server } = await start();
  try {
    const models = await (await fetch(`${url}/v1/models`)).json();
    assert.equal(models.object, 'list');
    assert.deepEqual(models.data.map((d: { id: string; object: string }) => [d.id, d.object]), [['stories260K', 'model']]);
    assert.deepEqual(await (await fetch(`${url}/health`)).json(), { status: 'ok', model: 'stories260K' });
    await post(`${url}/v1/completions`, { prompt: PROMPT, max_tokens: 7, temperature: 0, ignore_eos: true });
    await post(`${url}/v1/completions`, { prompt: PROMPT, max_tokens: -1 });
    const res = await fetch(`${url}/metrics`);
    assert.match(res.headers.get('content-type')!, /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const samples = new Map<string, number>();
    for (const line of text.trimEnd().split('\n')) {
      if (line.startsWith('#')) {
        assert.match(line, /^# (HELP|TYPE) rrt_[a-z_]+ .+$/);
        continue;
      }
      const mm = /^(rrt_[a-z_]+(?:\{[a-z]+="[^"]*"\})?) (-?[0-9.e+-]+)$/.exec(line);
      assert.ok(mm, `a sample line: ${line}`);
      samples.set(mm[1], Number(mm[2]));
    }
    for (const g of ['rrt_queue_depth', 'rrt_active_requests', 'rrt_batch_occupancy', 'rrt_tokens_per_second', 'rrt_max_batch']) assert.ok(samples.has(g), g);
    assert.match(text, /# TYPE rrt_exit_loop histogram/);
    assert.equal(samples.get('rrt_exit_loop_bucket{le="1"}'), 7);
    assert.equal(samples.get('rrt_exit_loop_bucket{le="+Inf"}'), 7);
    assert.equal(samples.get('rrt_exit_loop_count'), 7);
    assert.equal(samples.get('rrt_requests_total{status="200"}'), 3); // models, health, one completion
    assert.equal(samples.get('rrt_requests_total{status="400"}'), 1);
    assert.ok(samples.get('rrt_tokens_per_second')! > 0);
    const busy = samples.get('rrt_engine_busy_seconds_total')!;
    assert.ok(busy > 0 && busy < 60, `the engine's busy seconds: ${busy}`);
    assert.match(text, /# TYPE rrt_engine_busy_seconds_total counter/);
  } finally {
    await server.close();
  }
});

test('GET /v1/models/{id} answers the model object for the served id (as the openai SDK\'s models.retrieve asks), 404 model_not_found for others', async () => {
  const { url, server } = await start();
  try {
    const listed = (await (await fetch(`${url}/v1/models`)).json()).data[0];
    const res = await fetch(`${url}/v1/models/stories260K`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), listed);
    assert.deepEqual(Object.keys(listed).sort(), ['created', 'id', 'object', 'owned_by']);
    for (const id of ['gpt-4', 'stories260K%2Fx', '']) {
      const missing = await fetch(`${url}/v1/models/${id}`);
      assert.equal(missing.status, 404, id);
      const e = (await missing.json()).error;
      assert.equal(e.type, 'invalid_request_error');
      assert.equal(e.param, 'model');
      assert.equal(e.code, 'model_not_found');
      assert.match(e.message, /does not exist/);
    }
    const post405 = await post(`${url}/v1/models/stories260K`, {});
    assert.equal(post405.status, 405);
  } finally {
    await server.close();
  }
});

test('prompt + max_tokens past the context gets 400 context_length_exceeded; a default max_tokens is capped to the room left; usage never exceeds the context', async () => {
  const { url, server } = await start();
  try {
    const n = m.config.maxPositions;
    const prompt = new Array(n - 7).fill(5);
    for (const key of ['max_tokens', 'max_completion_tokens']) {
      const over = await post(`${url}/v1/completions`, { prompt, [key]: 8 });
      assert.equal(over.status, 400);
      const e = (await over.json()).error;
      assert.deepEqual([e.code, e.param, e.type], ['context_length_exceeded', key, 'invalid_request_error']);
      assert.match(e.message, new RegExp(`context is ${n} tokens.*${n - 7} in the prompt.*8 for the completion`));
    }
    const fits = await (await post(`${url}/v1/completions`, { prompt, max_tokens: 7, ignore_eos: true })).json();
    assert.deepEqual(fits.usage, { prompt_tokens: n - 7, completion_tokens: 7, total_tokens: n });
    // the server's default of 16 does not fit: it is capped, not refused
    const capped = await (await post(`${url}/v1/completions`, { prompt, ignore_eos: true })).json();
    assert.deepEqual(capped.usage, { prompt_tokens: n - 7, completion_tokens: 7, total_tokens: n });
    assert.equal(capped.choices[0].finish_reason, 'length');
    // max_tokens: null is no max_tokens (chat: the rest of the context), not 0
    const chat = await (await post(`${url}/v1/chat/completions`, { messages: [{ role: 'user', content: 'Hi' }], max_tokens: null, temperature: 0 })).json();
    assert.ok(chat.usage.completion_tokens > 0 && chat.usage.total_tokens <= n, JSON.stringify(chat.usage));
  } finally {
    await server.close();
  }
});

test('invalid requests get 400 in OpenAI error shape naming the parameter', async () => {
  const { url, server } = await start();
  try {
    const cases: [string, unknown, string | null][] = [
      ['/v1/completions', { prompt: PROMPT, max_tokens: -1 }, 'max_tokens'],
      ['/v1/completions', { prompt: PROMPT, max_tokens: 2.5 }, 'max_tokens'],
      ['/v1/completions', { prompt: PROMPT, temperature: -0.1 }, 'temperature'],
      ['/v1/completions', { prompt: PROMPT, temperature: '1' }, 'temperature'],
      ['/v1/completions', { prompt: PROMPT, top_p: 0 }, 'top_p'],
      ['/v1/completions', { prompt: PROMPT, top_p: 1.5 }, 'top_p'],
      ['/v1/completions', { prompt: PROMPT, top_k: -3 }, 'top_k'],
      ['/v1/completions', { prompt: PROMPT, n: 2 }, 'n'],
      ['/v1/completions', { prompt: PROMPT, stream: 'yes' }, 'stream'],
      ['/v1/completions', { prompt: PROMPT, stop: 7 }, 'stop'],
      ['/v1/completions', { prompt: PROMPT, stop: ['a', ''] }, 'stop'],
      ['/v1/completions', { prompt: PROMPT, model: 'gpt-4' }, 'model'],
      ['/v1/completions', { prompt: PROMPT, early_exit: { threshold: 0.9, measure: 'vibes' } }, 'early_exit.measure'],
      ['/v1/completions', { prompt: PROMPT, early_exit: { threshold: 0.9, min_loops: 0 } }, 'early_exit.min_loops'],
      ['/v1/completions', { max_tokens: 3 }, 'prompt'],
      ['/v1/completions', { prompt: { text: 'x' } }, 'prompt'],
      ['/v1/completions', { prompt: [1, 2, 99999] }, 'prompt'],
      ['/v1/completions', { prompt: [1, -2] }, 'prompt'],
      ['/v1/completions', { prompt: new Array(m.config.maxPositions).fill(5) }, 'prompt'],
      ['/v1/completions', { prompt: 'once '.repeat(600) }, 'prompt'],
      ['/v1/chat/completions', { messages: [] }, 'messages'],
      ['/v1/chat/completions', { messages: [{ role: 'wizard', content: 'x' }] }, 'messages[0].role'],
      ['/v1/chat/completions', { messages: [{ role: 'user', content: 5 }] }, 'messages[0].content'],
      ['/v1/completions', '{"prompt": "x",', null],
      ['/v1/completions', '[1, 2]', null],
    ];
    for (const [path, body, param] of cases) {
      const res = await post(`${url}${path}`, body);
      const label = JSON.stringify(body).slice(0, 80);
      assert.equal(res.status, 400, label);
      const e = await res.json();
      assert.equal(e.error.type, 'invalid_request_error', label);
      assert.equal(e.error.param, param, label);
      assert.equal(typeof e.error.message, 'string');
      assert.ok('code' in e.error);
    }
    const long = await (await post(`${url}/v1/completions`, { prompt: 'once '.repeat(600) })).json();
    assert.equal(long.error.code, 'context_length_exceeded');
    // the server still answers after all of that, and takes a well-formed early_exit extension
    const ok = await post(`${url}/v1/completions`, { prompt: PROMPT, max_tokens: 2, early_exit: { threshold: 0.9, measure: 'maxProb', min_loops: 1 } });
    assert.equal(ok.status, 200);
    assert.deepEqual((await ok.json()).rrt, { mean_loops: 1, exit_histogram: [2] });
  } finally {
    await server.close();
  }
});

test('early_exit fields are checked against their ranges and the model\'s loop count, in the request\'s own names; numbers past a double say so', async () => {
  const { url, server } = await start();
  try {
    const cases: [unknown, string, RegExp][] = [
      [{ early_exit: { threshold: 1.5, measure: 'maxProb' } }, 'early_exit.threshold', /in \[0, 1\]/],
      [{ early_exit: { threshold: -0.1, measure: 'margin' } }, 'early_exit.threshold', /in \[0, 1\]/],
      [{ early_exit: { threshold: -1, measure: 'kl' } }, 'early_exit.threshold', /≥ 0/],
      [{ early_exit: { threshold: 0.5, min_loops: 2 } }, 'early_exit.min_loops', /'early_exit\.min_loops' must be an integer in \[1, 1\]/],
      [{ early_exit: { measure: 'stable', threshold: 0, stable_loops: 2 } }, 'early_exit.stable_loops', /'early_exit\.stable_loops' must be an integer in \[1, 1\]/],
    ];
    for (const [extra, param, message] of cases) {
      const res = await post(`${url}/v1/completions`, { prompt: PROMPT, max_tokens: 2, ...(extra as object) });
      const label = JSON.stringify(extra);
      assert.equal(res.status, 400, label);
      const e = (await res.json()).error;
      assert.equal(e.param, param, label);
      assert.match(e.message, message, label);
      assert.doesNotMatch(e.message, /minLoops|stableLoops/, label);
    }
    for (const [raw, param] of [
      ['{"prompt": "x", "max_tokens": 1e400}', 'max_tokens'],
      ['{"prompt": "x", "temperature": -1e400}', 'temperature'],
      ['{"prompt": "x", "early_exit": {"threshold": 1e400}}', 'early_exit.threshold'],
    ]) {
      const e = (await (await post(`${url}/v1/completions`, raw)).json()).error;
      assert.equal(e.param, param, raw);
      assert.match(e.message, /not finite/, raw);
      assert.doesNotMatch(e.message, /null/, raw);
    }
  } finally {
    await server.close();
  }
});

test('seeds: one seed gives one text; seeds past the generator\'s 32 bits are refused rather than wrapped', async () => {
  const { url, server } = await start();
  try {
    const text = async (seed: number) => (await (await post(`${url}/v1/completions`, { prompt: PROMPT, max_tokens: 24, seed, temperature: 1 })).json()).choices[0].text;
    assert.equal(await text(1), await text(1));
    assert.notEqual(await text(1), await text(2));
    for (const seed of [4294967297, -1, 2 ** 53]) {
      const res = await post(`${url}/v1/completions`, { prompt: PROMPT, max_tokens: 2, seed });
      assert.equal(res.status, 400, String(seed));
      const e = (await res.json()).error;
      assert.equal(e.param, 'seed');
      assert.match(e.message, /\[0, 4294967295\]/);
    }
    assert.equal((await post(`${url}/v1/completions`, { prompt: PROMPT, max_tokens: 2, seed: 4294967295 })).status, 200);
  } finally {
    await server.close();
  }
});

test('HEAD on GET routes answers as GET without a body; a 20 KB header gets 431', async () => {
  const { url, server } = await start();
  try {
    for (const path of ['/health', '/v1/models', '/v1/models/stories260K', '/metrics']) {
      const get = await fetch(`${url}${path}`);
      const head = await fetch(`${url}${path}`, { method: 'HEAD' });
      assert.equal(head.status, 200, path);
      assert.equal(head.headers.get('content-type'), get.headers.get('content-type'), path);
      assert.equal(await head.text(), '', path);
    }
    assert.equal((await fetch(`${url}/v1/models/nope`, { method: 'HEAD' })).status, 404);
    const r405 = await fetch(`${url}/v1/completions`, { method: 'HEAD' });
    assert.equal(r405.status, 405);
    assert.equal(r405.headers.get('allow'), 'POST');
    assert.equal((await post(`${url}/health`, {})).headers.get('allow'), 'GET, HEAD');
    const big = await fetch(`${url}/health`, { headers: { 'X-Big': 'a'.repeat(20_000) } });
    assert.equal(big.status, 431);
  } finally {
    await server.close();
  }
});

/** Sends headers declaring `declared` body bytes, then `chunks` one by one; resolves with the status. */
function rawPost(url: string, declared: number | null, chunks: Buffer[]): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { 'Content-Type': 'application/json' };
    if (declared !== null) headers['Content-Length'] = declared;
    const req = httpRequest(`${url}/v1/completions`, { method: 'POST', headers }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
      res.on('error', reject);
    });
    req.on('error', () => {}); // the server may close while we still write
    req.flushHeaders();
    let i = 0;
    const next = () => {
      if (i < chunks.length) req.write(chunks[i++], () => setTimeout(next, 1));
      else if (declared === null) req.end();
    };
    next();
  });
}

/**
 * A client on a raw connection that writes `head`, then `drip` one byte every `everyMs`; it stops
 * dripping when the server answers or closes, and gives up after `giveUpMs`. Resolves with what the
 * server sent and after how many milliseconds the connection closed.
 */
function slowClient(url: string, head: string, drip: string, everyMs = 50, giveUpMs = 5000): { done: Promise<{ response: string; ms: number }>; started: Promise<void> } {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  const t0 = Date.now();
  let response = '';
  let i = 0;
  const dripper = setInterval(() => {
    if (response === '' && i < drip.length) socket.write(drip[i++]);
  }, everyMs);
  const giveUp = setTimeout(() => socket.destroy(), giveUpMs);
  socket.on('data', (c) => (response += c));
  socket.on('error', () => {}); // a write after the server closed
  const started = new Promise<void>((resolve) => socket.on('connect', () => socket.write(head, () => resolve())));
  const done = new Promise<{ response: string; ms: number }>((resolve) =>
    socket.on('close', () => {
      clearInterval(dripper);
      clearTimeout(giveUp);
      resolve({ response, ms: Date.now() - t0 });
    }),
  );
  return { done, started };
}

const SLOW_BODY_HEAD = 'POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n';

test('headers that do not arrive within the header timeout get 408 and the connection closes', async () => {
  const { url, server } = await start({ server: { headerTimeoutS: 0.3 } });
  try {
    const { done } = slowClient(url, 'POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n', 'X-Slow: ' + 'a'.repeat(100));
    const { response, ms } = await done;
    assert.match(response, /^HTTP\/1\.1 408 /);
    assert.ok(ms < 3000, `closed after ${ms} ms`);
  } finally {
    await server.close();
  }
});

test('a body that does not arrive within the body timeout gets 408 (body_timeout) and the connection closes; an answer may take longer', async () => {
  const { url, server } = await start({ engine: new SerialEngine(slowDecoder(10), { tokenizer: tok }), server: { headerTimeoutS: 0.3, bodyTimeoutS: 0.3 } });
  try {
    const { done } = slowClient(url, SLOW_BODY_HEAD, '{"prompt": "' + 'a'.repeat(180));
    const { response, ms } = await done;
    assert.match(response, /^HTTP\/1\.1 408 /);
    assert.equal(JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4)).error.code, 'body_timeout');
    assert.ok(ms < 3000, `closed after ${ms} ms`);
    // the timeouts bound receiving the request, not generating the answer (~0.8 s here)
    const res = await post(`${url}/v1/completions`, { prompt: PROMPT, max_tokens: 80, ignore_eos: true });
    assert.equal(res.status, 200);
    assert.equal((await res.json()).usage.completion_tokens, 80);
  } finally {
    await server.close();
  }
});

test('close() ends requests whose body is still arriving: they get 503 and the drain does not wait for them', async () => {
  const { url, server } = await start();
  const { done, started } = slowClient(url, SLOW_BODY_HEAD, '{"prompt": "' + 'a'.repeat(180));
  await started;
  await new Promise((r) => setTimeout(r, 200)); // a few body bytes in: the request is being received
  const t0 = Date.now();
  const closed = await Promise.race([server.close().then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 2000))]);
  assert.ok(closed, 'close() resolved within 2 s');
  assert.ok(Date.now() - t0 < 2000);
  const { response } = await done;
  assert.match(response, /^HTTP\/1\.1 503 /);
  await server.close();
});

test('a body over the limit gets 413 without being read: by Content-Length, or counted while chunked', async () => {
  const { url, server } = await start({ server: { bodyLimit: 4096 } });
  try {
    // declares 2 MB and sends nothing: the answer cannot have waited for the body
    const declared = await rawPost(url, 2_000_000, []);
    assert.equal(declared.status, 413);
    assert.equal(JSON.parse(declared.body).error.code, 'body_too_large');
    const chunked = await rawPost(url, null, Array.from({ length: 20 }, () => Buffer.alloc(1024, 32)));
    assert.equal(chunked.status, 413);
    assert.equal((await post(`${url}/v1/completions`, { prompt: PROMPT, max_tokens: 2 })).status, 200);
  } finally {
    await server.close();
  }
});

test('unknown routes get 404 and wrong methods 405 with Allow, both as JSON errors', async () => {
  const { url, server } = await start();
  try {
    const r404 = await fetch(`${url}/v2/nothing`);
    assert.equal(r404.status, 404);
    assert.equal((await r404.json()).error.code, 'not_found');
    const r405 = await fetch(`${url}/v1/completions`);
    assert.equal(r405.status, 405);
    assert.equal(r405.headers.get('allow'), 'POST');
    assert.equal((await r405.json()).error.code, 'method_not_allowed');
    assert.equal((await post(`${url}/health`, {})).status, 405);
  } finally {
    await server.close();
  }
});

test('a full engine queue answers 429 with Retry-After; the accepted requests still complete', async () => {
  const { url, server } = await start({ engine: new SerialEngine(slowDecoder(3), { tokenizer: tok, maxQueue: 1 }), server: { retryAfterS: 2 } });
  try {
    const results = await Promise.all(Array.from({ length: 6 }, () => post(`${url}/v1/completions`, { prompt: PROMPT, max_tokens: 20, ignore_eos: true })));
    const busy = results.filter((r) => r.status === 429);
    const ok = results.filter((r) => r.status === 200);
    assert.ok(busy.length >= 4, `${busy.length} of 6 got 429 (one runs, one waits)`);
    assert.equal(ok.length + busy.length, 6);
    for (const r of busy) {
      assert.equal(r.headers.get('retry-after'), '2');
      const e = await r.json();
      assert.equal(e.error.code, 'queue_full');
    }
    for (const r of ok) assert.equal((await r.json()).usage.completion_tokens, 20);
  } finally {
    await server.close();
  }
});

test('the queue limit counts only requests waiting beyond the free slots: --max-queue 0 serves a lone request, a burst within slots + queue gets no 429', async () => {
  const lone = await start({ engine: new BatchEngine(m.decoder, { tokenizer: tok, maxBatch: 4, maxQueue: 0 }) });
  try {
    assert.equal((await post(`${lone.url}/v1/completions`, { prompt: PROMPT, max_tokens: 4 })).status, 200);
  } finally {
    await lone.server.close();
  }
  // the engine takes no step until all 10 have been submitted: none has a slot yet
  const batch = new BatchEngine(m.decoder, { tokenizer: tok, maxBatch: 4, maxQueue: 8 });
  let submitted = 0;
  const step = batch.step.bind(batch);
  batch.step = () => (submitted >= 10 ? step() : undefined);
  const counting: Engine = Object.assign(Object.create(batch) as BatchEngine, {
    submit: (p: readonly number[], o: RequestOptions) => {
      submitted++;
      return batch.submit(p, o);
    },
  });
  const { url, server } = await start({ engine: counting });
  try {
    const results = await Promise.all(Array.from({ length: 10 }, () => post(`${url}/v1/completions`, { prompt: PROMPT, max_tokens: 20, ignore_eos: true })));
    assert.deepEqual(results.map((r) => r.status), new Array(10).fill(200));
  } finally {
    await server.close();
  }
});

test('a client that disconnects mid-stream gets its request cancelled and its slot freed', async () => {
  const s = spy(new SerialEngine(slowDecoder(2), { tokenizer: tok }));
  const { url, server, engine } = await start({ engine: s.engine });
  try {
    const ac = new AbortController();
    const res = await fetch(`${url}/v1/completions`, { method: 'POST', body: JSON.stringify({ prompt: PROMPT, max_tokens: 400, ignore_eos: true, stream: true }), signal: ac.signal });
    const reader = res.body!.getReader();
    await reader.read(); // the first event arrived: the request is decoding
    assert.equal(engine.stats().active, 1);
    ac.abort();
    const r = await s.handles[0].result;
    assert.equal(r.finishReason, 'cancelled');
    assert.ok(r.usage.completionTokens < 400, `${r.usage.completionTokens} tokens decoded before the cancel`);
    await waitFor(() => engine.stats().active === 0 && engine.stats().queueDepth === 0);
    // and a non-streaming request whose client leaves is cancelled too
    const ac2 = new AbortController();
    const pending = fetch(`${url}/v1/completions`, { method: 'POST', body: JSON.stringify({ prompt: PROMPT, max_tokens: 400, ignore_eos: true }), signal: ac2.signal }).catch(() => null);
    await waitFor(() => s.handles.length === 2 && engine.stats().active === 1);
    ac2.abort();
    await pending;
    assert.equal((await s.handles[1].result).finishReason, 'cancelled');
  } finally {
    await server.close();
  }
});

test('close() drains: the request in flight completes, new requests get 503, then close resolves', async () => {
  const { url, server, engine } = await start({ engine: new SerialEngine(slowDecoder(3), { tokenizer: tok }) });
  const inflight = post(`${url}/v1/completions`, { prompt: PROMPT, max_tokens: 60, ignore_eos: true });
  await waitFor(() => engine.stats().active === 1);
  let closed = false;
  const closing = server.close().then(() => (closed = true));
  const late = await post(`${url}/v1/completions`, { prompt: PROMPT, max_tokens: 2 });
  assert.equal(late.status, 503);
  assert.equal((await late.json()).error.code, 'shutting_down');
  assert.equal(closed, false, 'close waits for the request in flight');
  const res = await inflight;
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.usage.completion_tokens, 60);
  assert.equal(body.choices[0].finish_reason, 'length');
  await closing;
  await assert.rejects(fetch(`${url}/health`), 'the listener is closed');
});
