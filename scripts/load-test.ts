// Bounded load test of `rrt serve` (loopback only): starts the server on the bundled
// stories260K on a free 127.0.0.1 port (or targets --url http://127.0.0.1:PORT), runs
// --clients concurrent streaming clients for --seconds, and reports throughput, p50/p99
// latency (first token, total), errors by status and the server's RSS before and after
// (VmRSS from /proc/PID/status; started servers only), failing if RSS grew past --rss-bound-mb.
// Usage: node --import tsx scripts/load-test.ts [--clients 4] [--seconds 10] [--max-tokens 64]
//        [--engine batched|serial] [--url http://127.0.0.1:PORT] [--rss-bound-mb 64] [--json]
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values: a } = parseArgs({
  options: {
    clients: { type: 'string', default: '4' },
    seconds: { type: 'string', default: '10' },
    'max-tokens': { type: 'string', default: '64' },
    engine: { type: 'string', default: 'batched' },
    url: { type: 'string' },
    'rss-bound-mb': { type: 'string', default: '64' },
    json: { type: 'boolean', default: false },
  },
});
const clients = Math.min(64, Math.max(1, Number(a.clients)));
const seconds = Math.min(300, Math.max(1, Number(a.seconds)));
const maxTokens = Math.min(256, Math.max(1, Number(a['max-tokens'])));
const rssBoundMb = Number(a['rss-bound-mb']);
if (a.url && !/^http:\/\/(127\.0\.0\.1|localhost|\[::1\]):\d+\/?$/.test(a.url)) throw new Error(`--url must be a loopback http URL, got ${a.url}`);

const PROMPTS = ['Once upon a time', 'The little dog', 'Lily and Tom went to the park', 'One day, a bird', 'The sun was'];

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

function quantile(xs: number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

async function startServer(): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', 'assets/stories260K/stories260K.bin', '--port', '0', '--engine', a.engine!, '--max-queue', String(clients * 2)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error('rrt serve did not start within 30 s')), 30_000);
    child.stdout!.on('data', (c) => {
      out += c;
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(m[1]);
      }
    });
    child.on('exit', (code) => reject(new Error(`rrt serve exited with ${code}`)));
  });
  return { url, child };
}

interface Sample {
  firstMs: number;
  totalMs: number;
  tokens: number;
}

/** One streaming request; returns its timings or the HTTP status it failed with. */
async function one(url: string, prompt: string, signal: AbortSignal): Promise<Sample | string> {
  const t0 = performance.now();
  let res: Response;
  try {
    res = await fetch(`${url}/v1/completions`, { method: 'POST', body: JSON.stringify({ prompt, max_tokens: maxTokens, temperature: 0.8, stream: true }), signal });
  } catch (e) {
    return (e as Error).name === 'AbortError' ? 'aborted' : 'network';
  }
  if (res.status !== 200) {
    await res.arrayBuffer();
    return String(res.status);
  }
  let first = NaN;
  let tokens = 0;
  let buf = '';
  const decoder = new TextDecoder();
  try {
    for await (const chunk of res.body!) {
      if (Number.isNaN(first)) first = performance.now() - t0;
      buf += decoder.decode(chunk as Uint8Array, { stream: true });
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const ev = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (!ev.startsWith('data: ') || ev === 'data: [DONE]') continue;
        const data = JSON.parse(ev.slice(6));
        if (data.error) return 'stream_error';
        if (data.usage) tokens = data.usage.completion_tokens;
      }
    }
  } catch (e) {
    return (e as Error).name === 'AbortError' ? 'aborted' : 'network';
  }
  return { firstMs: first, totalMs: performance.now() - t0, tokens };
}

async function main(): Promise<void> {
  const started = a.url ? null : await startServer();
  const url = a.url?.replace(/\/$/, '') ?? started!.url;
  const pid = started?.child.pid;
  try {
    // warm-up, so the RSS baseline includes the JIT and first allocations
    for (let i = 0; i < 3; i++) await one(url, PROMPTS[i], AbortSignal.timeout(30_000));
    const rssBefore = pid ? rssKb(pid) : NaN;
    const samples: Sample[] = [];
    const errors: Record<string, number> = {};
    const stopAt = performance.now() + seconds * 1000;
    // a request still running at the deadline gets a grace period, then is aborted
    const hardStop = AbortSignal.timeout(seconds * 1000 + 30_000);
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: clients }, async (_, c) => {
        for (let k = 0; performance.now() < stopAt; k++) {
          const r = await one(url, PROMPTS[(c + k) % PROMPTS.length], hardStop);
          if (typeof r === 'string') {
            errors[r] = (errors[r] ?? 0) + 1;
            if (r === '429') await new Promise((res) => setTimeout(res, 50));
            if (r === 'aborted') return;
          } else samples.push(r);
        }
      }),
    );
    const wallS = (performance.now() - t0) / 1000;
    const rssAfter = pid ? rssKb(pid) : NaN;
    const tokens = samples.reduce((s, x) => s + x.tokens, 0);
    const report = {
      url,
      clients,
      seconds,
      maxTokens,
      engine: a.url ? null : a.engine,
      requests: samples.length,
      tokens,
      wallS: +wallS.toFixed(2),
      tokensPerS: +(tokens / wallS).toFixed(1),
      requestsPerS: +(samples.length / wallS).toFixed(2),
      firstTokenMs: { p50: +quantile(samples.map((s) => s.firstMs), 0.5).toFixed(1), p99: +quantile(samples.map((s) => s.firstMs), 0.99).toFixed(1) },
      totalMs: { p50: +quantile(samples.map((s) => s.totalMs), 0.5).toFixed(1), p99: +quantile(samples.map((s) => s.totalMs), 0.99).toFixed(1) },
      errors,
      rss: pid ? { beforeMb: +(rssBefore / 1024).toFixed(1), afterMb: +(rssAfter / 1024).toFixed(1), growthMb: +((rssAfter - rssBefore) / 1024).toFixed(1), boundMb: rssBoundMb } : null,
    };
    const rssOk = !report.rss || report.rss.growthMb <= rssBoundMb;
    if (a.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
    else {
      process.stdout.write(
        `${report.requests} requests, ${tokens} tokens in ${report.wallS} s with ${clients} clients: ${report.tokensPerS} tok/s, ${report.requestsPerS} req/s\n` +
          `first token p50 ${report.firstTokenMs.p50} ms, p99 ${report.firstTokenMs.p99} ms; total p50 ${report.totalMs.p50} ms, p99 ${report.totalMs.p99} ms\n` +
          `errors: ${JSON.stringify(errors)}\n` +
          (report.rss ? `server RSS ${report.rss.beforeMb} → ${report.rss.afterMb} MB (growth ${report.rss.growthMb} MB, bound ${rssBoundMb} MB: ${rssOk ? 'ok' : 'EXCEEDED'})\n` : ''),
      );
    }
    if (!rssOk) process.exitCode = 1;
  } finally {
    if (started) {
      started.child.kill('SIGTERM');
      const code = await new Promise<number | null>((resolve) => {
        const t = setTimeout(() => {
          started.child.kill('SIGKILL');
          resolve(null);
        }, 30_000);
        started.child.on('exit', (c) => {
          clearTimeout(t);
          resolve(c);
        });
      });
      if (code !== 0) {
        process.stderr.write(`rrt serve exited with ${code} after SIGTERM\n`);
        process.exitCode = 1;
      }
    }
  }
}

await main();
