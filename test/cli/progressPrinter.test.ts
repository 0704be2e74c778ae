// Progress lines: the rate counts only this invocation's work, the ETA follows from it.
import { describe, expect, it } from "vitest";
import { formatDuration, progressLine } from "../../src/cli/utils/progressPrinter.js";

describe("progress lines", () => {
  it("shows done/total, the rate of fresh work and the ETA", () => {
    // 30 of 100 done, 10 of them found done at the start: 20 in 4 s = 5/s; 70 left -> 14 s.
    const line = progressLine({ iteration: 1, phase: "execute", done: 30, total: 100, unit: "executions", resumedFrom: 10 }, 4000);
    expect(line).toBe("iteration 1 execute  [#######.................] 30/100 executions 5.00/s ETA 14s, 10 resumed");
    const finished = progressLine({ iteration: 0, phase: "update", done: 8, total: 8, unit: "steps", resumedFrom: 0 }, 2000, "[SIMULATED] ");
    expect(finished).toBe("[SIMULATED] iteration 0 update   [########################] 8/8 steps 4.00/s ETA 0s");
    expect(progressLine({ iteration: 0, phase: "generate", done: 0, total: 5, unit: "workflows", resumedFrom: 0 }, 0)).toContain("0.00/s ETA ?");
  });

  it("formats durations", () => {
    expect([formatDuration(14.4), formatDuration(61), formatDuration(3725), formatDuration(Infinity)]).toEqual(["14s", "1m01s", "1h02m", "?"]);
  });
});
