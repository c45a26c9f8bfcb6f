// The rrt command tree: every command and its options (the work lives in the library).
import { Command } from 'commander';
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
import { registerQuantize } from './commands/quantize.js';
import { registerServe } from './commands/serve.js';

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
  registerQuantize(program);
  registerTrain(program);
  registerBench(program);
  registerEval(program);
  registerData(program);
  registerServe(program);
  registerDemo(program);
  return program;
}
