export { Engine, LORA_TARGETS, resolveEngineDevice } from "./engine.js";
export type { BackwardItem, BackwardStats, EngineConfig, EngineDevice, EngineLoadOptions, LoraInitOptions, LoraTarget, SequenceItem } from "./engine.js";
export type { GrpoLossSettings, OptimizerSettings } from "../native/settings.js";
export { encodeSafetensors, readSafetensors } from "./safetensors.js";
export { writeFileAtomic } from "./atomicWrite.js";
