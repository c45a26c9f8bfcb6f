// The rrt command line: parses options, prints, shows progress; the work lives in the library.
// Errors from the library are typed (errors.ts): they print as one `error:` line; anything
// else is a bug and prints its stack.
import { CommanderError } from 'commander';
import { RrtError } from '../errors.js';
import { warnIfStaleDist } from './stale-dist.js';

export async function main(argv: string[]): Promise<number> {
  try {
    // imported here rather than at the top, so that a bad setting checked when a module loads
    // (RRT_THREADS in tensor/kernels.ts) is caught below and printed as one error line
    const { buildProgram } = await import('./program.js');
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    if (e instanceof RrtError) {
      process.stderr.write(`error: ${e.message}\n`);
      return 1;
    }
    if (e instanceof RangeError || e instanceof TypeError) {
      // argument checks of the native layer and ops
      process.stderr.write(`error: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

// A closed pipe (`rrt info | head`) is not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});
warnIfStaleDist(import.meta.url);
process.exitCode = await main(process.argv);
