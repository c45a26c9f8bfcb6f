export { type ModelConfig, type Arch, type ProjName, ropeInvFreq } from './config.js';
export { Decoder, type ForwardOptions, type ForwardResult, linearWithLora } from './decoder.js';
export { KvCache } from './kv-cache.js';
export { generateIds, type GenerateOptions } from './generate.js';
export { Sampler, argmax, type SamplingOptions } from './sampler.js';
export { loadModel, openModelSource, BUNDLED_MODEL, type LoadedModel, type LoadOptions, type ModelFormat } from './load.js';
export { loadWeights, namedTensors, type Weights, type Layer, type Linear, type Norm, type Lora } from './weights.js';
export { configFromHf, profiles, profileForArch } from './profiles/index.js';
export { countParameters, type ParameterCount } from './params.js';
