// `spogw-native bench workflows` prints the machine and one row per mode with consistent numbers.
import { describe, expect, it } from "vitest";
import { benchWorkflowsCommand } from "../../src/cli/commands/bench/workflows.js";
import { stdoutOf } from "../helpers/cli.js";

const run = (args: string[]) => stdoutOf(benchWorkflowsCommand, args);

describe("spogw-native bench workflows", () => {
  it("times sandboxed runs one at a time and concurrently beside the unsandboxed reference", async () => {
    const output = await run(["workflows", "--runs", "6", "--concurrency", "3"]);
    expect(output).toMatch(/^machine: .*\d+ cores/m);
    const rows = output.split("\n").filter((l) => /^(sandbox|unsandboxed)/.test(l));
    expect(rows.map((r) => r.split(/\s{2,}/)[0])).toEqual(["sandbox, 1 at a time", "sandbox, 3 at a time", "unsandboxed reference, 1 at a time"]);
    for (const row of rows) {
      const [, runs, wallS, msPerRun] = row.trim().split(/\s{2,}/);
      expect(Number(runs)).toBe(6);
      expect(Number(msPerRun)).toBeCloseTo((Number(wallS) * 1000) / 6, -1);
    }
  });

  it("refuses a non-positive run count", async () => {
    await expect(run(["workflows", "--runs", "0"])).rejects.toThrow(/--runs must be a positive whole number/);
  });
});
