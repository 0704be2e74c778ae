// The embedded executor on a tiny self-written GGUF model: ChatML rendering from the model's own
// template, greedy answers reproducible, seeds and temperature honoured, token usage reported.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EmbeddedExecutor, Generator, renderChatPrompt, writeTinyModel } from "../../src/index.js";

let dir: string;
let modelPath: string;
let executor: EmbeddedExecutor;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "spogw-embedded-"));
  modelPath = join(dir, "tiny.gguf");
  await writeTinyModel(modelPath, { arch: "qwen2", seed: 5, ctx: 512 });
  executor = await EmbeddedExecutor.load({ modelPath, threads: 1, sequences: 2, maxTokens: 12 });
});

afterAll(async () => {
  await executor?.close();
  await rm(dir, { recursive: true, force: true });
});

describe("EmbeddedExecutor", () => {
  const request = { messages: [{ role: "system" as const, content: "Be brief." }, { role: "user" as const, content: "Name a colour." }] };

  it("renders the model's ChatML template and answers exactly as the generator does on that prompt", async () => {
    expect(executor.chatFormat).toBe("chatml");
    const prompt = renderChatPrompt(request.messages, "chatml");
    expect(prompt).toBe("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nName a colour.<|im_end|>\n<|im_start|>assistant\n");
    const result = await executor.complete(request);
    const generator = await Generator.load({ modelPath, threads: 1, sequences: 1 });
    try {
      const [direct] = await generator.sample(prompt, { m: 1, temperature: 0, maxTokens: 12 });
      expect(result.text).toBe(direct!.text);
      expect(result.usage).toEqual({ promptTokens: direct!.promptTokens.length, completionTokens: direct!.tokens.length });
      expect(result.finishReason).toBe(direct!.finishReason === "length" ? "length" : "stop");
    } finally {
      await generator.dispose();
    }
  });

  it("is reproducible: greedy twice gives the same text; a sampled answer depends on its seed only", async () => {
    const a = await executor.complete(request);
    const b = await executor.complete(request);
    expect(a.text).toBe(b.text);
    const hot = { ...request, temperature: 1.5, maxTokens: 24 };
    const s1 = await executor.complete({ ...hot, seed: 1 });
    const s1again = await executor.complete({ ...hot, seed: 1 });
    const others = await Promise.all([2, 3, 4].map((seed) => executor.complete({ ...hot, seed })));
    expect(s1again.text).toBe(s1.text);
    expect(others.some((o) => o.text !== s1.text)).toBe(true);
    expect(executor.stats().calls).toBe(8);
    expect(executor.stats().promptTokens).toBeGreaterThan(0);
  });
});
