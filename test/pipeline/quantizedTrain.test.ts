// A whole `train` iteration on a Q4_K_M-style model (Q4_K with Q6_K where llama.cpp's Q4_K_M puts it):
// node-llama-cpp samples from the quantized file, the engine trains LoRA on its blocks (never a float
// copy), the adapter it writes loads in llama.cpp for the next iteration's sampling, and the sampler
// and the engine see the same model.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { trainCommand } from "../../src/cli/commands/train.js";
import { readGgufHeader, writeTinyModel } from "../../src/gguf/index.js";
import { createSimulatedTask, openRun, resolveConfig } from "../../src/pipeline/index.js";
import { maxProbabilityGap } from "../helpers/probabilityGap.js";
import { runCommand } from "../helpers/cli.js";
import { runState } from "../helpers/runState.js";

const work = mkdtempSync(join(tmpdir(), "spogw-quant-train-"));
const model = join(work, "q4_k_m.gguf");
beforeAll(() => writeTinyModel(model, { arch: "qwen2", dtype: "q4_k_m", embd: 256, ff: 512, heads: 4, kvHeads: 2, layers: 2, seed: 6 }));
afterAll(() => rmSync(work, { recursive: true, force: true }));

it("trains one iteration on a Q4_K_M model with the simulated task, then samples from the new adapter", async () => {
  const types = new Set(readGgufHeader(model).tensors.map((t) => t.type.name));
  expect([...types].sort()).toEqual(["F32", "Q4_K", "Q6_K"]);

  const dir = join(work, "run");
  const settings = ["--task", "simulated", "--generator", model, "--simulated-queries", "4", "-m", "5", "-n", "3", "-t", "1", "--max-tokens", "32",
    "--iterations", "1", "--engine-threads", "1", "--generator-sequences", "1"];
  await runCommand(trainCommand, ["train", dir, ...settings]);
  const state = runState(dir) as Record<string, Array<Record<string, unknown>>>;
  const phases = state.phases!.map((p) => `${p.iteration}:${p.phase}`);
  expect(phases).toEqual(expect.arrayContaining(["0:collect", "0:dataset", "0:update", "1:collect"]));
  const collect = JSON.parse(String(state.phases!.find((p) => p.phase === "collect")!.summary)) as { invalid: number; failedExecutions: number };
  expect([collect.invalid, collect.failedExecutions]).toEqual([0, 0]);
  expect(state.logprobs!.length).toBeGreaterThan(0);
  const steps = state.updateSteps!;
  expect(steps.length).toBeGreaterThan(0);
  for (const s of steps) expect(Number.isFinite(s.loss) && Number.isFinite(s.grad_norm)).toBe(true);
  // The first step of an iteration starts from old = ref = the engine's own log-probs: ratio 1, kl 0.
  const first = JSON.parse(String(steps[0]!.stats)) as { ratioMean: number; klMean: number };
  expect(first.ratioMean).toBeCloseTo(1, 5);
  expect(first.klMean).toBeCloseTo(0, 6);
  expect(steps.some((s) => (s.grad_norm as number) > 0)).toBe(true);
  // Iteration 1's samples came from llama.cpp with the adapter the update wrote.
  expect(state.adapters!.map((a) => a.iteration)).toEqual([1]);
  expect(state.samples!.filter((s) => s.iteration === 1).length).toBe(20);

  // The run's sampler (node-llama-cpp on the quantized file) and its engine agree on the next-token
  // distributions: the engine reproduces llama.cpp's quantized arithmetic.
  const config = resolveConfig({ task: "simulated", generator: model, generatorSequences: 1 });
  const ctx = openRun(join(work, "check"), config, createSimulatedTask({ queries: 2, seed: 0 }));
  try {
    const tokens = Array.from({ length: 40 }, (_, i) => 1 + ((i * 29 + 7) % 250));
    const sampler = await (await ctx.generatorFor(0)).nextTokenDistributions(tokens);
    const engine = await ctx.trainingEngine();
    const logits = await engine.logits(Int32Array.from(tokens));
    expect(maxProbabilityGap(logits, engine.config.vocabSize, sampler.length, (i, t) => sampler[i]![t]!)).toBeLessThan(1e-5);
    expect(engine.weightInfo().filter((w) => w.kernel === "repack").length).toBeGreaterThan(0);
  } finally {
    await ctx.close();
  }
}, 300_000);
