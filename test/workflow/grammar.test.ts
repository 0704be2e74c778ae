// The GBNF grammar: llama.cpp accepts it for every family (and rejects a broken one), and text sampled
// under it from a tiny random model is workflow-shaped JavaScript: closing it after its last complete
// statement always gives a program that parses.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "acorn";
import { LlamaCompletion, type LlamaModel } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getLlamaRuntime, workflowGrammar, writeTinyModel } from "../../src/index.js";

let dir: string;
let model: LlamaModel;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "spogw-grammar-"));
  await writeTinyModel(join(dir, "tiny.gguf"), { arch: "llama", seed: 9, ctx: 1024 });
  model = await (await getLlamaRuntime()).loadModel({ modelPath: join(dir, "tiny.gguf") });
});

afterAll(async () => {
  await model?.dispose();
  await rm(dir, { recursive: true, force: true });
});

describe("workflowGrammar", () => {
  it("is accepted by llama.cpp for every family; a broken grammar is not", async () => {
    const llama = await getLlamaRuntime();
    for (const family of ["math", "code", "qa"] as const) {
      await expect(llama.createGrammar({ grammar: workflowGrammar(family) })).resolves.toBeDefined();
    }
    await expect(llama.createGrammar({ grammar: workflowGrammar("math").replace("statement+", "statement+ (") })).rejects.toThrow();
  });

  it("constrains sampling to workflow-shaped code that parses once closed", async () => {
    const llama = await getLlamaRuntime();
    const context = await model.createContext({ contextSize: 1024, threads: 1 });
    try {
      const grammar = await llama.createGrammar({ grammar: workflowGrammar("code") });
      const completion = new LlamaCompletion({ contextSequence: context.getSequence() });
      for (const seed of [1, 2, 3]) {
        const text = await completion.generateCompletion("Workflow:\n", { grammar, maxTokens: 250, temperature: 1, seed });
        expect(text.startsWith("async function workflow(ops) {\n")).toBe(true);
        const lines = text.split("\n");
        // Keep whole top-level statements (a loop only once its closing brace is there).
        let kept = 1;
        let depth = 0;
        for (let i = 1; i < lines.length - 1; i++) {
          const line = lines[i]!;
          if (line.startsWith("  for (")) depth++;
          if (line === "  }") depth--;
          if (depth === 0 && !line.startsWith("  return")) kept = i + 1;
        }
        const closed = `${lines.slice(0, kept).join("\n")}\n  return "done";\n}`;
        expect(() => parse(closed, { ecmaVersion: 2022 }), closed).not.toThrow();
        expect(text).not.toMatch(/ops\.(custom|answerGenerate|review|programmer)\(/); // not code-family operators
      }
    } finally {
      await context.dispose();
    }
  });
});
