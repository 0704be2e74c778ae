// `spogw-native demo`: three iterations offline on this machine, every line saying it is simulated,
// the JSON line last, and the mean score after the last update clearly above the first iteration's; a
// second uninterrupted demo with the same seed ends in the same state (numbers and adapter bytes).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runCommand as run } from "../helpers/cli.js";
import { runState } from "../helpers/runState.js";
import { demoCommand } from "../../src/cli/commands/demo.js";
import { statusCommand } from "../../src/cli/commands/status.js";

const work = mkdtempSync(join(tmpdir(), "spogw-demo-test-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("spogw-native demo", () => {
  it("raises the mean workflow score over 3 iterations (seed 0: final - iteration 0 >= 0.15)", async () => {
    const dir = join(work, "run");
    const { stdout, stderr } = await run(demoCommand, ["demo", "--json", "--run", dir, "--seed", "0"]);
    const lines = stdout.trimEnd().split("\n");
    const summary = JSON.parse(lines.at(-1)!) as {
      iterations: Array<{ iteration: number; meanScore: number; workflows: number; invalid: number; groups: number; loss: number; warning: string | null }>; final: { meanScore: number };
    };
    expect(Object.keys(summary)).toEqual(["iterations", "final"]);
    expect(summary.iterations.map((i) => Object.keys(i))).toEqual(Array(3).fill(["iteration", "meanScore", "workflows", "invalid", "invalidReasons", "groups", "loss", "warning"]));
    // Grammar-constrained workflows are all valid, and every iteration has something to learn.
    for (const it of summary.iterations) expect([it.workflows, it.invalid, it.warning]).toEqual([24 * 8, 0, null]);
    expect(summary.iterations.map((i) => i.iteration)).toEqual([0, 1, 2]);
    for (const it of summary.iterations) expect(it.groups).toBeGreaterThan(0);
    console.info(`demo: mean scores ${summary.iterations.map((i) => i.meanScore.toFixed(3)).join(" -> ")} -> final ${summary.final.meanScore.toFixed(3)}`);
    expect(summary.final.meanScore - summary.iterations[0]!.meanScore).toBeGreaterThanOrEqual(0.15);
    // Every human-readable line says the scores are simulated.
    for (const line of lines.slice(0, -1)) expect(line).toMatch(/SIMULATED/);
    for (const line of stderr.trimEnd().split("\n").filter((l) => l.startsWith("iteration") || l.includes("iteration "))) expect(line).toMatch(/SIMULATED/);

    // A finished demo run reruns as a no-op with the same summary, and status reports it done.
    const again = await run(demoCommand, ["demo", "--json", "--run", dir, "--seed", "0"]);
    expect(again.stdout.trimEnd().split("\n").at(-1)).toBe(lines.at(-1));
    const status = JSON.parse((await run(statusCommand, ["status", dir, "--json"])).stdout) as { next: string; adapters: string[]; iterations: unknown[] };
    expect(status.next).toBe("done");
    expect(status.adapters).toEqual(["adapters/iter-1.gguf", "adapters/iter-2.gguf", "adapters/iter-3.gguf"]);
    expect(status.iterations).toHaveLength(4);
    await expect(run(statusCommand, ["status", join(work, "absent")])).rejects.toThrow(/absent is not a run directory \(no run\.sqlite\)/);

    // Same seed, same run: a second demo from scratch stores the same workflows, scores, groups,
    // log-probs, update steps and adapter files, and prints the same numbers.
    const twin = join(work, "twin");
    const second = await run(demoCommand, ["demo", "--json", "--run", twin, "--seed", "0"]);
    expect(second.stdout.trimEnd().split("\n").at(-1)).toBe(lines.at(-1));
    const [expected, actual] = [runState(dir), runState(twin)];
    for (const key of Object.keys(expected)) expect(actual[key], key).toEqual(expected[key]);
  }, 1_200_000);
});
