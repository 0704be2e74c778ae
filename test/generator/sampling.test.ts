import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Generator, type Completion } from "../../src/generator/index.js";
import { writeTinyModel } from "../../src/gguf/index.js";

const PROMPT = "<|im_start|>user\nthe cat<|im_end|>\n<|im_start|>assistant\n";
const IM_START = 273;
let dir: string;
let qwen: Generator;
let llama: Generator;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "spogw-sampling-"));
  await writeTinyModel(join(dir, "qwen2.gguf"), { arch: "qwen2", kvHeads: 2, seed: 1 });
  await writeTinyModel(join(dir, "llama.gguf"), { arch: "llama", seed: 2 });
  qwen = await Generator.load({ modelPath: join(dir, "qwen2.gguf"), threads: 1, sequences: 4, contextSize: 128 });
  llama = await Generator.load({ modelPath: join(dir, "llama.gguf"), threads: 1, sequences: 2, contextSize: 64 });
});
afterAll(async () => {
  await qwen?.dispose();
  await llama?.dispose();
  await rm(dir, { recursive: true, force: true });
});

const tokensOf = (completions: Completion[]) => completions.map((c) => c.tokens);

describe("Generator.sample", () => {
  it("gives the same tokens for the same seed, other tokens for another seed", async () => {
    const options = { m: 6, maxTokens: 24, temperature: 1, seed: 42 };
    const first = await qwen.sample(PROMPT, options);
    const again = await qwen.sample(PROMPT, options);
    const other = await qwen.sample(PROMPT, { ...options, seed: 1000 });
    expect(tokensOf(again)).toEqual(tokensOf(first));
    expect(tokensOf(other)).not.toEqual(tokensOf(first));
    expect(first.map((c) => c.seed)).toEqual([42, 43, 44, 45, 46, 47]);
    // Another generator with the same settings gives the same tokens (6 completions share 4 sequences
    // here; batchIndependence.test.ts compares other sequence counts and threads).
    const second = await Generator.load({ modelPath: join(dir, "qwen2.gguf"), threads: 1, sequences: 4, contextSize: 128 });
    try {
      expect(tokensOf(await second.sample(PROMPT, options))).toEqual(tokensOf(first));
    } finally {
      await second.dispose();
    }
    expect(new Set(first.map((c) => c.tokens.join(","))).size).toBeGreaterThan(1); // completions differ from each other
  });

  it("records the prompt tokens exactly and text that re-detokenizes from the tokens", async () => {
    const completions = await qwen.sample(PROMPT, { m: 4, maxTokens: 32, seed: 3 });
    const expectedPrompt = qwen.tokenize(PROMPT);
    expect(expectedPrompt.filter((t) => t === IM_START)).toHaveLength(2); // control tokens parsed, not spelled out
    for (const c of completions) {
      expect(c.promptTokens).toEqual(expectedPrompt);
      expect(qwen.detokenize(c.tokens)).toBe(c.text);
    }
    const given = [IM_START, 116, 257, 32];
    const [fromIds] = await qwen.sample(given, { m: 1, maxTokens: 4, seed: 3 });
    expect(fromIds!.promptTokens).toEqual(given);
  });

  it("prepends BOS only for models that ask for it", () => {
    expect(llama.tokenize("hi")[0]).toBe(272); // llama tiny model: add_bos_token = true, bos = <|endoftext|>
    expect(llama.tokenize("hi")).toHaveLength(3);
    expect(qwen.tokenize("hi")).toEqual([104, 105]);
  });

  it("greedy decoding follows the argmax of the model's next-token distributions", async () => {
    const prompt = qwen.tokenize(PROMPT);
    const [greedy] = await qwen.sample(prompt, { m: 1, maxTokens: 8, temperature: 0 });
    const generated = greedy!.tokens;
    const distributions = await qwen.nextTokenDistributions([...prompt, ...generated]);
    generated.forEach((token, i) => {
      const distribution = distributions[prompt.length - 1 + i]!;
      expect(token).toBe(distribution.indexOf(Math.max(...distribution)));
    });
    // A vanishing top-p keeps only the most likely token: the same as greedy, whatever the seed.
    const [nucleus] = await qwen.sample(prompt, { m: 1, maxTokens: 8, temperature: 1, topP: 1e-9, seed: 99 });
    expect(nucleus!.tokens).toEqual(greedy!.tokens);
  });

  it("samples the first token with the model's probabilities", async () => {
    const prompt = qwen.tokenize(PROMPT);
    const distribution = (await qwen.nextTokenDistributions(prompt))[prompt.length - 1]!;
    const top = distribution.indexOf(Math.max(...distribution));
    const n = 400;
    const firsts = (await qwen.sample(prompt, { m: n, maxTokens: 1, seed: 7 })).map((c) => c.tokens[0]);
    for (const token of firsts) expect(distribution[token!]).toBeGreaterThan(0);
    const p = distribution[top]!;
    const observed = firsts.filter((t) => t === top).length / n;
    expect(Math.abs(observed - p)).toBeLessThan(5 * Math.sqrt((p * (1 - p)) / n));
  });

  it("ends with the right finish reason: length, end of generation, stop string", async () => {
    const many = await qwen.sample(PROMPT, { m: 24, maxTokens: 40, seed: 0 });
    const byLength = many.filter((c) => c.finishReason === "length");
    const byEog = many.filter((c) => c.finishReason === "eog");
    expect(byLength.length).toBeGreaterThan(0);
    expect(byEog.length).toBeGreaterThan(0);
    for (const c of byLength) {
      expect(c.tokens).toHaveLength(40);
      expect(c.tokens.some((t) => qwen.isEndOfGeneration(t))).toBe(false);
    }
    for (const c of byEog) {
      expect(qwen.isEndOfGeneration(c.tokens.at(-1)!)).toBe(true);
      expect(c.tokens.slice(0, -1).some((t) => qwen.isEndOfGeneration(t))).toBe(false);
    }

    // Take text the model really produced, and stop on it: generation must end at the first token
    // whose text completes that string, with the same tokens up to there.
    const long = byLength[0]!;
    const stopTokenIndex = 20;
    const stop = qwen.detokenize(long.tokens.slice(stopTokenIndex - 2, stopTokenIndex + 1));
    const [stopped] = await qwen.sample(PROMPT, { m: 1, maxTokens: 40, seed: long.seed, stop: [stop, "never appears: ~~~~"] });
    expect(stopped!.finishReason).toBe("stop");
    expect(stopped!.stopString).toBe(stop);
    const firstEnd = Array.from({ length: 41 }, (_, n) => n).find((n) => qwen.detokenize(long.tokens.slice(0, n)).includes(stop))!;
    expect(stopped!.tokens).toEqual(long.tokens.slice(0, firstEnd));
    expect(stopped!.text).toContain(stop);
  });

  it("refuses bad requests with clear errors", async () => {
    await expect(qwen.sample(PROMPT, { m: 0 })).rejects.toThrow(/m must be a positive whole number/);
    await expect(qwen.sample(PROMPT, { m: 1, topP: 0 })).rejects.toThrow(/topP must be in \(0, 1\]/);
    await expect(qwen.sample(PROMPT, { m: 1, temperature: -1 })).rejects.toThrow(/temperature must be >= 0/);
    await expect(qwen.sample(PROMPT, { m: 1, maxTokens: 500 })).rejects.toThrow(/exceed the context size 128/);
    await expect(qwen.sample([1, 999], { m: 1 })).rejects.toThrow(/prompt\[1\] = 999 is not a token id/);
    await expect(qwen.sample("", { m: 1 })).rejects.toThrow(/no tokens/);
    await expect(qwen.sample(PROMPT, { m: 1, maxTokens: 4, stop: [""] })).rejects.toThrow(/must not be empty/);
    await expect(qwen.sample(PROMPT, { m: 2, maxTokens: 4, seed: 0xffffffff })).rejects.toThrow(/seed must be a whole number from 0 to 2\^32 - m/);
    // The generator still works after refusing.
    expect(await qwen.sample(PROMPT, { m: 1, maxTokens: 2 })).toHaveLength(1);
  });
});
