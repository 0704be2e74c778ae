// Evaluation results in the run store, and how solve rates and methods are written.
export {
  evaluationsIn,
  generatorIteration,
  generatorMethod,
  openRunDatabase,
  putEvaluation,
  readEvaluations,
  summarizeRuns,
  type EvaluationRecord,
} from "./evaluationStore.js";
export { formatSolveRate, methodLabel, methodOrder, percent, protocolTag } from "./format.js";
