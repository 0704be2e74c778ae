// `spogw-native bench scoring`, parsed as the CLI parses it: the pool and one-at-a-time checking of the
// same reference solutions in the Python sandbox, side by side.
import { rmSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { benchCommand } from "../../src/cli/commands/bench.js";
import { runCommand } from "../helpers/cli.js";
import { humanEvalSubset } from "../helpers/dataDir.js";

describe("spogw-native bench scoring", () => {
  it("times the pool and one-at-a-time checking of the same solutions in one run", async () => {
    const dir = humanEvalSubset(3);
    try {
      const { stdout } = await runCommand(benchCommand, ["bench", "scoring", "--data-dir", dir, "--concurrency", "2"]);
      expect(stdout).toMatch(/^machine: .+ cores/m);
      expect(stdout).toMatch(/^pool of 2\s+6\s+6\s+[\d.]+\s+[\d.]+\s+[\d.]+x$/m);
      expect(stdout).toMatch(/^one at a time\s+6\s+6\s+[\d.]+\s+[\d.]+\s+[\d.]+x$/m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
