// The `data check` and `bench scoring` commands, parsed as the CLI parses them.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import yargs, { type CommandModule } from "yargs";
import { afterAll, describe, expect, it, vi } from "vitest";
import { benchCommand } from "../../src/cli/commands/bench.js";
import { dataCommand } from "../../src/cli/commands/data.js";
import { testDataDir } from "../helpers/dataDir.js";

/** Runs one command line through yargs: what it wrote to stdout, and the error it failed with (or null). */
async function runCli(command: CommandModule, args: string[]): Promise<{ stdout: string; error: Error | null }> {
  const printed: string[] = [];
  const stdout = vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
    printed.push(String(chunk));
    return true;
  });
  const stderr = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
  let error: Error | null = null;
  try {
    await yargs(args)
      .command(command)
      .strict()
      .exitProcess(false)
      .fail((message, failure) => {
        throw failure ?? new Error(message);
      })
      .parseAsync();
  } catch (e) {
    error = e as Error;
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
  }
  return { stdout: printed.join(""), error };
}

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A data folder holding the first `n` HumanEval rows of each split (and the public tests). */
function smallHumanEvalDir(n: number): string {
  const dir = mkdtempSync(join(tmpdir(), "spogw-cli-data-"));
  dirs.push(dir);
  mkdirSync(join(dir, "humaneval"));
  for (const file of ["humaneval_validate.jsonl", "humaneval_test.jsonl", "humaneval_public_test.jsonl"]) {
    const lines = readFileSync(join(testDataDir, "humaneval", file), "utf8").split("\n").filter(Boolean);
    writeFileSync(join(dir, "humaneval", file), `${lines.slice(0, file.includes("public") ? undefined : n).join("\n")}\n`);
  }
  return dir;
}

describe("spogw-native data check", () => {
  it("prints the count of every split of the shared data and names the missing one", async () => {
    const { stdout, error } = await runCli(dataCommand, ["data", "check", "--data-dir", testDataDir]);
    expect(error).toBeNull();
    expect(stdout).toMatch(/humaneval\s+train\s+33\s+humaneval\/humaneval_validate\.jsonl/);
    expect(stdout).toMatch(/gsm8k\s+test\s+1055\s+gsm8k\/gsm8k_test\.jsonl/);
    expect(stdout).toMatch(/hotpotqa\s+test\s+missing/);
    expect(stdout).toContain("1 split file(s) missing: hotpotqa/test");
  });

  it("fails on a missing split only with --require-all", async () => {
    const { error } = await runCli(dataCommand, ["data", "check", "--data-dir", testDataDir, "--require-all"]);
    expect(error?.message).toBe("1 split file(s) missing");
  });

  it("fails when the folder holds no benchmark file at all", async () => {
    const empty = mkdtempSync(join(tmpdir(), "spogw-cli-empty-"));
    dirs.push(empty);
    const { stdout, error } = await runCli(dataCommand, ["data", "check", "--data-dir", empty]);
    expect(stdout).toContain("12 split file(s) missing");
    expect(error?.message).toBe(`no benchmark files under ${empty}: is it the right folder?`);
  });

  it("fails on a bad row and prints its file, line and field", async () => {
    const dir = smallHumanEvalDir(2);
    const file = join(dir, "humaneval", "humaneval_test.jsonl");
    writeFileSync(file, `${readFileSync(file, "utf8")}{"task_id": "HumanEval/x", "prompt": 3}\n`);
    const { stdout, error } = await runCli(dataCommand, ["data", "check", "--data-dir", dir]);
    expect(error?.message).toBe("1 data file(s) invalid (see above)");
    expect(stdout).toMatch(/humaneval\s+test\s+INVALID/);
    expect(stdout).toContain(`INVALID ${file}:3: field "prompt": expected a string, got number 3`);
    expect(stdout).toMatch(/humaneval\s+train\s+2\s/);
  });
});

describe("spogw-native bench scoring", () => {
  it("times the pool and one-at-a-time checking of the same solutions in one run", async () => {
    const dir = smallHumanEvalDir(3);
    const { stdout, error } = await runCli(benchCommand, ["bench", "scoring", "--data-dir", dir, "--concurrency", "2"]);
    expect(error).toBeNull();
    expect(stdout).toMatch(/^machine: .+ cores/m);
    expect(stdout).toMatch(/^pool of 2\s+6\s+6\s+[\d.]+\s+[\d.]+\s+[\d.]+x$/m);
    expect(stdout).toMatch(/^one at a time\s+6\s+6\s+[\d.]+\s+[\d.]+\s+[\d.]+x$/m);
  });
});
