// The `data check` command, parsed as the CLI parses it.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { dataCommand } from "../../src/cli/commands/data.js";
import { commandOutcome } from "../helpers/cli.js";
import { humanEvalSubset, testDataDir } from "../helpers/dataDir.js";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe("spogw-native data check", () => {
  it("prints the count of every split of the shared data and names the missing one", async () => {
    const { stdout, error } = await commandOutcome(dataCommand, ["data", "check", "--data-dir", testDataDir]);
    expect(error).toBeNull();
    expect(stdout).toMatch(/humaneval\s+train\s+33\s+humaneval\/humaneval_validate\.jsonl/);
    expect(stdout).toMatch(/gsm8k\s+test\s+1055\s+gsm8k\/gsm8k_test\.jsonl/);
    expect(stdout).toMatch(/hotpotqa\s+test\s+missing/);
    expect(stdout).toContain("1 split file(s) missing: hotpotqa/test");
  });

  it("fails on a missing split only with --require-all", async () => {
    const { error } = await commandOutcome(dataCommand, ["data", "check", "--data-dir", testDataDir, "--require-all"]);
    expect(error?.message).toBe("1 split file(s) missing");
  });

  it("fails when the folder holds no benchmark file at all", async () => {
    const empty = mkdtempSync(join(tmpdir(), "spogw-cli-empty-"));
    dirs.push(empty);
    const { stdout, error } = await commandOutcome(dataCommand, ["data", "check", "--data-dir", empty]);
    expect(stdout).toContain("12 split file(s) missing");
    expect(error?.message).toBe(`no benchmark files under ${empty}: is it the right folder?`);
  });

  it("fails on a bad row and prints its file, line and field", async () => {
    const dir = humanEvalSubset(2);
    dirs.push(dir);
    const file = join(dir, "humaneval", "humaneval_test.jsonl");
    writeFileSync(file, `${readFileSync(file, "utf8")}{"task_id": "HumanEval/x", "prompt": 3}\n`);
    const { stdout, error } = await commandOutcome(dataCommand, ["data", "check", "--data-dir", dir]);
    expect(error?.message).toBe("1 data file(s) invalid (see above)");
    expect(stdout).toMatch(/humaneval\s+test\s+INVALID/);
    expect(stdout).toContain(`INVALID ${file}:3: field "prompt": expected a string, got number 3`);
    expect(stdout).toMatch(/humaneval\s+train\s+2\s/);
  });
});
