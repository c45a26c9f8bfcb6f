// An OpenAI-compatible HTTP server over any Engine (infer/types.ts), on node:http.
// Routes: POST /v1/completions, POST /v1/chat/completions (SSE with `stream: true`),
// GET /v1/models, GET /v1/models/{id}, GET /health, GET /metrics (Prometheus text). Errors use OpenAI's shape
// { error: { message, type, param, code } }. Chat prompts come from the tokenizer's Jinja
// chat template; a model without one gets the fallback "System: …\nUser: …\nAssistant:" and
// the response header `X-Rrt-Chat-Template: fallback` (else `model`). Extensions: top_k,
// ignore_eos, early_exit {threshold, measure, min_loops, stable_loops}, and an `rrt` object in
// every response with exit statistics. Headers and bodies that arrive too slowly get 408.
// close() drains: requests still being received and new ones get 503, the ones in flight
// finish, then the listener closes.
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { Template } from '@huggingface/jinja';
import { InputError } from '../errors.js';
import type { Tokenizer } from '../formats/tokenizers/index.js';
import type { EarlyExitOptions, Engine, RequestHandle, RequestOptions, RequestResult } from '../infer/types.js';
import type { ModelConfig } from '../models/config.js';

/** What the server needs of a loaded model. */
export interface ServedModel {
  /** the id reported by /v1/models and checked against a request's `model` */
  name: string;
  config: ModelConfig;
  tokenizer: Tokenizer;
}

export interface ServerOptions {
  /** request bodies above this many bytes get 413. @default 1_000_000 */
  bodyLimit?: number;
  /** seconds a request's headers may take to arrive; then 408 and the connection closes. @default 10 */
  headerTimeoutS?: number;
  /** seconds a request's body may take to arrive after its headers; then 408 and the connection closes. @default 30 */
  bodyTimeoutS?: number;
  /** seconds in the Retry-After header of a 429. @default 1 */
  retryAfterS?: number;
  /** max_tokens when a request gives none, capped to the room its prompt leaves in the context. @default 16 (completions), the rest of the context (chat) */
  defaultMaxTokens?: number;
}

export interface RrtServer {
  listen(port: number, host?: string): Promise<AddressInfo>;
  /** stops taking requests (503 while draining), waits for the ones in flight, closes the listener */
  close(): Promise<void>;
}

const MEASURES = ['maxProb', 'margin', 'kl', 'stable'] as const;

/** A request that cannot be served as sent; becomes a 4xx/5xx in OpenAI's error shape. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
    readonly type = status === 429 ? 'rate_limit_error' : status >= 500 ? 'server_error' : 'invalid_request_error',
  ) {
    super(message);
  }
}

/** max_tokens (or max_completion_tokens) as the request gave it, and which of the two */
interface AskedTokens {
  value: number;
  param: string;
}

interface ParsedOptions {
  opts: RequestOptions;
  stream: boolean;
  /** undefined: the server picks (capped to the room the prompt leaves) */
  asked: AskedTokens | undefined;
}

interface Parsed extends ParsedOptions {
  prompt: number[];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function bad(param: string, message: string, code: string | null = 'invalid_value'): HttpError {
  return new HttpError(400, message, param, code);
}

function shuttingDown(): HttpError {
  return new HttpError(503, 'the server is shutting down', null, 'shutting_down');
}

interface BodyLimits {
  bytes: number;
  timeoutMs: number;
  /** aborted when the server drains: a body still arriving is not waited for */
  stop: AbortSignal;
}

/**
 * Reads the body. Stops reading and throws 413 past `bytes`, 408 past `timeoutMs`, 503 when
 * `stop` aborts; the caller's error answer then closes the connection.
 */
function readBody(req: IncomingMessage, limits: BodyLimits): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limits.bytes) return Promise.reject(new HttpError(413, `request body of ${declared} bytes exceeds the limit of ${limits.bytes} bytes`, null, 'body_too_large'));
  if (limits.stop.aborted) return Promise.reject(shuttingDown());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const settle = () => {
      clearTimeout(timer);
      limits.stop.removeEventListener('abort', onStop);
      req.off('data', onData);
    };
    const fail = (e: HttpError) => {
      settle();
      req.pause();
      reject(e);
    };
    const timer = setTimeout(() => fail(new HttpError(408, `the request body did not arrive within ${limits.timeoutMs / 1000} s`, null, 'body_timeout')), limits.timeoutMs);
    const onStop = () => fail(shuttingDown());
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > limits.bytes) return fail(new HttpError(413, `request body exceeds the limit of ${limits.bytes} bytes`, null, 'body_too_large'));
      chunks.push(c);
    };
    limits.stop.addEventListener('abort', onStop);
    req.on('data', onData);
    req.on('end', () => {
      settle();
      resolve(Buffer.concat(chunks));
    });
    req.on('error', (e) => {
      settle();
      reject(e);
    });
    // a client gone mid-body: settle, so nothing waits on it forever
    req.on('close', () => {
      if (!req.complete) fail(new HttpError(400, 'the client closed the connection before sending the whole body', null, 'incomplete_body'));
    });
  });
}

