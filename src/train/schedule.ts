// Learning-rate schedules: linear warm-up, then cosine decay, warmup-stable-decay (linear
// decay over the last `decayFraction` of steps, as the MoR/RRT training stack), or constant.
import { InputError } from '../errors.js';

export type ScheduleKind = 'cosine' | 'wsd' | 'constant';
export const SCHEDULES: readonly ScheduleKind[] = ['cosine', 'wsd', 'constant'];

export interface ScheduleOptions {
  lr: number;
  /** total optimizer steps */
  steps: number;
  warmup: number;
  kind: ScheduleKind;
  /** the floor, as a fraction of lr. @default 0.1 */
  minLrRatio?: number;
  /** wsd: the decaying tail's share of the steps. @default 0.2 */
  decayFraction?: number;
}

export function validateSchedule(o: ScheduleOptions): void {
  if (!(o.lr > 0 && Number.isFinite(o.lr))) throw new InputError('bad_option', `learning rate must be positive, got ${o.lr}`);
  if (!Number.isInteger(o.steps) || o.steps < 1) throw new InputError('bad_option', `steps must be a positive integer, got ${o.steps}`);
  if (!Number.isInteger(o.warmup) || o.warmup < 0 || o.warmup > o.steps) throw new InputError('bad_option', `warm-up must be an integer in [0, steps], got ${o.warmup}`);
  if (!SCHEDULES.includes(o.kind)) throw new InputError('bad_option', `schedule must be one of ${SCHEDULES.join(', ')}, got ${o.kind}`);
}

/** Learning rate for optimizer step `step` (0-based). */
export function learningRate(step: number, o: ScheduleOptions): number {
  const min = o.lr * (o.minLrRatio ?? 0.1);
  if (step < o.warmup) return (o.lr * (step + 1)) / o.warmup;
  if (o.kind === 'constant') return o.lr;
  if (o.kind === 'cosine') {
    const span = Math.max(1, o.steps - o.warmup);
    const t = Math.min(1, (step - o.warmup) / span);
    return min + 0.5 * (o.lr - min) * (1 + Math.cos(Math.PI * t));
  }
  const decaySteps = Math.max(1, Math.round(o.steps * (o.decayFraction ?? 0.2)));
  const decayStart = o.steps - decaySteps;
  if (step < decayStart) return o.lr;
  return o.lr - ((o.lr - min) * (step - decayStart + 1)) / decaySteps;
}
