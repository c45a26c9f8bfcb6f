// Token sampling from one row of logits: greedy (temperature 0), or temperature →
// top-k → top-p (the order transformers applies them), with a seeded generator.
import { InputError } from '../errors.js';
import { kernels } from '../tensor/kernels.js';
import { mulberry32Step } from '../tensor/random.js';

export interface SamplingOptions {
  /** 0 = greedy. @default 0 */
  temperature?: number;
  /** keep the k most likely tokens (0 = off). @default 0 */
  topK?: number;
  /** keep the smallest set whose probability reaches p (1 = off). @default 1 */
  topP?: number;
  /** seed of the sampling generator. @default random */
  seed?: number;
}

export function validateSampling(o: SamplingOptions): void {
  if (o.temperature !== undefined && !(o.temperature >= 0 && Number.isFinite(o.temperature))) throw new InputError('bad_option', `temperature must be ≥ 0, got ${o.temperature}`);
  if (o.topK !== undefined && !(Number.isInteger(o.topK) && o.topK >= 0)) throw new InputError('bad_option', `top-k must be a non-negative integer, got ${o.topK}`);
  if (o.topP !== undefined && !(o.topP > 0 && o.topP <= 1)) throw new InputError('bad_option', `top-p must be in (0, 1], got ${o.topP}`);
  if (o.seed !== undefined && !Number.isInteger(o.seed)) throw new InputError('bad_option', `seed must be an integer, got ${o.seed}`);
}

/** Greedy choice: the first index of the largest logit (NaN ignored; 0 when none beats −inf). */
export function argmax(x: Float32Array, offset = 0, n = x.length - offset): number {
  return kernels.argmax_f32(x, offset, n);
}

export class Sampler {
  private state: number;
  readonly temperature: number;
  readonly topK: number;
  readonly topP: number;

  constructor(opts: SamplingOptions = {}) {
    validateSampling(opts);
    this.temperature = opts.temperature ?? 0;
    this.topK = opts.topK ?? 0;
    this.topP = opts.topP ?? 1;
    this.state = (opts.seed ?? Math.floor(Math.random() * 2 ** 32)) >>> 0;
  }

  /** uniform in [0, 1) (mulberry32) */
  random(): number {
    const [state, bits] = mulberry32Step(this.state);
    this.state = state;
    return bits / 4294967296;
  }

  /** Picks a token from logits[offset .. offset+V). */
  sample(logits: Float32Array, offset = 0, V = logits.length - offset): number {
    if (this.temperature === 0) return argmax(logits, offset, V);
    if ((this.topK === 0 || this.topK >= V) && this.topP >= 1) return this.sampleFull(logits, offset, V);
    let ids = Array.from({ length: V }, (_, i) => i);
    if (this.topK > 0 && this.topK < V) {
      ids.sort((a, b) => logits[offset + b] - logits[offset + a]);
      ids = ids.slice(0, this.topK);
    }
    let max = -Infinity;
    for (const i of ids) max = Math.max(max, logits[offset + i]);
    const p = ids.map((i) => Math.exp((logits[offset + i] - max) / this.temperature));
    let total = p.reduce((a, b) => a + b, 0);
    if (this.topP < 1) {
      const order = ids.map((_, j) => j).sort((a, b) => p[b] - p[a]);
      const keep: number[] = [];
      let acc = 0;
      for (const j of order) {
        keep.push(j);
        acc += p[j] / total;
        if (acc >= this.topP) break;
      }
      ids = keep.map((j) => ids[j]);
      const kept = keep.map((j) => p[j]);
      p.length = 0;
      p.push(...kept);
      total = p.reduce((a, b) => a + b, 0);
    }
    let r = this.random() * total;
    for (let j = 0; j < ids.length; j++) {
      r -= p[j];
      if (r <= 0) return ids[j];
    }
    return ids[ids.length - 1];
  }

  /** Plain temperature sampling without the id arrays: the same draws as the general path (same sums, same order). */
  private sampleFull(logits: Float32Array, offset: number, V: number): number {
    let max = -Infinity;
    for (let i = 0; i < V; i++) max = Math.max(max, logits[offset + i]);
    let total = 0;
    for (let i = 0; i < V; i++) total += Math.exp((logits[offset + i] - max) / this.temperature);
    let r = this.random() * total;
    for (let i = 0; i < V; i++) {
      r -= Math.exp((logits[offset + i] - max) / this.temperature);
      if (r <= 0) return i;
    }
    return V - 1;
  }
}