/** A rejected value as a message shows it: JSON, except numbers JSON cannot write (1e400 parses to Infinity). */
function shown(v: unknown): string {
  return typeof v === 'number' && !Number.isFinite(v) ? 'a number that is not finite (past the range of a double)' : JSON.stringify(v);
}

/** A number field named `param` in the request (`key` of `obj`); undefined when absent or null. */
function optNumber(obj: Record<string, unknown>, key: string, check: (n: number) => boolean, want: string, param = key): number | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || !check(v)) throw bad(param, `'${param}' must be ${want}, got ${shown(v)}`);
  return v;
}

/** The seed range the sampler's generator (32 bits of state) can use whole. */
const MAX_SEED = 2 ** 32 - 1;

/** Early-exit thresholds by measure: probabilities for maxProb and margin, a KL divergence (nats) for kl. */
const THRESHOLDS: Record<EarlyExitOptions['measure'], { check: (t: number) => boolean; want: string }> = {
  maxProb: { check: (t) => t >= 0 && t <= 1, want: 'a number in [0, 1]' },
  margin: { check: (t) => t >= 0 && t <= 1, want: 'a number in [0, 1]' },
  kl: { check: (t) => t >= 0, want: 'a number ≥ 0 (a KL divergence in nats)' },
  stable: { check: (t) => t >= 0 && t <= 1, want: 'a number in [0, 1] (the stable measure does not use it)' },
};

function parseEarlyExit(v: unknown, model: ServedModel, engine: Engine): EarlyExitOptions | null {
  if (v === undefined || v === null) return null;
  if (!isObject(v)) throw bad('early_exit', "'early_exit' must be an object {threshold, measure, min_loops, stable_loops}");
  if (engine.earlyExitHandling === 'refused') {
    const strategy = model.config.recursive?.plan.strategy ?? 'recursive';
    throw bad('early_exit', `'early_exit' is not supported for this model: its ${engine.nLoops} loops cannot be cut short (a ${strategy} model runs each layer's loops back to back); send the request without it`, 'unsupported');
  }
  const measure = v.measure ?? 'maxProb';
  if (typeof measure !== 'string' || !(MEASURES as readonly string[]).includes(measure)) throw bad('early_exit.measure', `'early_exit.measure' must be one of ${MEASURES.join(', ')}, got ${shown(measure)}`);
  const m = measure as EarlyExitOptions['measure'];
  const { check, want } = THRESHOLDS[m];
  const threshold = optNumber(v, 'threshold', check, want, 'early_exit.threshold');
  if (threshold === undefined && m !== 'stable') throw bad('early_exit.threshold', `'early_exit.threshold' is required by the ${m} measure`, 'missing_required_parameter');
  const e: EarlyExitOptions = { measure: m, threshold: threshold ?? 0 };
  // loop counts past the model's loops could never be met
  const loops = (key: string) => optNumber(v, key, (n) => Number.isInteger(n) && n >= 1 && n <= engine.nLoops, `an integer in [1, ${engine.nLoops}] (the model's loops)`, `early_exit.${key}`);
  const minLoops = loops('min_loops');
  const stableLoops = loops('stable_loops');
  if (minLoops !== undefined) e.minLoops = minLoops;
  if (stableLoops !== undefined) e.stableLoops = stableLoops;
  return e;
}

