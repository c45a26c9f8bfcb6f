// Child process for the resume test: trains, and kills itself with SIGKILL (no cleanup, like a
// crash or an OOM kill) right after the step given in argv[3] finishes.
import { train } from '../../src/train/trainer.js';

const [optionsJson, killAt] = process.argv.slice(2);
train(JSON.parse(optionsJson), {
  onStep: (m) => {
    if (m.step === Number(killAt)) process.kill(process.pid, 'SIGKILL');
  },
});
