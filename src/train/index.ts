export { Engine, LORA_TARGETS } from "./engine.js";
export type { BackwardItem, BackwardStats, EngineConfig, LoraInitOptions, LoraTarget, LossOptions, OptimizerOptions } from "./engine.js";
export { encodeSafetensors, readSafetensors } from "./safetensors.js";
export { writeFileAtomic } from "./atomicWrite.js";
