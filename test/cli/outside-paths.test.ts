// What a fresh clone runs must not reach outside the checkout: no path in the library, the
// command line or the benchmarks points into a sibling folder of the repository.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';

const root = new URL('../../', import.meta.url).pathname;
/** a sibling `shared` folder, by relative path or by the names of its data and notes */
const OUTSIDE = /\.\.\/shared\b|\bshared\/(data|MEASUREMENTS)/;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => join(e.parentPath, e.name));
}

test('no file under src/ or bench/ names a path outside the repository', () => {
  const hits: string[] = [];
  for (const file of [...sourceFiles(join(root, 'src')), ...sourceFiles(join(root, 'bench'))]) {
    readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
      if (OUTSIDE.test(line)) hits.push(`${relative(root, file)}:${i + 1}: ${line.trim()}`);
    });
  }
  assert.deepEqual(hits, []);
});
