// Checkpoint formats (safetensors, GGUF, llama2.c) behind one TensorSource interface, and
// the tokenizers. Only the public surface is listed here; file helpers stay internal.

export type { DType, TensorInfo, TensorData, LoadedTensor, TensorSource } from './tensor-source.js';
export {
  dtypeSize, dtypeByteLength, shapeNumel, toF32,
  f16ToF32, f32ToF16, bf16ToF32, f32ToBf16, f16ArrayToF32, bf16ArrayToF32, f32ArrayToF16, f32ArrayToBf16,
  interleavedToHalfSplit,
} from './tensor-source.js';

export { openSafetensors, openCheckpointDir, writeSafetensors, SafetensorsWriter, SafetensorsFile } from './safetensors.js';
export type { TensorPlan, TensorToWrite } from './safetensors.js';

export { openGguf, writeGguf, ggufToHf, ggufMetadataEntries, quantizeQ8_0 } from './gguf.js';
export type { GgufFile, GgufValue, GgufType, GgufTensorInfo, GgufTensorToWrite } from './gguf.js';

export { openLlama2c } from './llama2c.js';

// ---- tokenizers (./tokenizers/index.js) ----
export * from './tokenizers/index.js';
