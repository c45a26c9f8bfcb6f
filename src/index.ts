// rrt's public API: one entry, explicit groups.

// ---- errors ----
export { RrtError, FormatError, ConfigError, ShapeError, InputError } from './errors.js';

// ---- models: load, run, generate ----
export {
  loadModel,
  openModelSource,
  BUNDLED_MODEL,
  Decoder,
  KvCache,
  generateIds,
  Sampler,
  argmax,
  countParameters,
  configFromHf,
  loadWeights,
  namedTensors,
} from './models/index.js';
export { quantizeModel, type QuantizeOptions, type QuantizeSummary } from './models/quantize.js';
export { quantize, dequantize, QUANT_DTYPES } from './tensor/quant.js';
export type { LoadedModel, LoadOptions, ModelConfig, ForwardOptions, ForwardResult, GenerateOptions, SamplingOptions, Weights, Layer, Linear, Norm, Lora, ParameterCount } from './models/index.js';

// ---- tensor: tensors, autograd, ops, kernels ----
export { Tensor, backward, noGrad, zeroGrad, ops, kernels, native, setThreads, getThreads } from './tensor/index.js';
export type { DType, Kernels } from './tensor/index.js';

// ---- formats: checkpoints and tokenizers ----
export * from './formats/index.js';

// ---- recursive: conversion, export, baselines ----
export * from './recursive/index.js';

// ---- training ----
export { train, resumeTraining, selectParams, type TrainOptions, type TrainHooks, type TrainResult, type StepMetrics, type EvalMetrics } from './train/trainer.js';
export { prepareTokenFile, openTokenFile, resolveTokenizer, WindowSampler } from './train/data.js';
export { trainingLoss, type ExitLoss, type LossOptions } from './train/losses.js';
export { AdamW, clipGradNorm } from './train/optimizer.js';
export { learningRate, type ScheduleKind } from './train/schedule.js';
export { writeRunPlot } from './train/plot.js';

// ---- evaluation ----
export * from './eval/index.js';
