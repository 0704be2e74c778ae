// The real command line (the built CLI in its own process): a command that fails stops with one line
// naming what was wrong, exit status 1 and no stack trace.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { DEFAULT_CONFIG, RunStore } from "../../src/pipeline/index.js";
import { runCli } from "../helpers/cli.js";

const work = mkdtempSync(join(tmpdir(), "spogw-cli-errors-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("the real command line", () => {
  it("stops with one line naming a missing or corrupt run directory, exit status 1 and no stack trace", async () => {
    const run = join(work, "run");
    const store = RunStore.open(run);
    store.setMeta("config", JSON.stringify({ ...DEFAULT_CONFIG, task: "humaneval", generator: "/models/g.gguf" }));
    store.close();
    const corrupt = join(work, "corrupt");
    mkdirSync(corrupt);
    writeFileSync(join(corrupt, "run.sqlite"), "not a database, only some text that is long enough to look like a header.......");
    const missing = join(work, "missing");
    const table = await runCli(["table", run, missing]);
    expect([table.code, table.stderr.trim()]).toEqual([1, `spogw-native: run directory ${missing} does not exist`]);
    const report = await runCli(["report", corrupt]);
    expect(report.code).toBe(1);
    expect(report.stderr.trim()).toMatch(new RegExp(`^spogw-native: ${join(corrupt, "run.sqlite").replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")} cannot be read as a run database: file is not a database$`));
  }, 120_000);
});