/** The sampling and stopping fields shared by both endpoints. */
function parseOptions(body: Record<string, unknown>, model: ServedModel, engine: Engine): ParsedOptions {
  if (body.model !== undefined && body.model !== null) {
    if (typeof body.model !== 'string') throw bad('model', "'model' must be a string");
    if (body.model !== model.name) throw new HttpError(400, `the model '${body.model}' does not exist; this server serves '${model.name}'`, 'model', 'model_not_found');
  }
  if (body.n !== undefined && body.n !== null && body.n !== 1) throw bad('n', `only n = 1 is supported, got ${JSON.stringify(body.n)}`);
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean') throw bad('stream', "'stream' must be a boolean");
  for (const key of ['logprobs', 'top_logprobs'])
    if (body[key] !== undefined && body[key] !== null && body[key] !== false && body[key] !== 0) throw bad(key, `'${key}' is not supported`, 'unsupported');
  const opts: RequestOptions = {
    temperature: optNumber(body, 'temperature', (n) => n >= 0, 'a number ≥ 0') ?? 1,
    topP: optNumber(body, 'top_p', (n) => n > 0 && n <= 1, 'a number in (0, 1]') ?? 1,
    topK: optNumber(body, 'top_k', (n) => Number.isInteger(n) && n >= 0, 'a non-negative integer') ?? 0,
    earlyExit: parseEarlyExit(body.early_exit, model, engine),
  };
  // a seed past the generator's 32 bits would wrap onto a smaller one and repeat its text
  const seed = optNumber(body, 'seed', (n) => Number.isInteger(n) && n >= 0 && n <= MAX_SEED, `an integer in [0, ${MAX_SEED}]`);
  if (seed !== undefined) opts.seed = seed;
  if (body.ignore_eos !== undefined && body.ignore_eos !== null) {
    if (typeof body.ignore_eos !== 'boolean') throw bad('ignore_eos', "'ignore_eos' must be a boolean");
    if (body.ignore_eos) opts.eosIds = [];
  }
  const stop = body.stop;
  if (stop !== undefined && stop !== null) {
    const list = typeof stop === 'string' ? [stop] : stop;
    if (!Array.isArray(list) || list.length > 4 || list.some((s) => typeof s !== 'string' || s === ''))
      throw bad('stop', "'stop' must be a non-empty string or an array of at most 4 non-empty strings");
    if (list.length > 0) opts.stop = list as string[];
  }
  return { opts, stream: body.stream === true, asked: parseMaxTokens(body) };
}

function parseMaxTokens(body: Record<string, unknown>): AskedTokens | undefined {
  for (const param of ['max_tokens', 'max_completion_tokens']) {
    const value = optNumber(body, param, (n) => Number.isInteger(n) && n >= 0, 'a non-negative integer');
    if (value !== undefined) return { value, param };
  }
  return undefined;
}

/**
 * The tokens a request may generate. Asked for past the context, the request is refused, as
 * OpenAI and vLLM do (400 context_length_exceeded); the server's own default is capped instead.
 */
function fitMaxTokens(promptTokens: number, asked: AskedTokens | undefined, fallback: number, cfg: ModelConfig): number {
  const room = cfg.maxPositions - promptTokens;
  if (asked === undefined) return Math.min(fallback, room);
  if (asked.value > room)
    throw new HttpError(
      400,
      `the model's context is ${cfg.maxPositions} tokens, but ${promptTokens + asked.value} were requested (${promptTokens} in the prompt, ${asked.value} for the completion); reduce the prompt or '${asked.param}'`,
      asked.param,
      'context_length_exceeded',
    );
  return asked.value;
}

function checkPrompt(ids: number[], cfg: ModelConfig, param: string): void {
  if (ids.length === 0) throw bad(param, 'the prompt is empty (and the tokenizer has no BOS token to start from)');
  if (ids.length >= cfg.maxPositions)
    throw new HttpError(400, `the prompt has ${ids.length} tokens; the model's context is ${cfg.maxPositions} (the prompt must leave room for at least one token)`, param, 'context_length_exceeded');
}

