// Grammar-constrained sampling: every completion is a sentence of the grammar and ends with the
// end-of-generation token once the grammar is complete; a seed reproduces exactly (batchIndependence
// checks this on 8 parallel sequences); a malformed grammar is refused with llama.cpp's reason.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeTinyModel } from "../../src/gguf/index.js";
import { Generator } from "../../src/generator/index.js";

const work = mkdtempSync(join(tmpdir(), "spogw-grammar-"));
let generator: Generator;
const STEPS_GRAMMAR = 'root ::= step step? step?\nstep ::= ("custom" | "review" | "ensemble") "\\n"\n';
const SENTENCE = /^((custom|review|ensemble)\n){1,3}$/;

beforeAll(async () => {
  const modelPath = join(work, "m.gguf");
  await writeTinyModel(modelPath, { arch: "qwen2", seed: 5, kvHeads: 2 });
  generator = await Generator.load({ modelPath, threads: 1, sequences: 1, contextSize: 96 });
});
afterAll(async () => {
  await generator?.dispose();
  rmSync(work, { recursive: true, force: true });
});

describe("grammar-constrained sampling", () => {
  it("samples only sentences of the grammar, each ended by the end-of-generation token", async () => {
    const completions = await generator.sample("Plan:\n", { m: 12, temperature: 1.5, maxTokens: 40, seed: 3, grammar: STEPS_GRAMMAR });
    for (const c of completions) {
      expect(c.text).toMatch(SENTENCE);
      expect(c.finishReason).toBe("eog");
      expect(generator.isEndOfGeneration(c.tokens[c.tokens.length - 1]!)).toBe(true);
    }
    // Unconstrained, the same model and seeds write other text.
    const free = await generator.sample("Plan:\n", { m: 12, temperature: 1.5, maxTokens: 40, seed: 3 });
    expect(free.filter((c) => SENTENCE.test(c.text)).length).toBeLessThan(12);
  });

  it("gives the same completions for the same seed", async () => {
    const a = await generator.sample("Plan:\n", { m: 4, temperature: 1, maxTokens: 40, seed: 9, grammar: STEPS_GRAMMAR });
    const b = await generator.sample("Plan:\n", { m: 4, temperature: 1, maxTokens: 40, seed: 9, grammar: STEPS_GRAMMAR });
    expect(b.map((c) => c.tokens)).toEqual(a.map((c) => c.tokens));
  });

  it("refuses a malformed grammar with llama.cpp's reason", async () => {
    await expect(generator.sample("Plan:\n", { m: 1, maxTokens: 8, grammar: "root ::= (" })).rejects.toThrow(/could not parse the grammar: .*parse/);
  });
});
