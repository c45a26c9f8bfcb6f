// Causal self-attention over B independent sequences of T tokens, grouped-query heads.
// q [B·T, H, Dh], k/v [B·T, Hkv, Dh] → [B·T, H, Dh]. The flash-style kernel never
// builds a T×T matrix; the backward recomputes scores from the saved log-sum-exp.
import { ShapeError } from '../../errors.js';
import { record } from '../autograd.js';
import { kernels } from '../kernels.js';
import { Tensor } from '../tensor.js';

export interface AttentionOptions {
  /** sliding window: token p attends tokens j with p − window < j ≤ p (transformers' sliding_window); 0 or absent: all j ≤ p */
  window?: number;
  /** logit soft-capping: a score x becomes softcap·tanh(x/softcap) before the softmax (Gemma 2); 0 or absent: none */
  softcap?: number;
}

export function causalAttention(q: Tensor, k: Tensor, v: Tensor, B: number, T: number, scale: number, opts: AttentionOptions = {}): Tensor {
  if (q.shape.length !== 3 || k.shape.length !== 3 || v.shape.length !== 3) throw new ShapeError('attention: q, k, v must be 3-D');
  const [Nq, H, Dh] = q.shape;
  const [Nk, Hkv, Dk] = k.shape;
  if (Nq !== B * T || Nk !== B * T || Dk !== Dh || v.shape[0] !== Nk || v.shape[1] !== Hkv || v.shape[2] !== Dh || H % Hkv !== 0)
    throw new ShapeError(`attention: q [${q.shape}], k [${k.shape}], v [${v.shape}] do not fit B=${B}, T=${T}`);
  const qs = q.f32, ks = k.f32, vs = v.f32, window = opts.window ?? 0, softcap = opts.softcap ?? 0;
  const out = new Float32Array(q.size);
  const lse = new Float32Array(B * H * T);
  const qStride = T * H * Dh, kStride = T * Hkv * Dh;
  const seq = (a: Float32Array, b: number, stride: number) => a.subarray(b * stride, (b + 1) * stride);
  for (let b = 0; b < B; b++)
    kernels.attention_fwd_f32(seq(out, b, qStride), seq(lse, b, H * T), seq(qs, b, qStride), seq(ks, b, kStride), seq(vs, b, kStride), T, T, H, Hkv, Dh, 0, scale, window, softcap);
  return record(new Tensor(out, q.shape), 'attention', [q, k, v], (g) => {
    const dq = new Float32Array(q.size);
    const dk = new Float32Array(k.size);
    const dv = new Float32Array(v.size);
    for (let b = 0; b < B; b++)
      kernels.attention_bwd_f32(
        seq(dq, b, qStride), seq(dk, b, kStride), seq(dv, b, kStride), seq(g, b, qStride),
        seq(qs, b, qStride), seq(ks, b, kStride), seq(vs, b, kStride), seq(out, b, qStride), seq(lse, b, H * T),
        T, T, H, Hkv, Dh, 0, scale, window, softcap,
      );
    return [dq, dk, dv];
  });
}
