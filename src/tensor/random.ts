// mulberry32: a small, well-mixed PRNG whose whole state is one uint32, so runs are
// reproducible on every platform and its state fits in a checkpoint. Every seeded choice in
// rrt (layer picks, Gaussian test matrices, sampling, data windows, few-shot draws) uses it.

/** Advances a mulberry32 state: [next state, 32 random bits]. */
export function mulberry32Step(state: number): [number, number] {
  const s = (state + 0x6d2b79f5) >>> 0;
  let t = s;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return [s, (t ^ (t >>> 14)) >>> 0];
}

/** A generator of uniforms in [0, 1) from a seed. */
export function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    const [next, bits] = mulberry32Step(s);
    s = next;
    return bits / 4294967296;
  };
}

/** n uniforms in [−scale, scale) from a xorshift32 seed: a fast fill for random-weight models (benchmarks). */
export function uniformArray(n: number, scale: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = ((s / 4294967296) * 2 - 1) * scale;
  }
  return out;
}
