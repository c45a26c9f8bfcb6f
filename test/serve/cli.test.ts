// `rrt serve` end to end: a child process on a free port answers, then exits 0 on SIGTERM;
// started through npx, it stops when npx gets SIGTERM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

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

/** Resolves with the server's URL once the child prints it; rejects if it exits first. */
function listeningUrl(child: ChildProcess, exited: Promise<number | null>, stderr: () => string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c) => {
      out += c;
      const mm = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (mm) resolve(mm[1]);
    });
    void exited.then((code) => reject(new Error(`rrt serve exited (${code}) before listening: ${stderr()}`)));
  });
}

/** Whether the process runs (a zombie, exited but not yet reaped by its new parent, does not). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

const hasNpx = spawnSync('npx', ['--version'], { stdio: 'ignore' }).status === 0;

test('started through npx (npm runs the bin under sh -c), rrt serve drains and exits when npx gets SIGTERM', { skip: !hasNpx && 'npx is not installed' }, async () => {
  // a project whose node_modules/.bin/rrt runs this checkout's CLI (from source, through tsx)
  const dir = mkdtempSync(join(tmpdir(), 'rrt-npx-'));
  const pidFile = join(dir, 'server.pid');
  const shim = join(dir, 'rrt.mjs');
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'rrt-npx-probe', version: '1.0.0', private: true }));
  writeFileSync(
    shim,
    [
      '#!/usr/bin/env node',
      "import { writeFileSync } from 'node:fs';",
      `import { register } from ${JSON.stringify(import.meta.resolve('tsx/esm/api'))};`,
      `writeFileSync(${JSON.stringify(pidFile)}, String(process.pid));`,
      'register();',
      `await import(${JSON.stringify(new URL('../../src/cli/main.ts', import.meta.url).href)});`,
    ].join('\n'),
    { mode: 0o755 },
  );
  spawnSync('mkdir', ['-p', join(dir, 'node_modules/.bin')]);
  symlinkSync(shim, join(dir, 'node_modules/.bin/rrt'));
  const model = resolve('assets/stories260K/stories260K.bin');
  const npx = spawn('npx', ['--offline', 'rrt', 'serve', model, '--port', '0'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  npx.stderr.on('data', (c) => (stderr += c));
  const npxExited = new Promise<number | null>((r) => npx.on('exit', (code) => r(code)));
  const timer = setTimeout(() => npx.kill('SIGKILL'), 60_000);
  let serverPid = 0;
  try {
    const url = await listeningUrl(npx, npxExited, () => stderr);
    serverPid = Number(readFileSync(pidFile, 'utf8'));
    assert.equal((await fetch(`${url}/health`)).status, 200);
    npx.kill('SIGTERM');
    await npxExited;
    // the server, not npx's child but its grandchild, must follow within a few seconds
    for (let i = 0; i < 100 && alive(serverPid); i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(alive(serverPid), false, `the server (pid ${serverPid}) still runs 10 s after npx got SIGTERM; stderr: ${stderr}`);
    assert.match(stderr, /draining/);
  } finally {
    clearTimeout(timer);
    npx.kill('SIGKILL');
    if (serverPid > 0 && alive(serverPid)) process.kill(serverPid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
