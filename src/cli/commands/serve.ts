// rrt serve MODEL [--port P --host H --engine batched|serial --max-batch N --kv-budget BYTES
// --max-queue N --body-limit BYTES --header-timeout S --body-timeout S]: an OpenAI-compatible
// HTTP server (serve/server.ts).
// Prints "listening on http://HOST:PORT" on stdout once bound (--port 0 picks a free port);
// SIGTERM/SIGINT drain the requests in flight, close the listener and exit 0. Started by npm
// (npx, npm exec, npm run), the server also drains when its parent exits: npm passes a SIGTERM
// to the `sh -c` it runs the bin under, and that shell dies without passing it on.
import { basename } from 'node:path';
import type { Command } from 'commander';
import { InputError } from '../../errors.js';
import { BatchEngine } from '../../infer/engine.js';
import { SerialEngine } from '../../infer/serial-engine.js';
import type { Engine } from '../../infer/types.js';
import { BUNDLED_MODEL, loadModel, type LoadedModel } from '../../models/load.js';
import { createServer } from '../../serve/server.js';
import { choice, int, DTYPE_HELP, weightDtype, reportUnquantized } from '../options.js';
import type { WeightDType } from '../../models/weights.js';

interface ServeCliOptions {
  port: number;
  host: string;
  engine: 'serial' | 'batched';
  maxBatch?: number;
  kvBudget?: number;
  maxQueue: number;
  bodyLimit: number;
  headerTimeout: number;
  bodyTimeout: number;
  tokenizer?: string;
  dtype: WeightDType | 'auto';
}

function makeEngine(m: LoadedModel, o: ServeCliOptions): Engine {
  if (o.engine === 'serial') return new SerialEngine(m.decoder, { tokenizer: m.tokenizer, maxQueue: o.maxQueue });
  return new BatchEngine(m.decoder, { tokenizer: m.tokenizer, maxQueue: o.maxQueue, maxBatch: o.maxBatch, kvBudgetBytes: o.kvBudget, prefaultKv: true });
}

const HELP_AFTER = `
Stopping: SIGTERM or SIGINT drains the requests in flight, then the server exits 0. Under a
process manager (systemd, Docker, supervisord) start the server itself, not npx or npm run:
  exec node_modules/.bin/rrt serve MODEL ...     (in a start script: exec hands over the pid)
  ExecStart=/path/to/app/node_modules/.bin/rrt serve MODEL ...
npx and npm run put a shell between the signal and the server; started that way, rrt serve
drains and exits when that shell exits.

Context: prompt + max_tokens must fit the model's context; past it a request gets 400 with
code context_length_exceeded (as OpenAI and vLLM answer). Without max_tokens, completions get
16 tokens and chat completions the rest of the context, either capped to the room the prompt
leaves, so usage.total_tokens never exceeds the context.`;

/** npm sets npm_lifecycle_event for the scripts and bins it runs (npx, npm exec, npm run). */
function startedByNpm(): boolean {
  return process.env.npm_lifecycle_event !== undefined;
}

/** Calls `onGone` once this process's parent has exited (the process was re-parented). */
function watchParent(onGone: () => void): NodeJS.Timeout {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    onGone();
  }, 500);
  // the watch alone keeps nothing running
  timer.unref();
  return timer;
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('serve a model over an OpenAI-compatible HTTP API (/v1/completions, /v1/chat/completions, /metrics)')
    .argument('[model]', 'HF model directory, .gguf file or llama2.c .bin (default: the bundled stories260K)', BUNDLED_MODEL)
    .option('--port <p>', 'TCP port (0: any free port)', int(0, 65535), 8080)
    .option('--host <h>', 'interface to listen on', '127.0.0.1')
    .option('--engine <kind>', 'batched (continuous batching; depth-wise with early exit for recursive models) or serial (one request at a time)', choice(['serial', 'batched'] as const), 'batched')
    .option('--max-batch <n>', 'batched engine: sequences decoded together (default 8)', int(1))
    .option('--kv-budget <bytes>', 'batched engine: bytes of the paged KV cache pool (default 256 MiB)', int(1))
    .option('--max-queue <n>', 'requests that may wait while every slot is taken; more get 429', int(0), 64)
    .option('--body-limit <bytes>', 'largest request body; more gets 413', int(1), 1_000_000)
    .option('--header-timeout <s>', "seconds a request's headers may take to arrive; slower gets 408 and the connection closes", int(1), 10)
    .option('--body-timeout <s>', "seconds a request's body may take to arrive after its headers; slower gets 408 and the connection closes", int(1), 30)
    .option('--tokenizer <path>', 'tokenizer for llama2.c models')
    .option('--dtype <dtype>', DTYPE_HELP, weightDtype(), 'auto')
    .addHelpText('after', HELP_AFTER)
    .action(async (model: string, o: ServeCliOptions) => {
      const m = loadModel(model, { tokenizer: o.tokenizer, dtype: o.dtype });
      reportUnquantized(m);
      if (!m.tokenizer) throw new InputError('not_found', `no tokenizer found for ${model}; pass --tokenizer`);
      const engine = makeEngine(m, o);
      const server = createServer(engine, { name: basename(model), config: m.config, tokenizer: m.tokenizer }, { bodyLimit: o.bodyLimit, headerTimeoutS: o.headerTimeout, bodyTimeoutS: o.bodyTimeout });
      const addr = await server.listen(o.port, o.host);
      const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
      process.stdout.write(`rrt serve: ${basename(model)} (${o.engine} engine) listening on http://${host}:${addr.port}\n`);
      await new Promise<void>((resolve) => {
        const stop = (why: string) => {
          process.off('SIGTERM', onTerm);
          process.off('SIGINT', onInt);
          clearInterval(parentWatch);
          process.stderr.write(`rrt serve: ${why}, draining requests in flight\n`);
          server.close().then(resolve, resolve);
        };
        const onTerm = () => stop('SIGTERM');
        const onInt = () => stop('SIGINT');
        process.on('SIGTERM', onTerm);
        process.on('SIGINT', onInt);
        const parentWatch = startedByNpm() ? watchParent(() => stop('the npm process that started the server exited')) : undefined;
      });
      process.stderr.write('rrt serve: stopped\n');
    });
}
