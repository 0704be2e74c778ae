// The run lock: one process works on a run at a time; a lock left by a process that is gone is taken over.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createSimulatedTask, openRun, resolveConfig, RUN_LOCK } from "../../src/pipeline/index.js";

const work = mkdtempSync(join(tmpdir(), "spogw-lock-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("run lock", () => {
  it("lets one process work on a run at a time and takes over a lock whose process is gone", async () => {
    const dir = join(work, "d");
    const config = resolveConfig({ task: "simulated", generator: "m.gguf", simulatedQueries: 2 });
    const task = () => createSimulatedTask({ queries: 2, seed: 0 });
    const first = openRun(dir, config, task());
    expect(() => openRun(dir, config, task())).toThrow(new RegExp(`in use by process ${process.pid} \\(this one\\)`));
    await first.close();
    // A lock left by a process that was killed: its pid no longer exists.
    const gone = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
    writeFileSync(join(dir, RUN_LOCK), `${gone.stdout}\n`);
    const second = openRun(dir, config, task());
    expect(readFileSync(join(dir, RUN_LOCK), "utf8")).toBe(`${process.pid}\n`);
    await second.close();
    expect(existsSync(join(dir, RUN_LOCK))).toBe(false);
  });
});
