// Reverse-mode autograd over coarse ops: each primitive op
// records a Node with its inputs and a backward that maps the output gradient
// to one gradient per input (or null). backward() toposorts, walks in reverse,
// accumulates, and frees intermediate gradients as soon as they are consumed.
import { ShapeError } from '../errors.js';
import { kernels } from './kernels.js';
import { Tensor } from './tensor.js';

export interface Node {
  op: string;
  inputs: Tensor[];
  backward(gradOut: Float32Array): (Float32Array | null)[];
}

let gradEnabled = true;

/** Runs fn with gradient recording off (inference, teachers, evaluation). */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Attach a node to `out` when grad mode is on and some input needs a gradient. */
export function record(out: Tensor, op: string, inputs: Tensor[], backward: Node['backward']): Tensor {
  if (gradEnabled && inputs.some((t) => t.requiresGrad)) {
    out.requiresGrad = true;
    out.node = { op, inputs, backward };
  }
  return out;
}

function accumulate(into: Float32Array, g: Float32Array): void {
  kernels.axpy_f32(into, g, 1, g.length);
}

/** Backpropagates from `root` (a scalar unless `seed` is given) into the .grad of every leaf that requires it. */
export function backward(root: Tensor, seed?: Float32Array): void {
  if (!root.requiresGrad) throw new ShapeError('backward() on a tensor that does not require grad');
  if (!seed && root.size !== 1) throw new ShapeError(`backward() needs a seed for a non-scalar of shape [${root.shape.join(', ')}]`);
  // Topological order by iterative DFS (graphs can be thousands of nodes deep).
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  const stack: [Tensor, number][] = [[root, 0]];
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    const [t, i] = top;
    if (i === 0) {
      if (seen.has(t)) {
        stack.pop();
        continue;
      }
      seen.add(t);
    }
    const inputs = t.node?.inputs ?? [];
    if (i < inputs.length) {
      top[1]++;
      if (inputs[i].requiresGrad && !seen.has(inputs[i])) stack.push([inputs[i], 0]);
    } else {
      stack.pop();
      order.push(t);
    }
  }
  const grads = new Map<Tensor, Float32Array>();
  // An op may hand the same array to several inputs (add, reshape): store each
  // array once and copy on reuse, so accumulating into one never leaks into another.
  const stored = new Set<Float32Array>();
  const store = (t: Tensor, g: Float32Array) => {
    const own = stored.has(g) || g === seed ? g.slice() : g;
    stored.add(own);
    grads.set(t, own);
  };
  store(root, seed ?? new Float32Array([1]));
  for (let k = order.length - 1; k >= 0; k--) {
    const t = order[k];
    const g = grads.get(t);
    if (!g) continue;
    if (!t.node) {
      if (t.grad) accumulate(t.grad, g);
      else t.grad = g;
      grads.delete(t);
      if (t.grad !== g) stored.delete(g);
      continue;
    }
    const inGrads = t.node.backward(g);
    grads.delete(t);
    stored.delete(g); // free for one pass-through reuse
    t.node.inputs.forEach((inp, j) => {
      const gi = inGrads[j];
      if (!gi || !inp.requiresGrad) return;
      if (gi.length !== inp.size) throw new ShapeError(`${t.node!.op} backward: gradient for input ${j} has ${gi.length} elements, expected ${inp.size}`);
      const prev = grads.get(inp);
      if (prev) accumulate(prev, gi);
      else store(inp, gi);
    });
  }
}

/** Zeroes (drops) the gradients of the given leaves. */
export function zeroGrad(params: Iterable<Tensor>): void {
  for (const p of params) p.grad = null;
}

/**
 * Activation recomputation: runs fn(x) without recording, and recomputes it (with recording)
 * during the backward pass, so only x is kept alive instead of every intermediate of fn.
 * Gradients of the parameters fn closes over accumulate into their .grad, as usual.
 */
export function checkpoint(fn: (x: Tensor) => Tensor, x: Tensor): Tensor {
  if (!gradEnabled) return fn(x);
  const out = noGrad(() => fn(x));
  out.requiresGrad = true;
  out.node = {
    op: 'checkpoint',
    inputs: [x],
    backward: (g) => {
      const xd = new Tensor(x.data, x.shape, x.dtype);
      xd.requiresGrad = true;
      backward(fn(xd), g);
      return [xd.grad];
    },
  };
  return out;
}
