// `spogw-native bench sampling`, parsed as the CLI parses it: the machine, then tokens/s for 1 and N
// parallel sequences of a tiny model side by side.
import { describe, expect, it } from "vitest";
import { benchSamplingCommand } from "../../src/cli/commands/bench/sampling.js";
import { stdoutOf } from "../helpers/cli.js";

describe("spogw-native bench sampling", () => {
  it("prints the machine and tokens/s for 1 and N parallel sequences side by side", async () => {
    const output = await stdoutOf(benchSamplingCommand, ["sampling", "--parallel", "3", "--tokens", "6", "--runs", "1"]);
    expect(output).toMatch(/^machine: .*\d+ cores/m);
    const rows = output.split("\n").filter((line) => /^(1 sequence|3 parallel)\s{2,}\d/.test(line));
    expect(rows).toHaveLength(2);
    for (const row of rows) {
      const [, sequences, tokens, , totalRate] = row.trim().split(/\s{2,}/);
      expect(Number(tokens)).toBeGreaterThan(0);
      expect(Number(tokens)).toBeLessThanOrEqual(Number(sequences) * 6);
      expect(Number(totalRate)).toBeGreaterThan(0);
    }
    expect(output).toMatch(/3 parallel sequences give [\d.]+x the total tokens\/s of 1 sequence/);
  });

  it("refuses a thread count above the machine's cores", async () => {
    await expect(stdoutOf(benchSamplingCommand, ["sampling", "--threads", "100000", "--runs", "1"])).rejects.toThrow(/threads must be a whole number from 1 to/);
  });
});
