// Losses on logits [N, V], reduced to a scalar mean; the fused kernels compute the
// gradient in the forward pass, so backward only scales it.
import { ShapeError } from '../../errors.js';
import { record } from '../autograd.js';
import { kernels } from '../kernels.js';
import { Tensor } from '../tensor.js';

export const IGNORE_INDEX = -100;

function scaled(grad: Float32Array, s: number): Float32Array {
  const out = new Float32Array(grad.length);
  kernels.scale_f32(out, grad, s, grad.length);
  return out;
}

/** Mean next-token cross-entropy over the targets that are not IGNORE_INDEX. */
export function crossEntropy(logits: Tensor, targets: Int32Array, ignoreIndex = IGNORE_INDEX): Tensor {
  const V = logits.shape[logits.shape.length - 1];
  const N = logits.size / V;
  if (targets.length !== N) throw new ShapeError(`crossEntropy: ${targets.length} targets for ${N} rows`);
  let count = 0;
  for (let i = 0; i < N; i++) if (targets[i] !== ignoreIndex) count++;
  const losses = new Float32Array(N);
  const dlogits = logits.requiresGrad ? new Float32Array(logits.size) : null;
  kernels.cross_entropy_f32(losses, dlogits, logits.f32, targets, N, V, ignoreIndex, count > 0 ? 1 / count : 0);
  let total = 0;
  for (let i = 0; i < N; i++) total += losses[i];
  const out = new Tensor(new Float32Array([count > 0 ? total / count : 0]), [1]);
  return record(out, 'crossEntropy', [logits], (g) => [scaled(dlogits!, g[0])]);
}

/** Mean over rows of KL(teacher ‖ student) at temperature τ (teacher logits carry no gradient). */
export function klDivergence(student: Tensor, teacher: Float32Array, temperature = 1): Tensor {
  const V = student.shape[student.shape.length - 1];
  const N = student.size / V;
  if (teacher.length !== student.size) throw new ShapeError(`klDivergence: teacher has ${teacher.length} logits, student ${student.size}`);
  const losses = new Float32Array(N);
  const dlogits = student.requiresGrad ? new Float32Array(student.size) : null;
  kernels.kl_div_f32(losses, dlogits, student.f32, teacher, N, V, temperature, 1 / N);
  let total = 0;
  for (let i = 0; i < N; i++) total += losses[i];
  return record(new Tensor(new Float32Array([total / N]), [1]), 'klDivergence', [student], (g) => [scaled(dlogits!, g[0])]);
}
