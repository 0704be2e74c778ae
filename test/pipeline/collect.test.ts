// The collect phase with a task whose parser and executor misbehave: invalid workflows are
// regenerated up to maxAttempts and then score 0 with their reason; a throwing execution or a score
// outside [0, 1] is recorded as an error scoring 0; nothing stops the phase.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeTinyModel } from "../../src/gguf/index.js";
import { hostFacts } from "../../src/native/platform.js";
import { generatorUsesGpu, openRun, resolveConfig, runCollect, type WorkflowTask } from "../../src/pipeline/index.js";

const work = mkdtempSync(join(tmpdir(), "spogw-collect-"));
const model = join(work, "model.gguf");
beforeAll(() => writeTinyModel(model, { arch: "llama", seed: 2, kvHeads: 2 }));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const awkwardTask: WorkflowTask = {
  name: "awkward",
  simulated: true,
  queries: [{ id: "a", prompt: "first query\n" }, { id: "b", prompt: "second query\n" }],
  stop: [],
  parse(completion) {
    if (completion.tokens[0]! % 2 === 0) throw new Error("even first token");
    return { ok: true, workflow: `odd ${completion.tokens[0]}` };
  },
  async execute(_workflow, _query, run) {
    if (run === 0) throw new Error("boom");
    return { score: run === 1 ? 1.5 : 0.5, error: null, executorTokens: 10 };
  },
  async close() {},
};

describe("collect", () => {
  it("regenerates invalid workflows up to maxAttempts and records every failure as a 0 with its reason", async () => {
    const config = resolveConfig({ task: "simulated", generator: model, samplesPerQuery: 6, groupSize: 2, keep: 0, maxAttempts: 3, maxTokens: 3, scoreRuns: 3 });
    const ctx = openRun(join(work, "run"), config, awkwardTask);
    try {
      const summary = await runCollect(ctx, 0);
      const samples = ctx.store.samples(0);
      expect(samples).toHaveLength(12);
      const invalid = samples.filter((s) => s.workflow === null);
      expect(invalid.length).toBeGreaterThan(0); // with this model and seed some slots stay invalid
      for (const s of invalid) {
        expect(s.attempts).toBe(3);
        expect(s.invalidReason).toBe("the parser failed: even first token");
        expect(s.completionTokens[0]! % 2).toBe(0);
      }
      for (const s of samples.filter((x) => x.workflow !== null)) expect(s.completionTokens[0]! % 2).toBe(1);
      // About half of the first draws are even; regeneration rescues most of them.
      expect(samples.some((s) => s.workflow !== null && s.attempts > 1)).toBe(true);
      const executions = ctx.store.executions(0);
      expect(executions).toHaveLength(36);
      for (const e of executions) {
        const valid = samples.find((s) => s.queryId === e.queryId && s.sampleIndex === e.sampleIndex)!.workflow !== null;
        if (!valid) expect([e.score, e.error]).toEqual([0, "invalid workflow: the parser failed: even first token"]);
        else if (e.run === 0) expect([e.score, e.error]).toEqual([0, "execution failed: boom"]);
        else if (e.run === 1) expect([e.score, e.error]).toEqual([0, "score 1.5 is outside [0, 1]"]);
        else expect([e.score, e.error]).toEqual([0.5, null]);
      }
      const valid = samples.length - invalid.length;
      expect(summary).toMatchObject({ samples: 12, invalid: invalid.length, executions: 36, failedExecutions: 36 - valid });
      // The iteration records which arithmetic sampled it: the CPU build here unless a driver is loaded.
      const gpu = hostFacts().nvidiaDriver !== null;
      expect(generatorUsesGpu("auto")).toBe(gpu);
      expect(generatorUsesGpu("off")).toBe(false);
      expect(ctx.store.getMeta("samplerArithmetic.0")).toMatch(gpu ? /^llama\.cpp CUDA, all layers on the GPU/ : /^llama\.cpp CPU, F32 KV cache, no flash attention: the training engine's probabilities/);
      expect(summary.meanScore).toBeCloseTo((valid * (0.5 / 3)) / 12, 12);
    } finally {
      await ctx.close();
    }
  }, 120_000);
});
