// Evaluation results in the run store, and how solve rates and methods are written.
export {
  EVALUATION_CACHE,
  evaluationsIn,
  generatorIteration,
  generatorMethod,
  putEvaluation,
  putEvaluationWorkflows,
  readEvaluations,
  readEvaluationWorkflows,
  summarizeRuns,
  type EvaluationRecord,
  type StoredWorkflow,
} from "./evaluationStore.js";
export { measureSolveRate, type ProblemWorkflow, type SolveRateOptions, type SolveRateResult } from "./solveRate.js";
export { generateWorkflows, type GeneratedWorkflow, type GenerationSettings } from "./generatedWorkflows.js";
export { fixedWorkflow, generatorWorkflows, type GeneratorWorkflowsEvents, type GeneratorWorkflowsPlan } from "./evaluatedWorkflows.js";
export { formatSolveRate, methodLabel, methodOrder, percent, protocolTag } from "./format.js";
export { evaluationExecutors, runCacheModel, type EvaluationExecutors } from "../executor/index.js";