function parseCompletion(body: Record<string, unknown>, model: ServedModel, engine: Engine): Parsed {
  const options = parseOptions(body, model, engine);
  let p = body.prompt;
  if (Array.isArray(p) && p.length === 1 && typeof p[0] === 'string') p = p[0];
  let prompt: number[];
  if (typeof p === 'string') {
    const tok = model.tokenizer;
    prompt = p === '' ? (tok.bosId !== null ? [tok.bosId] : []) : tok.encode(p, { addSpecialTokens: true });
  } else if (Array.isArray(p) && p.every((x) => typeof x === 'number')) {
    const V = model.config.vocabSize;
    const badId = p.find((x) => !(Number.isInteger(x) && x >= 0 && x < V));
    if (badId !== undefined) throw bad('prompt', `prompt token id ${badId} is outside the vocabulary [0, ${V})`, 'token_out_of_range');
    prompt = p as number[];
  } else throw bad('prompt', "'prompt' must be a string or an array of token ids", p === undefined ? 'missing_required_parameter' : 'invalid_type');
  checkPrompt(prompt, model.config, 'prompt');
  return { prompt, ...options };
}

interface ChatMessage {
  role: string;
  content: string;
}

function parseMessages(v: unknown): ChatMessage[] {
  if (!Array.isArray(v) || v.length === 0) throw bad('messages', "'messages' must be a non-empty array", v === undefined ? 'missing_required_parameter' : 'invalid_type');
  return v.map((m, i) => {
    if (!isObject(m) || typeof m.role !== 'string' || !['system', 'developer', 'user', 'assistant', 'tool'].includes(m.role))
      throw bad(`messages[${i}].role`, `messages[${i}] must be an object with role system, developer, user, assistant or tool`);
    let content = m.content;
    // content parts: only text parts are understood
    if (Array.isArray(content)) {
      if (!content.every((c) => isObject(c) && c.type === 'text' && typeof c.text === 'string')) throw bad(`messages[${i}].content`, `messages[${i}].content parts must be {type: 'text', text}`);
      content = content.map((c) => (c as { text: string }).text).join('');
    }
    if (content === null || content === undefined) content = '';
    if (typeof content !== 'string') throw bad(`messages[${i}].content`, `messages[${i}].content must be a string or an array of text parts`);
    return { role: m.role, content };
  });
}

/** Renders the chat prompt; returns its ids and whether the model's own template was used. */
export function chatPrompt(model: ServedModel, messages: ChatMessage[], templates: Map<string, Template>): { ids: number[]; template: 'model' | 'fallback' } {
  const tok = model.tokenizer;
  const source = tok.chatTemplate;
  if (source === undefined) {
    const text = messages.map((m) => `${m.role[0].toUpperCase()}${m.role.slice(1)}: ${m.content}\n`).join('') + 'Assistant:';
    return { ids: tok.encode(text, { addSpecialTokens: true }), template: 'fallback' };
  }
  let t = templates.get(source);
  if (!t) {
    try {
      t = new Template(source);
    } catch (e) {
      throw new HttpError(500, `the model's chat template does not parse: ${(e as Error).message}`, null, 'bad_chat_template');
    }
    templates.set(source, t);
  }
  const special = (id: number | null) => (id === null ? '' : tok.decode([id]));
  let text: string;
  try {
    text = t.render({ messages, add_generation_prompt: true, bos_token: special(tok.bosId), eos_token: special(tok.eosId) });
  } catch (e) {
    // templates raise on conversations they refuse (e.g. roles out of order)
    throw bad('messages', `the chat template rejected the messages: ${(e as Error).message}`);
  }
  // the template writes the special tokens itself, as transformers' apply_chat_template assumes
  return { ids: tok.encode(text, { addSpecialTokens: false }), template: 'model' };
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const data = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data), ...headers });
  res.end(data);
}

function errorBody(e: HttpError) {
  return { error: { message: e.message, type: e.type, param: e.param, code: e.code } };
}

function rrtExtension(r: RequestResult) {
  return { mean_loops: r.exits.meanLoops, exit_histogram: r.exits.histogram };
}

function usage(r: RequestResult) {
  return { prompt_tokens: r.usage.promptTokens, completion_tokens: r.usage.completionTokens, total_tokens: r.usage.totalTokens };
}

