// Reference rotary position embeddings, in place on x (T, H, Dh). Angles and
// cos/sin are rounded to fp32 exactly as HF computes them (`inv_freq.float() @
// position_ids.float()`, then emb.cos()/sin() in fp32); the rotation itself is in
// double. The native kernel (native/kernels/rope.cpp) must match this.
// Legend: pos (T); invFreq (rotDim/2).

/**
 * Rotates the first rotDim dims of every head of x by pos[t]·invFreq[i].
 * interleaved=0 pairs (i, i+rotDim/2) (HF rotate_half); interleaved=1 pairs (2i, 2i+1)
 * (Meta, llama2.c, GGUF). inverse=1 rotates by −θ, the exact backward.
 */
export function rope_f32(
  x: Float32Array, pos: Int32Array, invFreq: Float32Array, T: number, H: number, Dh: number,
  rotDim: number, interleaved: 0 | 1, inverse: 0 | 1,
): void {
  if (!(Number.isInteger(rotDim) && rotDim >= 0 && rotDim % 2 === 0 && rotDim <= Dh))
    throw new RangeError(`[rope_f32] rotDim must be an even integer in [0, Dh = ${Dh}], got ${rotDim}`);
  const half = rotDim / 2;
  for (let t = 0; t < T; t++) {
    const p = Math.fround(pos[t]);
    for (let i = 0; i < half; i++) {
      const ang = Math.fround(p * invFreq[i]);
      const c = Math.fround(Math.cos(ang));
      const s = inverse ? -Math.fround(Math.sin(ang)) : Math.fround(Math.sin(ang));
      for (let h = 0; h < H; h++) {
        const o = (t * H + h) * Dh;
        const i1 = interleaved ? o + 2 * i : o + i;
        const i2 = interleaved ? i1 + 1 : i1 + half;
        const u = x[i1], v = x[i2];
        x[i1] = u * c - v * s;
        x[i2] = v * c + u * s;
      }
    }
  }
}
