// The differentiable primitives. Each has a kernel, a backward, and a
// finite-difference gradient test (test/tensor/gradcheck.test.ts).
export { linear } from './linear.js';
export { add, mul, scale, softcap, reshape, gatherCols, gatherRows, sum } from './elementwise.js';
export { rmsNorm, layerNorm } from './norm.js';
export { rope, type RopeSpec } from './rope.js';
export { causalAttention, type AttentionOptions } from './attention.js';
export { activation, glu } from './activation.js';
export { embedding } from './embedding.js';
export { crossEntropy, klDivergence, IGNORE_INDEX } from './loss.js';
