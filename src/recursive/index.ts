export * from './sharing.js';
export * from './svd.js';
export { convertToRecursive, recursiveParameterCount, type ConvertOptions, type ConvertSummary, type RecursiveParameterCount } from './convert.js';
export { exportUnrolled, type ExportOptions } from './export.js';
