// Training behaviour: the first step of an iteration has ratio 1 and kl 0; a step moves the log-probs
// of positive-advantage responses up and negative ones down; and a few sample -> reward -> update
// iterations through node-llama-cpp and the engine raise a simple verifiable reward.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { writeTinyModel } from "../../src/gguf/index.js";
import { Generator } from "../../src/generator/index.js";
import { Engine, type BackwardItem } from "../../src/train/index.js";

const work = mkdtempSync(join(tmpdir(), "spogw-train-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const sum = (xs: Float32Array) => xs.reduce((a, b) => a + b, 0);

describe("engine training", () => {
  it("starts each iteration at ratio 1 and kl 0, then moves log-probs in the advantage's direction", async () => {
    const path = join(work, "step.gguf");
    await writeTinyModel(path, { arch: "qwen2", seed: 4, kvHeads: 2 });
    const engine = await Engine.load(path);
    try {
      engine.initLora({ rank: 8, alpha: 16, init: "zeros", seed: 1 });
      const up = Int32Array.from([1, 30, 31, 120, 121, 122, 123]);
      const down = Int32Array.from([1, 30, 31, 200, 201, 202]);
      const start = 3;
      const before = [await engine.tokenLogprobs(up, start, 1), await engine.tokenLogprobs(down, start, 1)];
      const batch: BackwardItem[] = [
        { tokens: up, responseStart: start, advantage: 1, weight: 1 / 8, oldLogp: before[0]!, refLogp: before[0]! },
        { tokens: down, responseStart: start, advantage: -1, weight: 1 / 6, oldLogp: before[1]!, refLogp: before[1]! },
      ];
      const first = await engine.backward(batch, { epsilon: 0.2, epsilonHigh: 0.2, beta: 0.1, temperature: 1, klMask: "advantage" });
      expect(first.stats.klMean).toBe(0);
      expect(first.stats.ratioMean).toBe(1);
      expect(first.stats.clipFractionLow + first.stats.clipFractionHigh).toBe(0);
      const { gradNorm } = await engine.optimizerStep({ lr: 1e-2, weightDecay: 0, beta1: 0.9, beta2: 0.999, eps: 1e-8, maxGradNorm: 0 });
      expect(gradNorm).toBeGreaterThan(0);
      const after = [await engine.tokenLogprobs(up, start, 1), await engine.tokenLogprobs(down, start, 1)];
      expect(sum(after[0]!)).toBeGreaterThan(sum(before[0]!) + 1e-3);
      expect(sum(after[1]!)).toBeLessThan(sum(before[1]!) - 1e-3);
    } finally {
      engine.dispose();
    }
  });

  it("raises the mean reward of sampled responses over ioGRPO iterations (seed 7, from < 0.2 to > 0.4), sampling from each new adapter", async () => {
    // Reward: the fraction of completion tokens in REWARDED (30 of the 275 tokens: about 0.11 at random).
    const REWARDED = new Set(Array.from({ length: 30 }, (_, i) => 100 + i));
    const reward = (tokens: number[]) => (tokens.length === 0 ? 0 : tokens.filter((t) => REWARDED.has(t)).length / tokens.length);
    const modelPath = join(work, "learn.gguf");
    await writeTinyModel(modelPath, { arch: "llama", seed: 7, kvHeads: 2 });
    const engine = await Engine.load(modelPath);
    const generator = await Generator.load({ modelPath, threads: 1, sequences: 8, contextSize: 64, exactKvCache: true });
    const prompt = [1, 40, 41, 42];
    const sampleRewards = async (seed: number, m: number) => {
      const completions = await generator.sample(prompt, { m, temperature: 1, maxTokens: 8, seed });
      return { completions, rewards: completions.map((c) => reward(c.tokens)) };
    };
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    try {
      engine.initLora({ rank: 8, alpha: 16, init: "zeros", seed: 2 });
      const startReward = mean((await sampleRewards(1000, 32)).rewards);
      for (let iteration = 0; iteration < 8; iteration++) {
        const { completions, rewards } = await sampleRewards(iteration * 100, 32);
        const mu = mean(rewards);
        const sd = Math.sqrt(mean(rewards.map((r) => (r - mu) ** 2)));
        if (sd === 0) continue;
        const batch: BackwardItem[] = [];
        for (let i = 0; i < completions.length; i++) {
          const c = completions[i]!;
          if (c.tokens.length === 0) continue;
          const tokens = Int32Array.from([...c.promptTokens, ...c.tokens]);
          const own = await engine.tokenLogprobs(tokens, c.promptTokens.length, 1);
          batch.push({ tokens, responseStart: c.promptTokens.length, advantage: (rewards[i]! - mu) / sd, weight: 1 / (completions.length * c.tokens.length), oldLogp: own, refLogp: own });
        }
        for (let epoch = 0; epoch < 2; epoch++) {
          await engine.backward(batch, { epsilon: 0.2, epsilonHigh: 0.2, beta: 0.05, temperature: 1, klMask: "advantage" });
          await engine.optimizerStep({ lr: 2e-2, weightDecay: 0, beta1: 0.9, beta2: 0.999, eps: 1e-8, maxGradNorm: 1 });
        }
        const adapterPath = join(work, `adapter-${iteration}.gguf`);
        await engine.saveLora(adapterPath);
        await generator.setAdapter({ path: adapterPath });
        // The generator now samples from exactly the policy the engine holds.
        const probe = [...prompt, 110, 111];
        const sampled = await generator.nextTokenDistributions(probe);
        const logits = await engine.logits(Int32Array.from(probe));
        const vocab = engine.config.vocabSize;
        const last = logits.subarray((probe.length - 1) * vocab);
        const max = Math.max(...last);
        const z = last.reduce((acc, v) => acc + Math.exp(v - max), 0);
        const gap = Math.max(...Array.from(last, (v, t) => Math.abs(Math.exp(v - max) / z - sampled[probe.length - 1]![t]!)));
        expect(gap, `iteration ${iteration}: generator vs engine`).toBeLessThan(1e-4);
      }
      const endReward = mean((await sampleRewards(2000, 32)).rewards);
      expect(startReward).toBeLessThan(0.2);
      expect(endReward).toBeGreaterThan(0.4);
    } finally {
      engine.dispose();
      await generator.dispose();
    }
  });
});
