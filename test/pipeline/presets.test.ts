// The paper's ablation presets through the train command: `train RUN --preset X --print-config --json`
// prints the resolved settings and creates nothing; each preset sets its table's axis as the paper's
// row says (Table 4's D_RS, D_RSF and D_S train on groups of 8 as they are, D_SS on 14 sharpened to 8),
// with the other axis at SPOGW's; a config file and flags override a preset; the preset is stored
// with the run and a resume keeps it.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { trainCommand } from "../../src/cli/commands/train.js";
import { createSimulatedTask, DEFAULT_CONFIG, openRun, resolveConfig, storedConfig, type RunConfig } from "../../src/pipeline/index.js";
import { PRESET_NAMES, presetOverrides } from "../../src/pipeline/presets.js";
import { runCommand } from "../helpers/cli.js";

const work = mkdtempSync(join(tmpdir(), "spogw-presets-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function printConfig(run: string, args: string[]): Promise<RunConfig> {
  const { stdout } = await runCommand(trainCommand, ["train", run, "--task", "simulated", "--generator", "g.gguf", ...args, "--print-config", "--json"]);
  return JSON.parse(stdout) as RunConfig;
}

const SPOGW_KL = { beta: 0.1, reference: "previous", klMask: "advantage" };
const D_SS = { groupSize: 14, keep: 4, selection: "variance", dropZeroVariance: true };

// Each preset's axis, written out from the paper (section 4.3, Table 3 and Table 4, Figure 2).
const EXPECTED: Record<string, Partial<RunConfig>> = {
  "no-kl": { beta: 0, ...D_SS },
  "kl-base": { beta: 0.1, reference: "base", klMask: "all", ...D_SS },
  "kl-previous-nomask": { beta: 0.1, reference: "previous", klMask: "all", ...D_SS },
  spogw: { ...SPOGW_KL, ...D_SS },
  "d-rs": { groupSize: 8, keep: 0, selection: "random", dropZeroVariance: false, ...SPOGW_KL },
  "d-rsf": { groupSize: 8, keep: 0, selection: "random", dropZeroVariance: true, ...SPOGW_KL },
  "d-s": { groupSize: 8, keep: 0, selection: "variance", dropZeroVariance: true, ...SPOGW_KL },
  "d-ss": { ...D_SS, ...SPOGW_KL },
} as Record<string, Partial<RunConfig>>;

describe("presets", () => {
  it("--print-config --json prints every preset's resolved settings and creates no run", async () => {
    expect([...PRESET_NAMES].sort()).toEqual(Object.keys(EXPECTED).sort());
    for (const name of PRESET_NAMES) {
      const run = join(work, `print-${name}`);
      const config = await printConfig(run, ["--preset", name]);
      expect(existsSync(run), name).toBe(false);
      expect(config, name).toMatchObject({ preset: name, ...EXPECTED[name] });
      // Everything else is the default.
      const others = Object.keys(DEFAULT_CONFIG).filter((f) => !(f in EXPECTED[name]!) && f !== "preset");
      for (const f of others) expect(config[f as keyof RunConfig], `${name}: ${f}`).toEqual(DEFAULT_CONFIG[f as keyof typeof DEFAULT_CONFIG]);
      expect(presetOverrides(config)).toEqual([]);
    }
  });

  it("screening is exact for every preset at the paper's m = 16: C(16, 8) = 12870 and C(16, 14) = 120 are at most maxCombinations", async () => {
    for (const name of PRESET_NAMES) expect((await printConfig(join(work, "exact"), ["--preset", name])).maxCombinations).toBeGreaterThanOrEqual(12870);
  });

  it("layers defaults < preset < config file < flags, and says which settings differ from the preset", async () => {
    const file = join(work, "run.yaml");
    writeFileSync(file, "preset: d-rs\ntopN: 50\n");
    expect(await printConfig(join(work, "x"), ["--config", file])).toMatchObject({ preset: "d-rs", groupSize: 8, keep: 0, selection: "random", topN: 50 });
    const overridden = await printConfig(join(work, "x"), ["--config", file, "--group-size", "6"]);
    expect(overridden).toMatchObject({ preset: "d-rs", groupSize: 6, selection: "random" });
    expect(presetOverrides(overridden)).toEqual(["groupSize"]);
    // A flag's preset wins over the file's.
    expect(await printConfig(join(work, "x"), ["--config", file, "--preset", "d-s"])).toMatchObject({ preset: "d-s", selection: "variance", dropZeroVariance: true, topN: 50 });
    await expect(printConfig(join(work, "x"), ["--preset", "d-xx"])).rejects.toThrow(/preset: must be one of "no-kl", .*"d-ss", got "d-xx"/);
  });

  it("is stored with the run: a resume keeps the run's preset and refuses another", async () => {
    const dir = join(work, "stored");
    const task = () => createSimulatedTask({ queries: 2, seed: 0 });
    const config = resolveConfig({ task: "simulated", generator: "g.gguf", preset: "d-rsf" });
    await openRun(dir, config, task()).close();
    const stored = storedConfig(dir)!;
    expect(stored).toMatchObject({ preset: "d-rsf", groupSize: 8, selection: "random", dropZeroVariance: true });
    // `train RUN` alone resumes with the stored settings (they lie over the preset layer).
    await openRun(dir, resolveConfig(stored), task()).close();
    expect(() => openRun(dir, resolveConfig(stored, { preset: "d-s" }), task())).toThrow(/preset: the run has "d-rsf", this invocation asks for "d-s"/);
  });
});
