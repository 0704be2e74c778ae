// A completion's tokens depend only on its prompt, seed, model, adapter and sampling options: sampled 20
// at a time on 8 parallel sequences (lanes reused as completions finish) they equal the same completions
// sampled one call each on a one-sequence generator, and on two threads instead of one. Checked with a LoRA adapter,
// free and grammar-constrained, with llama.cpp's F16 KV cache, whose rounding turns the smallest
// difference in a batch's arithmetic into a different token soonest (free-running batches gave 1 changed
// completion in 48 there), and with the F32 cache the runs use.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Generator, type SampleOptions } from "../../src/generator/index.js";
import { buildTinyModel, encodeGguf, makeRandomLoraAdapter, parseGguf, writeGgufFile, writeLoraAdapter } from "../../src/gguf/index.js";

const work = mkdtempSync(join(tmpdir(), "spogw-batch-"));
const modelPath = join(work, "model.gguf");
const adapterPath = join(work, "adapter.gguf");
const PROMPTS = ["Simulated task 3: write a workflow of operator calls.\n", "Plan the steps:\n"];
const M = 20;
/** The demo's workflow grammar with up to 12 steps instead of 4: longer completions meet more batches. */
const STEPS_GRAMMAR = `root ::= step${" step?".repeat(11)}\nstep ::= ("custom" | "review" | "ensemble") "\\n"\n`;

beforeAll(async () => {
  const model = buildTinyModel({ arch: "llama", seed: 7, kvHeads: 2 });
  await writeGgufFile(modelPath, model);
  await writeLoraAdapter(adapterPath, makeRandomLoraAdapter(parseGguf(encodeGguf(model)), { rank: 4, alpha: 8, seed: 3, std: 0.3 }));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const load = (sequences: number, threads: number, exactKvCache: boolean) =>
  Generator.load({ modelPath, adapter: { path: adapterPath }, sequences, threads, exactKvCache, contextSize: 256 });

describe.each([
  { cache: "F16", exactKvCache: false },
  { cache: "F32", exactKvCache: true },
])("sampling with the $cache KV cache", ({ exactKvCache }) => {
  it.each([
    { mode: "free", options: { temperature: 1.2, maxTokens: 40 } },
    { mode: "grammar-constrained", options: { temperature: 1.2, maxTokens: 48, grammar: STEPS_GRAMMAR } },
  ])("gives every $mode completion the tokens it has when sampled alone", async ({ options }: { options: Omit<SampleOptions, "m"> }) => {
    const wide = await load(8, 1, exactKvCache);
    const together = [];
    try {
      for (const [p, prompt] of PROMPTS.entries()) together.push(await wide.sample(prompt, { ...options, m: M, seed: 100 * p }));
      // Fewer completions than sequences: the same first three.
      const three = await wide.sample(PROMPTS[0]!, { ...options, m: 3, seed: 0 });
      expect(three.map((c) => c.tokens)).toEqual(together[0]!.slice(0, 3).map((c) => c.tokens));
    } finally {
      await wide.dispose();
    }
    const alone = await load(1, 1, exactKvCache);
    try {
      for (const [p, prompt] of PROMPTS.entries()) {
        for (let i = 0; i < M; i++) {
          const [completion] = await alone.sample(prompt, { ...options, m: 1, seed: 100 * p + i });
          expect(completion!.tokens, `prompt ${p}, completion ${i}`).toEqual(together[p]![i]!.tokens);
        }
      }
    } finally {
      await alone.dispose();
    }
    // Two threads (short: on a loaded machine a second thread mostly waits).
    const twoThreads = await load(8, 2, exactKvCache);
    try {
      const short = await twoThreads.sample(PROMPTS[1]!, { ...options, m: 2, maxTokens: 6, seed: 100 });
      expect(short.map((c) => c.tokens)).toEqual(together[1]!.slice(0, 2).map((c) => c.tokens.slice(0, 6)));
    } finally {
      await twoThreads.dispose();
    }
    // The completions are not all alike, so equal tokens say something.
    expect(new Set(together.flat().map((c) => c.text)).size).toBeGreaterThan(10);
  }, 120_000);
});
