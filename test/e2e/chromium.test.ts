// Finding the browser for the report test: installed when it can be unattended, otherwise a
// skip that names the command to run, never a failure and never a silent skip.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { findOrInstallChromium, INSTALL_SCRIPT, type BrowserSystem } from './chromium.js';

const dir = mkdtempSync(join(tmpdir(), 'rrt-chromium-'));
let systems = 0;

/** A system with no Chromium at `binary` (a fresh path each); its install, when called, may put one there. */
function system(canInstall: boolean, installs: 'works' | 'fails'): BrowserSystem & { installs: number; binary: string } {
  const binary = join(dir, `chromium-${++systems}`);
  const sys = {
    binary,
    candidates: [undefined, binary],
    canInstall,
    installs: 0,
    install() {
      sys.installs++;
      if (installs === 'works') writeFileSync(binary, '');
      return installs === 'fails' ? { ok: false, detail: 'exit 100: E: Unable to locate package chromium' } : { ok: true, detail: '' };
    },
  };
  return sys;
}

test('an installed Chromium is used as it is', () => {
  const present = join(dir, 'present');
  writeFileSync(present, '');
  const sys = { ...system(true, 'works'), candidates: [present] };
  assert.deepEqual(findOrInstallChromium(sys), { path: present });
});

test('as root with apt-get, a missing Chromium is installed by the install script, then used', () => {
  const sys = system(true, 'works');
  assert.deepEqual(findOrInstallChromium(sys), { path: sys.binary });
  assert.equal(sys.installs, 1);
});

test('a failed install skips the browser test, saying why and what to run', () => {
  const sys = system(true, 'fails');
  const r = findOrInstallChromium(sys);
  assert.ok('skip' in r);
  assert.match(r.skip, /Unable to locate package chromium/);
  assert.ok(r.skip.includes(INSTALL_SCRIPT), r.skip);
});

test('without root or apt-get nothing is installed: the skip names sudo and the install script', () => {
  const sys = system(false, 'works');
  const r = findOrInstallChromium(sys);
  assert.deepEqual(r, { skip: `Chromium is not installed: run sudo ${INSTALL_SCRIPT} (Debian's chromium package), or set CHROMIUM to a Chromium binary` });
  assert.equal(sys.installs, 0);
});
