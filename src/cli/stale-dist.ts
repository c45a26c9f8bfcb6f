// The rrt command runs dist/ (bin/rrt.js), which only `npm install` or `npm run build` compiles.
// In a working checkout that has edited src/ since, it would silently run the old code: the
// command warns instead. An installed package's files share the tarball's mtime, so it never warns.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** The latest modification time (ms) of any .ts file under dir; 0 when there is none. */
function newestSource(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestSource(p));
    else if (e.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

/** True when a source file under root/src is newer than root/dist/cli/main.js (false when either is missing). */
export function staleDist(root: string): boolean {
  const entry = join(root, 'dist/cli/main.js'), src = join(root, 'src');
  if (!existsSync(entry) || !existsSync(src)) return false;
  return newestSource(src) > statSync(entry).mtimeMs;
}

/** Warns on stderr when this process runs dist/cli/main.js of a checkout whose src/ changed after it was compiled. */
export function warnIfStaleDist(mainUrl: string): void {
  if (!mainUrl.endsWith('/dist/cli/main.js')) return;
  const root = new URL('../../', mainUrl).pathname;
  if (staleDist(root)) process.stderr.write('rrt: warning: src/ changed after dist/ was compiled, so this runs older code; run `npm run build`\n');
}
