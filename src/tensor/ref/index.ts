// Plain TypeScript reference kernels, one file per op family, with the same
// signatures as the native ones (see ../kernels.ts). Plain loops, fp32 (or
// double) accumulation, no SIMD, no cleverness: the native kernels must match these.
export * from './gemm.js';
export * from './elementwise.js';
export * from './norm.js';
export * from './rope.js';
export * from './activation.js';
export * from './softmax.js';
export * from './embedding.js';
export * from './loss.js';
export * from './attention.js';
export * from './adamw.js';
export * from './quant.js';
