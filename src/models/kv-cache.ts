// A contiguous key/value cache for one sequence: per unrolled layer, keys and
// values [capacity, Hkv, Dh]. (The serving engine's paged cache lives in infer/.)
import { InputError } from '../errors.js';
import type { ModelConfig } from './config.js';

export class KvCache {
  readonly k: Float32Array[];
  readonly v: Float32Array[];
  /** tokens written so far (positions 0..length−1) */
  length = 0;

  constructor(readonly cfg: ModelConfig, readonly capacity: number, nLayers = cfg.nLayers) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new InputError('bad_option', `KV cache capacity must be a positive integer, got ${capacity}`);
    const n = capacity * cfg.nKvHeads * cfg.headDim;
    this.k = Array.from({ length: nLayers }, () => new Float32Array(n));
    this.v = Array.from({ length: nLayers }, () => new Float32Array(n));
  }

  get rowSize(): number {
    return this.cfg.nKvHeads * this.cfg.headDim;
  }

  /** Throws unless T more tokens fit. */
  checkRoom(T: number): void {
    if (this.length + T > this.capacity)
      throw new InputError('context_overflow', `KV cache full: ${this.length} + ${T} tokens exceed its capacity of ${this.capacity}`);
  }

  /** Copies T rows of keys and values for `layer` at positions length..length+T−1 (committed by advance()). */
  write(layer: number, k: Float32Array, v: Float32Array, T: number): void {
    this.checkRoom(T);
    const off = this.length * this.rowSize;
    this.k[layer].set(k.subarray(0, T * this.rowSize), off);
    this.v[layer].set(v.subarray(0, T * this.rowSize), off);
  }

  advance(T: number): void {
    this.length += T;
  }

  /** Forget everything after `length` tokens. */
  truncate(length: number): void {
    this.length = Math.min(this.length, Math.max(0, length));
  }

  get bytes(): number {
    return (this.k.length + this.v.length) * this.k[0].byteLength;
  }
}
