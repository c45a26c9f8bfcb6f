// The training objective: next-token cross-entropy, optionally mixed with forward-KL
// distillation from a teacher, plus early-exit losses on the intermediate loops' outputs
// (RRT §3.8):
//   loss = (1 − w)·CE + w·τ²·KL(teacher ‖ student, τ)                         (final output)
//   aggressive: loss + Σ_b<B c·(CE_b + KL(detached final ‖ exit_b))           (c = 0.1)
//   weighted:   α_B·loss + Σ_b<B α_b·CE_b,  α_b = b / Σ_j j
import { InputError } from '../errors.js';
import type { ForwardResult } from '../models/decoder.js';
import * as ops from '../tensor/ops/index.js';
import type { Tensor } from '../tensor/tensor.js';

export type ExitLoss = 'none' | 'aggressive' | 'weighted';
export const EXIT_LOSSES: readonly ExitLoss[] = ['none', 'aggressive', 'weighted'];

export interface LossOptions {
  /** teacher logits [N·V] for the same inputs (no gradient) */
  teacherLogits?: Float32Array | null;
  /** share of the distillation term. @default 0.5 */
  distillWeight?: number;
  /** @default 1 */
  temperature?: number;
  exitLoss?: ExitLoss;
  /** aggressive: weight of every intermediate exit. @default 0.1 */
  exitWeight?: number;
  /** aggressive: the exits' distillation target; default the detached final logits of this forward pass */
  exitTarget?: Float32Array;
}

export interface LossParts {
  loss: Tensor;
  ce: number;
  kd: number | null;
  /** mean CE of the intermediate exits */
  exitCe: number | null;
}

function rows(logits: Tensor): Tensor {
  const V = logits.shape[logits.shape.length - 1];
  return ops.reshape(logits, [logits.size / V, V]);
}

export function trainingLoss(out: ForwardResult, targets: Int32Array, o: LossOptions = {}): LossParts {
  const logits = rows(out.logits);
  const ce = ops.crossEntropy(logits, targets);
  let main = ce;
  let kd: Tensor | null = null;
  if (o.teacherLogits) {
    const w = o.distillWeight ?? 0.5;
    const tau = o.temperature ?? 1;
    if (!(w >= 0 && w <= 1)) throw new InputError('bad_option', `distillation weight must be in [0, 1], got ${w}`);
    if (!(tau > 0)) throw new InputError('bad_option', `temperature must be positive, got ${tau}`);
    kd = ops.klDivergence(logits, o.teacherLogits, tau);
    main = ops.add(ops.scale(ce, 1 - w), ops.scale(kd, w * tau * tau));
  }
  const kind = o.exitLoss ?? 'none';
  if (kind === 'none' || out.exits.length === 0) return { loss: main, ce: ce.f32[0], kd: kd ? kd.f32[0] : null, exitCe: null };

  const exitCes = out.exits.map((e) => ops.crossEntropy(rows(e), targets));
  const exitCe = exitCes.reduce((a, t) => a + t.f32[0], 0) / exitCes.length;
  let loss: Tensor;
  if (kind === 'aggressive') {
    const c = o.exitWeight ?? 0.1;
    const finalDetached = o.exitTarget ?? logits.f32.slice();
    loss = main;
    out.exits.forEach((e, b) => {
      loss = ops.add(loss, ops.scale(ops.add(exitCes[b], ops.klDivergence(rows(e), finalDetached, 1)), c));
    });
  } else {
    const nLoops = out.exits.length + 1;
    const total = (nLoops * (nLoops + 1)) / 2;
    loss = ops.scale(main, nLoops / total);
    exitCes.forEach((e, b) => {
      loss = ops.add(loss, ops.scale(e, (b + 1) / total));
    });
  }
  return { loss, ce: ce.f32[0], kd: kd ? kd.f32[0] : null, exitCe };
}
