export { Engine, LORA_TARGETS } from "./engine.js";
export type { BackwardItem, BackwardStats, EngineConfig, LoraInitOptions, LoraTarget } from "./engine.js";
export type { GrpoLossSettings, OptimizerSettings } from "../native/settings.js";
export { encodeSafetensors, readSafetensors } from "./safetensors.js";
export { writeFileAtomic } from "./atomicWrite.js";
