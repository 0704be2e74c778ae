// GGUF: reading and writing model and LoRA adapter files, and the tiny test models.
export * from "./types.js";
export { GgufFormatError } from "./errors.js";
export { parseGguf, parseGgufHeader, readGgufHeader } from "./reader.js";
export { GgufFile } from "./ggufFile.js";
export { encodeGguf, writeGgufFile, type GgufFileToWrite, type GgufTensorToWrite } from "./writer.js";
export { gguf, metadataNumber, metadataString, formatMetadataValue } from "./metadata.js";
export { float16BitsToFloat32, float32ToFloat16Bits, bfloat16BitsToFloat32 } from "./float16.js";
export { dequantizeToFloat32 } from "./dequantize.js";
export {
  buildTinyModel,
  writeTinyModel,
  resolveTinyModelConfig,
  TINY_MODEL_DEFAULTS,
  type TinyModelArch,
  type TinyModelDtype,
  type TinyModelConfig,
  type TinyModelOptions,
} from "./tinyModel.js";
export { writeBenchModel, QWEN25_05B_SHAPE, type BenchModelShape } from "./benchModel.js";
export { buildTinyVocab, byteToUnicode, CHATML_TEMPLATE, CONTROL_TOKENS, type TinyVocab } from "./tinyVocab.js";
export {
  buildLoraAdapterGguf,
  writeLoraAdapter,
  loraAdapterFromGguf,
  makeRandomLoraAdapter,
  DEFAULT_LORA_TARGETS,
  type LoraAdapter,
  type LoraPair,
  type RandomLoraOptions,
} from "./loraAdapter.js";
export { checkLlamaCppModel, checkLlamaCppLoraAdapter, GgufContentError } from "./modelChecks.js";
