// The rrt command line: parses options, prints, shows progress; the work lives in the library.
// Errors from the library are typed (errors.ts): they print as one `error:` line; anything
// else is a bug and prints its stack.
import { Command, CommanderError } from 'commander';
import { RrtError } from '../errors.js';
import { registerBench } from './commands/bench.js';
import { registerConvert } from './commands/convert.js';
import { registerEval } from './commands/eval.js';
import { registerData } from './commands/data.js';
import { registerDemo } from './commands/demo.js';
import { registerExport } from './commands/export.js';
import { registerGenerate } from './commands/generate.js';
import { registerTrain } from './commands/train.js';
import { registerInfo } from './commands/info.js';
import { registerLogits } from './commands/logits.js';
import { registerServe } from './commands/serve.js';
import { warnIfStaleDist } from './stale-dist.js';

export function buildProgram(): Command {
  const program = new Command('rrt')
    .description('Relaxed Recursive Transformers for Node.js: convert, train and serve looped LLMs on CPU')
    .version('0.1.0')
    .showHelpAfterError()
    .exitOverride();
  registerInfo(program);
  registerLogits(program);
  registerGenerate(program);
  registerConvert(program);
  registerExport(program);
  registerTrain(program);
  registerBench(program);
  registerEval(program);
  registerData(program);
  registerServe(program);
  registerDemo(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
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
