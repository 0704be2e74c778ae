// spogw-native's library API. The CLI (src/cli) is a thin shell over these exports.
export { gemm, gemmReference, info, setThreads, loadBinding, NativeLoadError } from "./native/index.js";
export type { NativeInfo, NativeCudaInfo, LoadedBinding, BindingSource } from "./native/index.js";
export { grpoLoss, selectiveLogprobs, LossInputError } from "./loss/index.js";
export type { GrpoLossInput, GrpoLossResult, GrpoLossSettings, GrpoLossStats, LossRunOptions, SelectiveLogprobsInput } from "./loss/index.js";
export * from "./gguf/index.js";
export { SeededRandom } from "./util/seededRandom.js";
export * from "./generator/index.js";
export * from "./benchmarks/index.js";
export * from "./workflow/index.js";
export * from "./train/index.js";
export * from "./dataset/index.js";
export * from "./executor/index.js";
export * from "./server/index.js";
export * from "./pipeline/index.js";
export * from "./evaluation/index.js";
export * from "./report/index.js";
