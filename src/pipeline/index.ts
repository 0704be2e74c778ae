// The SPOGW loop: run store, configuration, phases (collect, dataset, update), train, status, and the
// demo's simulated task family.
export { RunStore, RUN_DATABASE, openRunDatabase, readRunMeta, sampleKey, type AdapterRecord, type ExecutionRecord, type GroupRecord, type Phase, type SampleRecord, type UpdateStepRecord } from "./runStore.js";
export {
  resolveConfig, readConfigFile, parseStoredConfig, conflictingFields, ConfigError, RUN_CONFIG_FIELDS, DEFAULT_CONFIG, CONFIG_FIELDS, RESUMABLE_FIELDS,
  type ConfigField, type FlagType, type RunConfig,
} from "./config.js";
export { RunContext, generatorUsesGpu, type ProgressEvent, type ProgressListener, type ProgressPhase, type WarningListener } from "./context.js";
export type { TaskQuery, WorkflowTask, ParsedCompletion, ExecutionResult } from "./task.js";
export { runCollect, workflowRewards, workflowScores, type CollectSummary } from "./collect.js";
export { runDataset, type DatasetSummary } from "./datasetPhase.js";
export { runUpdate, stepPlan, type UpdateSummary } from "./update.js";
export { openRun, openConfiguredRun, type OpenRunOptions } from "./openRun.js";
export { isRunDirectory, storedConfig, readStoredConfig } from "./storedConfig.js";
export { runIteration, runTrain, type IterationSummary, type TrainSummary } from "./trainLoop.js";
export { lossSettingsOf, optimizerSettingsOf } from "./trainingSettings.js";
export { runStatus, type RunStatus, type IterationStatus } from "./status.js";
export { collectFacts, countReasons, formatReasons, nothingToLearn, type CollectFacts, type ReasonCount } from "./diagnosis.js";
export {
  importCollection, planSweep, readSweep, runSweep, sharedCollectionSource, sweepRunName, SWEEP_AXES, SWEEP_FILE,
  type SweepAxis, type SweepManifest, type SweepOptions, type SweepResult, type SweepRun,
} from "./sweep.js";
export { PRESETS, PRESET_NAMES, presetLayer, presetOverrides, type Preset, type PresetName, type PresetSettings } from "./presets.js";
export {
  createSimulatedTask,
  decodeSimulatedWorkflow,
  SIMULATED_WORKFLOW_GRAMMAR,
  MAX_SIMULATED_STEPS,
  renderSimulatedWorkflow,
  parseSimulatedWorkflow,
  simulateRun,
  simulatedDifficulty,
  simulatedTokens,
  SIMULATED_TOKENS,
  SIMULATED_NOTICE,
  REVIEW_FIX,
  REVIEW_BREAK,
  type SimulatedTaskOptions,
} from "./simulatedTask.js";
export { runDemo, DEMO_SETTINGS, DEMO_MODEL, type DemoOptions } from "./demo.js";
export { createTask } from "./tasks.js";
export { preflight, checkGeneratorModel, checkExecutorReachable, unreadableByTrainer, TRAINER_TENSOR_TYPES, PreflightError } from "./preflight.js";
export { createBenchmarkTask, isBenchmarkName, EXECUTOR_CACHE } from "./benchmarkTask.js";
export { lockRun, RUN_LOCK } from "./runLock.js";
