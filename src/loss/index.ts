// The loss API: the fused log-prob + ioGRPO-mKL kernel and the selective log-prob pass.
export { grpoLoss, grpoLossDetailed } from "./grpoLoss.js";
export type { GrpoLossInput, GrpoLossResult, GrpoLossStats, LossRunOptions } from "./grpoLoss.js";
export type { GrpoLossSettings } from "../native/settings.js";
export { selectiveLogprobs } from "./selectiveLogprobs.js";
export type { SelectiveLogprobsInput } from "./selectiveLogprobs.js";
export { LossInputError } from "./validate.js";
