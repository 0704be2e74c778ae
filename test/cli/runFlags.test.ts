// Command-line flags map onto run settings: kebab-case names, the paper's letters, the ablation
// switches, lists and booleans; a config file sits under the flags and over an existing run's settings.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import yargs from "yargs";
import { afterAll, describe, expect, it } from "vitest";
import { configFromArgv, withRunFlags } from "../../src/cli/utils/runFlags.js";

const work = mkdtempSync(join(tmpdir(), "spogw-flags-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function parse(args: string[], base: object = {}) {
  const argv = await withRunFlags(yargs(args)).strict().exitProcess(false).fail((message, error) => {
    throw error ?? new Error(message);
  }).parseAsync();
  return configFromArgv(argv as Record<string, unknown>, base);
}

describe("run flags", () => {
  it("map onto the settings, with the paper's letters and the ablation switches", async () => {
    const c = await parse([
      "--benchmark", "humaneval", "--data-dir", "/data", "--generator", "g.gguf", "--executor", "http://127.0.0.1:1/v1",
      "-m", "8", "-n", "6", "-t", "0", "--top-n", "50", "--selection", "random", "--no-drop-zero-variance",
      "--kl-mask", "all", "--reference", "base", "--beta", "0", "--lora-targets", "attn_q", "attn_v", "--epsilon-high", "0.28",
      "--distinct-groups", "--max-groups-per-query", "3", "--preset", "d-rs",
    ]);
    expect(c).toMatchObject({
      task: "humaneval", dataDir: "/data", generator: "g.gguf", executorUrl: "http://127.0.0.1:1/v1",
      samplesPerQuery: 8, groupSize: 6, keep: 0, topN: 50, selection: "random", dropZeroVariance: false,
      klMask: "all", reference: "base", beta: 0, loraTargets: ["attn_q", "attn_v"], epsilonHigh: 0.28,
      distinctGroups: true, maxGroupsPerQuery: 3, preset: "d-rs",
    });
    expect(c.iterations).toBe(3);
  });

  it("layer a run's settings < the config file < flags", async () => {
    const file = join(work, "run.yaml");
    writeFileSync(file, "beta: 0.2\ntopN: 40\n");
    const c = await parse(["--config", file, "--top-n", "30"], { task: "simulated", generator: "g.gguf", beta: 0.05, epochs: 3 });
    expect([c.beta, c.topN, c.epochs]).toEqual([0.2, 30, 3]);
    await expect(parse(["--task", "simulated", "--generator", "g.gguf", "--kl-mask", "sometimes"])).rejects.toThrow(/klMask: must be one of "advantage", "all", got "sometimes"/);
    await expect(parse(["--task", "simulated", "--generator", "g.gguf", "--top-m", "3"])).rejects.toThrow(/Unknown argument/);
  });
});
