import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ShapeError } from '../../src/errors.js';
import { backward, noGrad } from '../../src/tensor/autograd.js';
import * as ops from '../../src/tensor/ops/index.js';
import { Tensor } from '../../src/tensor/tensor.js';

test('noGrad records no graph', () => {
  const w = Tensor.param(Float32Array.from([1, 2]), [2]);
  const y = noGrad(() => ops.mul(w, w));
  assert.equal(y.requiresGrad, false);
  assert.equal(y.node, null);
  assert.throws(() => backward(y), ShapeError);
});

test('gradients accumulate across backward calls until cleared', () => {
  const w = Tensor.param(Float32Array.from([1, 2, 3]), [3]);
  backward(ops.sum(ops.scale(w, 2)));
  backward(ops.sum(ops.scale(w, 2)));
  assert.deepEqual([...w.grad!], [4, 4, 4]);
});

test('a gradient handed to two inputs is not shared between them', () => {
  const a = Tensor.param(Float32Array.from([1, 2]), [2]);
  const b = Tensor.param(Float32Array.from([3, 4]), [2]);
  // d/da (a+b)·1 + a·a = 1 + 2a ; d/db = 1
  backward(ops.sum(ops.add(ops.add(a, b), ops.mul(a, a))));
  assert.deepEqual([...a.grad!], [3, 5]);
  assert.deepEqual([...b.grad!], [1, 1]);
});

test('a non-scalar backward without a seed is refused', () => {
  const a = Tensor.param(Float32Array.from([1, 2]), [2]);
  assert.throws(() => backward(ops.scale(a, 2)), /needs a seed/);
});

test('shape errors name both shapes', () => {
  const a = new Tensor(new Float32Array(6), [2, 3]);
  const b = new Tensor(new Float32Array(6), [3, 2]);
  assert.throws(() => ops.add(a, b), /\[2, 3\] and \[3, 2\]/);
  assert.throws(() => ops.linear(a, new Tensor(new Float32Array(8), [2, 4])), /does not end in 4/);
});

test('a deep chain (10k ops) backpropagates without stack overflow', () => {
  const w = Tensor.param(Float32Array.from([1]), [1]);
  let y = w;
  for (let i = 0; i < 10000; i++) y = ops.scale(y, 1);
  backward(y);
  assert.equal(w.grad![0], 1);
});
