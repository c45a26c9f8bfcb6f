// `rrt serve` end to end: a child process on a free port answers, then exits 0 on SIGTERM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';

test('rrt serve prints its URL, answers a completion, and drains and exits 0 on SIGTERM', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', 'assets/stories260K/stories260K.bin', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (c) => {
        out += c;
        const mm = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
        if (mm) resolve(mm[1]);
      });
      void exited.then((code) => reject(new Error(`rrt serve exited (${code}) before listening: ${stderr}`)));
    });
    const res = await fetch(`${url}/v1/completions`, { method: 'POST', body: JSON.stringify({ prompt: 'Once upon a time', max_tokens: 8, temperature: 0 }) });
    assert.equal(res.status, 200);
    assert.equal((await res.json()).usage.completion_tokens, 8);
    // a request in flight when SIGTERM arrives still completes
    const inflight = fetch(`${url}/v1/completions`, { method: 'POST', body: JSON.stringify({ prompt: 'Once upon a time', max_tokens: 200, ignore_eos: true }) });
    await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGTERM');
    const late = await inflight;
    assert.equal(late.status, 200);
    assert.equal((await late.json()).usage.completion_tokens, 200);
    assert.equal(await exited, 0, stderr);
  } finally {
    clearTimeout(timer);
    child.kill('SIGKILL');
  }
});
