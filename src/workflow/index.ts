// Workflows as code: the language and its operators, generator prompts, parsing and validation, and
// the QuickJS sandbox that runs them.
export { TASK_FAMILIES, isTaskFamily } from "./family.js";
export type { WorkflowProblem } from "./problem.js";
export {
  OPERATORS_BY_FAMILY,
  operatorsFor,
  operatorSignature,
  renderOperatorDocs,
  type OperatorDoc,
  type OperatorName,
} from "./operators/catalog.js";
export type { OperatorServices, PythonRunner } from "./operators/hostOperators.js";
export { TEMPLATE_WORKFLOWS } from "./templates.js";
export { RULES_BY_FAMILY, type WorkflowRules } from "./rules.js";
export { buildGeneratorPrompt, WORKFLOW_OPEN_TAG, WORKFLOW_CLOSE_TAG, type GeneratorPromptOptions } from "./generatorPrompt.js";
export { parseWorkflow, validateWorkflow, type ParsedWorkflow, type ValidationOptions, type WorkflowValidation } from "./parse/parseWorkflow.js";
export { templateSimilarity } from "./parse/similarity.js";
export {
  runWorkflow,
  DEFAULT_LIMITS,
  type RunWorkflowOptions,
  type WorkflowLimits,
  type WorkflowRunResult,
} from "./sandbox/runWorkflow.js";
export { dryRunWorkflow, ToyExecutor, TOY_PROBLEMS, type DryRunOptions } from "./dryRun.js";
export { evaluateWorkflow, runAndScore, type EvaluateOptions, type RunScore, type WorkflowEvaluation } from "./evaluate.js";
export {
  scoreWithProtocol,
  extractionPrompt,
  judgePrompt,
  SCORING_PROTOCOLS,
  PROTOCOL_DESCRIPTIONS,
  type ScoringProtocol,
  type ProtocolOptions,
} from "./scoringProtocols.js";
export { baselineWorkflow, BASELINE_NAMES, BASELINE_DESCRIPTIONS, isBaselineName, type BaselineName } from "./baselines.js";
export { workflowGrammar } from "./grammar.js";
