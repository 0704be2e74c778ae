import yargs from "yargs";
import { describe, expect, it, vi } from "vitest";
import { benchSamplingCommand } from "../../src/cli/commands/bench/sampling.js";

describe("spogw-native bench sampling", () => {
  it("prints the machine and tokens/s for 1 and N parallel sequences side by side", async () => {
    const printed: string[] = [];
    const spy = vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
      printed.push(String(chunk));
      return true;
    });
    try {
      await yargs(["sampling", "--parallel", "3", "--tokens", "6", "--runs", "1"]).command(benchSamplingCommand).strict().exitProcess(false).parseAsync();
    } finally {
      spy.mockRestore();
    }
    const output = printed.join("");
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
    await expect(
      yargs(["sampling", "--threads", "100000", "--runs", "1"]).command(benchSamplingCommand).exitProcess(false).fail((m, e) => {
        throw e ?? new Error(m);
      }).parseAsync(),
    ).rejects.toThrow(/threads must be a whole number from 1 to/);
  });
});
