import { existsSync } from "node:fs";
import { defineConfig } from "vitest/config";
import everything from "./vitest.config.js";

// The fast lane (`npm run test:fast`): the test files that load no model, start no child process and
// open no socket, run in one process. test/helpers/fastLaneGuard.ts fails any of them that tries.
// A new test file runs in `npm test` (everything); list it here as well when it needs none of those.
export const FAST_TESTS = [
  "test/benchmarks/loaders.test.ts",
  "test/benchmarks/mathScoring.test.ts",
  "test/benchmarks/qaAndGsm8kScoring.test.ts",
  "test/cli/benchWorkflows.test.ts",
  "test/cli/data.test.ts",
  "test/cli/inspect.test.ts",
  "test/cli/progressPrinter.test.ts",
  "test/cli/runFlags.test.ts",
  "test/cli/tinyModel.test.ts",
  "test/dataset/groupDataset.test.ts",
  "test/executor/cachingExecutor.test.ts",
  "test/gguf/float16.test.ts",
  "test/gguf/loraAdapter.test.ts",
  "test/gguf/malformed.test.ts",
  "test/gguf/malformedBlocks.test.ts",
  "test/gguf/quantizedWrite.test.ts",
  "test/gguf/roundtrip.test.ts",
  "test/gguf/tinyModel.test.ts",
  "test/loss/grpoLoss.test.ts",
  "test/loss/validation.test.ts",
  "test/native/gemm.test.ts",
  "test/native/platform.test.ts",
  "test/pipeline/config.test.ts",
  "test/pipeline/diagnosis.test.ts",
  "test/pipeline/presets.test.ts",
  "test/pipeline/runStore.test.ts",
  "test/pipeline/simulatedTask.test.ts",
  "test/pipeline/trainingSettings.test.ts",
  "test/report/tables.test.ts",
  "test/workflow/baselines.test.ts",
  "test/workflow/evaluate.test.ts",
  "test/workflow/hostile.test.ts",
  "test/workflow/parse.test.ts",
  "test/workflow/sandbox.test.ts",
  "test/workflow/validatorHardening.test.ts",
];

const missing = FAST_TESTS.filter((file) => !existsSync(new URL(file, import.meta.url)));
if (missing.length > 0) throw new Error(`vitest.fast.config.ts lists test files that do not exist: ${missing.join(", ")}`);

export default defineConfig({
  test: {
    ...everything.test,
    include: FAST_TESTS,
    setupFiles: ["test/helpers/fastLaneGuard.ts"],
    // Nothing here starts a process or loads a model: the files share one worker and its loaded modules.
    poolOptions: { forks: { ...everything.test?.poolOptions?.forks, isolate: false } },
  },
});
