export { Tensor, numel, type DType, type Storage } from './tensor.js';
export { backward, noGrad, isGradEnabled, zeroGrad } from './autograd.js';
export { kernels, native, reference, setThreads, getThreads, Act, type ActCode, type Kernels } from './kernels.js';
export * as ops from './ops/index.js';
