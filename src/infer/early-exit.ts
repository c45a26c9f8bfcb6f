// Confidence of an intermediate loop's prediction, to decide whether a token leaves after it
// (CALM-style softmax response; shared/PAPER.md §3.1). One tracker per sequence carries what
// the kl and stable measures compare against: the previous loop's distribution and argmax.
import { argmax } from '../models/sampler.js';
import type { EarlyExitOptions } from './types.js';

export class ExitTracker {
  private prev: Float64Array | null = null;
  private lastArgmax = -1;
  private sameFor = 0;
  /** argmax after each loop of the current token (oracle analysis) */
  readonly argmaxes: number[] = [];

  /** Starts a new token. */
  reset(): void {
    this.prev = null;
    this.lastArgmax = -1;
    this.sameFor = 0;
    this.argmaxes.length = 0;
  }

  /** Records the logits after loop `loopsDone` and says whether the token may exit there. */
  observe(logits: Float32Array, offset: number, V: number, loopsDone: number, opts: Required<EarlyExitOptions> | null): boolean {
    const top = argmax(logits, offset, V);
    this.argmaxes.push(top);
    this.sameFor = top === this.lastArgmax ? this.sameFor + 1 : 1;
    this.lastArgmax = top;
    if (!opts) return false;
    const needProbs = opts.measure !== 'stable';
    const p = needProbs ? softmax(logits, offset, V) : null;
    let pass = false;
    if (opts.measure === 'maxProb') pass = p![top] >= opts.threshold;
    else if (opts.measure === 'margin') {
      let second = 0;
      for (let i = 0; i < V; i++) if (i !== top && p![i] > second) second = p![i];
      pass = p![top] - second >= opts.threshold;
    } else if (opts.measure === 'kl') {
      // KL(current ‖ previous); no previous loop yet: cannot pass
      if (this.prev) {
        let kl = 0;
        for (let i = 0; i < V; i++) if (p![i] > 0) kl += p![i] * (Math.log(p![i]) - Math.log(Math.max(this.prev[i], 1e-30)));
        pass = kl <= opts.threshold;
      }
    } else pass = this.sameFor >= opts.stableLoops;
    this.prev = p;
    return pass && loopsDone >= opts.minLoops;
  }

  /** Oracle exit: the earliest loop whose argmax equals the last one recorded. */
  oracleLoops(): number {
    const final = this.argmaxes[this.argmaxes.length - 1];
    return this.argmaxes.indexOf(final) + 1;
  }
}

function softmax(x: Float32Array, offset: number, V: number): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < V; i++) max = Math.max(max, x[offset + i]);
  const p = new Float64Array(V);
  let sum = 0;
  for (let i = 0; i < V; i++) sum += p[i] = Math.exp(x[offset + i] - max);
  for (let i = 0; i < V; i++) p[i] /= sum;
  return p;
}
