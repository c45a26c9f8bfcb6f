// The recursive/ layer: sharing plans (which layers loop, how the shared block is initialised), the
// SVDs that initialise the per-depth LoRA relaxation, and the model conversion built on both.
export * from './sharing.js';
export * from './svd.js';
export { convertToRecursive, recursiveParameterCount, type ConvertOptions, type ConvertSummary, type RecursiveParameterCount } from './convert.js';
export { exportUnrolled, type ExportOptions } from './export.js';
export { exportGguf, halfSplitToInterleaved, type GgufExportOptions, type GgufExportSummary } from './export-gguf.js';
export { reduceModel } from './reduce.js';