/** The raw answer to a request node could not parse (it never reaches the handler). */
function clientErrorResponse(e: NodeJS.ErrnoException): string {
  const [status, reason, code] =
    e.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'Request Timeout', 'request_timeout']
    : e.code === 'HPE_HEADER_OVERFLOW' ? [431, 'Request Header Fields Too Large', 'headers_too_large']
    : [400, 'Bad Request', 'bad_request'];
  const body = JSON.stringify(errorBody(new HttpError(status, `${reason.toLowerCase()}: ${e.message}`, null, code)));
  return `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}

const ROUTES: Record<string, string> = {
  '/v1/completions': 'POST',
  '/v1/chat/completions': 'POST',
  '/v1/models': 'GET',
  '/v1/models/{id}': 'GET',
  '/health': 'GET',
  '/metrics': 'GET',
};

const MODEL_PATH = '/v1/models/';

/** The ROUTES key of a request path ('/v1/models/x' → '/v1/models/{id}'). */
function routeOf(path: string): string {
  return path.startsWith(MODEL_PATH) ? `${MODEL_PATH}{id}` : path;
}

/** The model id of a '/v1/models/{id}' path, percent-decoded where that is well-formed. */
function modelIdOf(path: string): string {
  const raw = path.slice(MODEL_PATH.length);
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

function seconds(v: number, name: string): number {
  if (!(Number.isFinite(v) && v > 0)) throw new InputError('bad_option', `${name} must be a positive number of seconds, got ${v}`);
  return v;
}

export function createServer(engine: Engine, model: ServedModel, opts: ServerOptions = {}): RrtServer {
  const bodyLimit = opts.bodyLimit ?? 1_000_000;
  const headerTimeoutMs = seconds(opts.headerTimeoutS ?? 10, 'headerTimeoutS') * 1000;
  const bodyTimeoutMs = seconds(opts.bodyTimeoutS ?? 30, 'bodyTimeoutS') * 1000;
  const stopReceiving = new AbortController();
  const retryAfter = String(opts.retryAfterS ?? 1);
  const templates = new Map<string, Template>();
  const created = Math.floor(Date.now() / 1000);
  const byStatus = new Map<number, number>();
  const tokenCounts = { prompt: 0, completion: 0 };
  const inFlight = new Set<Promise<void>>();
  let draining = false;
  let closing: Promise<void> | null = null;

  /** sockets whose request reached the handler and is not answered yet */
  const handling = new WeakSet<Socket>();

  const http = createHttpServer(
    {
      headersTimeout: headerTimeoutMs,
      // a backstop for bodies nobody reads (routes that answer without one); readBody times the rest
      requestTimeout: headerTimeoutMs + bodyTimeoutMs,
      // how often node checks those timeouts (its default, 30 s, would stretch a 10 s timeout to 40 s)
      connectionsCheckingInterval: Math.min(1000, headerTimeoutMs / 2),
    },
    onRequest,
  );
  http.on('clientError', (e: NodeJS.ErrnoException, socket: Socket) => {
    // a request being answered: a second answer on its connection would garble the first
    if (socket.writable && !handling.has(socket)) socket.end(clientErrorResponse(e));
    else socket.destroy();
  });

  function onRequest(req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket;
    handling.add(socket);
    const done = handle(req, res)
      .catch((e: unknown) => {
        const err = e instanceof HttpError ? e : new HttpError(500, `internal error: ${e instanceof Error ? e.message : String(e)}`, null, 'internal_error');
        if (!res.headersSent) {
          const headers: Record<string, string> = err.status === 429 ? { 'Retry-After': retryAfter } : {};
          // a body left unread (408, 413) or a server going away: do not keep the connection
          if (err.status === 408 || err.status === 413 || err.status === 503) headers.Connection = 'close';
          sendJson(res, err.status, errorBody(err), headers);
        } else res.destroy();
      })
      .finally(() => {
        byStatus.set(res.statusCode, (byStatus.get(res.statusCode) ?? 0) + 1);
        handling.delete(socket);
        inFlight.delete(done);
      });
    inFlight.add(done);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    const route = routeOf(path);
    const method = ROUTES[route];
    if (draining) throw shuttingDown();
    if (method === undefined) throw new HttpError(404, `no route ${path}`, null, 'not_found');
    // HEAD: a GET whose body node leaves out
    const allowed = method === 'GET' ? ['GET', 'HEAD'] : [method];
    if (!allowed.includes(req.method ?? '')) {
      res.setHeader('Allow', allowed.join(', '));
      throw new HttpError(405, `${path} takes ${allowed.join(' or ')}, not ${req.method}`, null, 'method_not_allowed');
    }
    if (method === 'GET') return answerGet(route, path, res);
    return complete(req, res, route === '/v1/chat/completions');
  }

  /** OpenAI's model object for the served model. */
  function modelObject() {
    return { id: model.name, object: 'model', created, owned_by: 'rrt' };
  }

  function answerGet(route: string, path: string, res: ServerResponse): void {
    if (route === '/health') return sendJson(res, 200, { status: 'ok', model: model.name });
    if (route === '/v1/models') return sendJson(res, 200, { object: 'list', data: [modelObject()] });
    if (route === '/v1/models/{id}') {
      const id = modelIdOf(path);
      if (id !== model.name) throw new HttpError(404, `the model '${id}' does not exist; this server serves '${model.name}'`, 'model', 'model_not_found');
      return sendJson(res, 200, modelObject());
    }
    // the remaining GET route: /metrics
    res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' });
    res.end(metrics());
  }

  /** POST /v1/completions and /v1/chat/completions: parse, submit, answer (whole or streamed). */
  async function complete(req: IncomingMessage, res: ServerResponse, chat: boolean): Promise<void> {
    const raw = await readBody(req, { bytes: bodyLimit, timeoutMs: bodyTimeoutMs, stop: stopReceiving.signal });
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch (e) {
      throw new HttpError(400, `the body is not valid JSON: ${(e as Error).message}`, null, 'invalid_json');
    }
    if (!isObject(body)) throw new HttpError(400, 'the body must be a JSON object', null, 'invalid_type');
    if (draining) throw shuttingDown();
    let parsed: Parsed;
    let template: 'model' | 'fallback' | null = null;
    if (chat) {
      const messages = parseMessages(body.messages);
      const options = parseOptions(body, model, engine);
      const p = chatPrompt(model, messages, templates);
      checkPrompt(p.ids, model.config, 'messages');
      parsed = { prompt: p.ids, ...options };
      template = p.template;
    } else parsed = parseCompletion(body, model, engine);
    // chat answers may run to the end of the context unless told otherwise
    const fallback = opts.defaultMaxTokens ?? (chat ? Infinity : 16);
    parsed.opts.maxTokens = fitMaxTokens(parsed.prompt.length, parsed.asked, fallback, model.config);

    let h: RequestHandle;
    try {
      h = engine.submit(parsed.prompt, parsed.opts);
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      if (code === 'busy' || code === 'engine_busy' || (e as Error).name === 'EngineBusyError') throw new HttpError(429, `the server is busy: ${(e as Error).message}`, null, 'queue_full');
      if (code === 'draining') throw shuttingDown();
      if (e instanceof InputError) throw new HttpError(400, e.message, null, e.code);
      throw e;
    }
    // a client gone before the answer is complete frees its slot
    res.on('close', () => {
      if (!res.writableFinished) h.cancel();
    });
    if (req.socket.destroyed) h.cancel();
    const id = `${chat ? 'chatcmpl' : 'cmpl'}-${randomBytes(12).toString('hex')}`;
    const headers: Record<string, string> = template ? { 'X-Rrt-Chat-Template': template } : {};
    const base = { id, created: Math.floor(Date.now() / 1000), model: model.name };
    if (parsed.stream) return stream(res, h, chat, base, headers);
    const r = await h.result;
    tokenCounts.prompt += r.usage.promptTokens;
    tokenCounts.completion += r.usage.completionTokens;
    if (r.finishReason === 'error') throw new HttpError(500, `generation failed: ${r.error ?? 'unknown error'}`, null, 'engine_error');
    if (res.destroyed) return;
    const finish = r.finishReason === 'cancelled' ? 'stop' : r.finishReason;
    const choice = chat ? { index: 0, message: { role: 'assistant', content: r.text }, finish_reason: finish, logprobs: null } : { index: 0, text: r.text, finish_reason: finish, logprobs: null };
    sendJson(res, 200, { ...base, object: chat ? 'chat.completion' : 'text_completion', choices: [choice], usage: usage(r), rrt: rrtExtension(r) }, headers);
  }

  async function stream(res: ServerResponse, h: RequestHandle, chat: boolean, base: object, headers: Record<string, string>): Promise<void> {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive', 'X-Accel-Buffering': 'no', ...headers });
    res.flushHeaders();
    const object = chat ? 'chat.completion.chunk' : 'text_completion';
    const send = async (data: unknown): Promise<void> => {
      if (res.destroyed) return;
      if (!res.write(`data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`)) {
        // slow reader: wait for the socket rather than buffer the whole answer
        await new Promise<void>((resolve) => {
          const go = () => {
            res.off('drain', go);
            res.off('close', go);
            resolve();
          };
          res.on('drain', go);
          res.on('close', go);
        });
      }
    };
    const chunk = (text: string | null, finish: string | null, first: boolean, extra: object = {}) => ({
      ...base,
      object,
      choices: [chat ? { index: 0, delta: text === null ? {} : first ? { role: 'assistant', content: text } : { content: text }, finish_reason: finish, logprobs: null } : { index: 0, text: text ?? '', finish_reason: finish, logprobs: null }],
      ...extra,
    });
    let first = true;
    if (chat) {
      await send(chunk('', null, true));
      first = false;
    }
    for await (const e of h.events()) {
      if (res.destroyed) break;
      if (e.text === '') continue;
      await send(chunk(e.text, null, first));
      first = false;
    }
    const r = await h.result;
    tokenCounts.prompt += r.usage.promptTokens;
    tokenCounts.completion += r.usage.completionTokens;
    if (res.destroyed) return;
    if (r.finishReason === 'error') await send({ error: { message: `generation failed: ${r.error ?? 'unknown error'}`, type: 'server_error', param: null, code: 'engine_error' } });
    else await send(chunk(null, r.finishReason === 'cancelled' ? 'stop' : r.finishReason, false, { usage: usage(r), rrt: rrtExtension(r) }));
    await send('[DONE]');
    res.end();
  }

  function metrics(): string {
    const s = engine.stats();
    const lines: string[] = [];
    const gauge = (name: string, help: string, v: number) => lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, `${name} ${v}`);
    gauge('rrt_queue_depth', 'requests waiting for a slot', s.queueDepth);
    gauge('rrt_active_requests', 'requests being decoded', s.active);
    gauge('rrt_max_batch', 'decode slots', s.maxBatch);
    gauge('rrt_batch_occupancy', 'active requests / decode slots', s.maxBatch > 0 ? s.active / s.maxBatch : 0);
    gauge('rrt_tokens_per_second', 'generated tokens per second over the last few seconds', s.tokensPerS);
    gauge('rrt_kv_bytes_used', 'KV cache bytes in use', s.kvBytesUsed);
    gauge('rrt_kv_bytes_budget', 'KV cache byte budget', s.kvBytesBudget);
    lines.push('# HELP rrt_engine_busy_seconds_total seconds the engine spent running steps', '# TYPE rrt_engine_busy_seconds_total counter', `rrt_engine_busy_seconds_total ${s.busySeconds}`);
    lines.push('# HELP rrt_exit_loop tokens by the loop after which they exited', '# TYPE rrt_exit_loop histogram');
    let cum = 0;
    let sum = 0;
    s.exitHistogram.forEach((n, i) => {
      cum += n;
      sum += n * (i + 1);
      lines.push(`rrt_exit_loop_bucket{le="${i + 1}"} ${cum}`);
    });
    lines.push(`rrt_exit_loop_bucket{le="+Inf"} ${cum}`, `rrt_exit_loop_sum ${sum}`, `rrt_exit_loop_count ${cum}`);
    lines.push('# HELP rrt_requests_total HTTP requests answered, by status', '# TYPE rrt_requests_total counter');
    for (const [status, n] of [...byStatus].sort((a, b) => a[0] - b[0])) lines.push(`rrt_requests_total{status="${status}"} ${n}`);
    lines.push('# HELP rrt_prompt_tokens_total prompt tokens of finished requests', '# TYPE rrt_prompt_tokens_total counter', `rrt_prompt_tokens_total ${tokenCounts.prompt}`);
    lines.push('# HELP rrt_completion_tokens_total generated tokens of finished requests', '# TYPE rrt_completion_tokens_total counter', `rrt_completion_tokens_total ${tokenCounts.completion}`);
    return lines.join('\n') + '\n';
  }

  return {
    listen(port, host = '127.0.0.1') {
      return new Promise((resolve, reject) => {
        http.once('error', reject);
        http.listen(port, host, () => {
          http.off('error', reject);
          resolve(http.address() as AddressInfo);
        });
      });
    },
    close() {
      closing ??= (async () => {
        draining = true;
        stopReceiving.abort();
        await engine.drain();
        while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
        await new Promise<void>((resolve) => {
          http.close(() => resolve());
          http.closeAllConnections();
        });
      })();
      return closing;
    },
  };
}
