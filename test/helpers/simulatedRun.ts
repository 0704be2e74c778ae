// The small simulated-task run the end-to-end loop tests share (kill-and-resume, remote sampling): one
// run takes seconds; two iterations, so that the second samples from a trained adapter. `extra` adds
// config lines (YAML, each ending in a newline).
export function smallSimulatedConfig(model: string, extra = ""): string {
  return `task: simulated
generator: ${model}
simulatedQueries: 4
samplesPerQuery: 4
groupSize: 3
keep: 1
topN: 12
maxTokens: 48
iterations: 2
epochs: 2
groupsPerStep: 2
scoreRuns: 2
engineThreads: 1
learningRate: 0.005
executionConcurrency: 2
${extra}`;
}
