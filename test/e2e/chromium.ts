// Headless Chromium for the report's browser test. A missing browser is installed where that
// can happen unattended (root, with apt-get: scripts/install-chromium.sh); elsewhere, or when
// the install fails, the browser test is skipped with the command that installs it.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export type Browser = { path: string } | { skip: string };

export interface BrowserSystem {
  /** places a Chromium binary may be, in order */
  candidates: readonly (string | undefined)[];
  /** an unattended install is possible: root, with apt-get on PATH */
  canInstall: boolean;
  /** runs the install script; detail says how it failed */
  install(): { ok: boolean; detail: string };
}

const root = new URL('../../', import.meta.url).pathname;
export const INSTALL_SCRIPT = 'scripts/install-chromium.sh';

/** The system this process runs on. */
export function thisSystem(): BrowserSystem {
  const hasAptGet = spawnSync('sh', ['-c', 'command -v apt-get']).status === 0;
  return {
    candidates: [process.env.CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'],
    canInstall: process.getuid?.() === 0 && hasAptGet,
    install() {
      process.stderr.write(`# Chromium is missing: running ${INSTALL_SCRIPT} (apt-get install chromium)\n`);
      const r = spawnSync(join(root, INSTALL_SCRIPT), { encoding: 'utf8', timeout: 600_000 });
      return { ok: r.status === 0, detail: r.status === 0 ? '' : `exit ${r.status ?? r.signal}: ${(r.stderr || r.stdout || '').trim().split('\n').slice(-2).join(' / ')}` };
    },
  };
}

const found = (sys: BrowserSystem) => sys.candidates.find((p): p is string => !!p && existsSync(p));

/** Chromium's path, installing it first where that can run unattended; else why the browser test is skipped. */
export function findOrInstallChromium(sys: BrowserSystem = thisSystem()): Browser {
  const before = found(sys);
  if (before) return { path: before };
  if (!sys.canInstall) return { skip: `Chromium is not installed: run sudo ${INSTALL_SCRIPT} (Debian's chromium package), or set CHROMIUM to a Chromium binary` };
  const { ok, detail } = sys.install();
  const after = found(sys);
  if (after) return { path: after };
  return { skip: `Chromium is not installed and ${INSTALL_SCRIPT} ${ok ? 'did not put it on /usr/bin' : `failed (${detail})`}: run ${INSTALL_SCRIPT} once it can reach the Debian mirror, or set CHROMIUM to a Chromium binary` };
}
