// AdamW over named parameters with fp32 master weights (β 0.9/0.95, decoupled weight decay
// 0.1 by default, none on norms, biases and embeddings), and global gradient-norm clipping.
import { kernels } from '../tensor/kernels.js';
import type { Tensor } from '../tensor/tensor.js';

export interface NamedParam {
  name: string;
  tensor: Tensor;
  decay: boolean;
}

export interface AdamWOptions {
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
}

export class AdamW {
  readonly m = new Map<string, Float32Array>();
  readonly v = new Map<string, Float32Array>();
  /** optimizer steps taken */
  step = 0;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;

  constructor(readonly params: NamedParam[], opts: AdamWOptions = {}) {
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.95;
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0.1;
    for (const p of params) {
      this.m.set(p.name, new Float32Array(p.tensor.size));
      this.v.set(p.name, new Float32Array(p.tensor.size));
    }
  }

  /** One update with learning rate `lr` of every parameter that has a gradient. */
  update(lr: number): void {
    this.step++;
    for (const p of this.params) {
      if (!p.tensor.grad) continue;
      kernels.adamw_f32(p.tensor.f32, p.tensor.grad, this.m.get(p.name)!, this.v.get(p.name)!, p.tensor.size, lr, this.beta1, this.beta2, this.eps, p.decay ? this.weightDecay : 0, this.step);
    }
  }

  zeroGrad(): void {
    for (const p of this.params) p.tensor.grad = null;
  }
}

/** Global L2 norm of all gradients (summed in double, in parameter order: deterministic). */
export function gradNorm(params: NamedParam[]): number {
  let s = 0;
  for (const p of params) {
    const g = p.tensor.grad;
    if (!g) continue;
    for (let i = 0; i < g.length; i++) s += g[i] * g[i];
  }
  return Math.sqrt(s);
}

/** Scales every gradient so the global norm is at most maxNorm; returns the norm before clipping. */
export function clipGradNorm(params: NamedParam[], maxNorm: number): number {
  const norm = gradNorm(params);
  if (maxNorm > 0 && norm > maxNorm) {
    const s = maxNorm / (norm + 1e-6);
    for (const p of params) if (p.tensor.grad) kernels.scale_f32(p.tensor.grad, p.tensor.grad, s, p.tensor.grad.length);
  }
  return norm;
}
