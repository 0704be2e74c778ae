// `spogw-native eval --workflow cot --benchmark humaneval --executor <local server> --limit 3`, end to
// end: the command in its own process, real HumanEval problems, the local OpenAI-compatible server on a
// tiny model, the real openai client, the sandbox and the Python scorer. The tiny model's score is whatever it is; the plumbing
// (three runs scored, mean, protocol, executor accounting) is what is checked.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { evalCommand } from "../../src/cli/commands/eval.js";
import { loadBenchmark } from "../../src/index.js";
import { runCli, stdoutOf } from "../helpers/cli.js";
import { testDataDir } from "../helpers/dataDir.js";
import { startTinyModelServer, type TinyModelServer } from "../helpers/tinyModelServer.js";

let dir: string;
let executor: TinyModelServer;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "spogw-eval-"));
  executor = await startTinyModelServer(dir, "tiny.gguf", { model: { arch: "llama" } });
});

afterAll(async () => {
  await executor?.close();
  await rm(dir, { recursive: true, force: true });
});

/** The real command line in its own process (the built CLI); resolves with stdout once it exits 0. */
async function runEvalCli(args: string[]): Promise<string> {
  const { code, stdout, stderr } = await runCli(args);
  if (code !== 0) throw new Error(`eval exited ${code}: ${stderr}`);
  return stdout;
}

describe("spogw-native eval", () => {
  it("`eval --workflow cot --benchmark humaneval --executor <local server> --limit 3` runs end to end and prints scores, protocol and accounting", async () => {
    const cache = join(dir, "eval-cache.sqlite");
    const args = ["eval", "--workflow", "cot", "--benchmark", "humaneval", "--executor", executor.server.url, "--limit", "3", "--data-dir", testDataDir, "--max-tokens", "24", "--cache", cache];
    const output = await runEvalCli(args);
    const firstThree = (await loadBenchmark("humaneval", "test", { dataDir: testDataDir })).slice(0, 3).map((p) => p.id);
    const runLines = output.split("\n").filter((l) => /^ {2}\S+ run 1: score /.test(l));
    expect(runLines.map((l) => l.trim().split(" ")[0]).sort()).toEqual([...firstThree].sort());
    for (const line of runLines) expect(line).toMatch(/score (0|1)\.000 {2}\S/);
    const mean = Number(/^mean score: ([\d.]+) over 3 problems$/m.exec(output)?.[1]);
    const scores = runLines.map((l) => Number(/score ([\d.]+)/.exec(l)![1]));
    expect(mean).toBeCloseTo(scores.reduce((a, b) => a + b, 0) / 3, 4);
    expect(output).toMatch(/^scoring protocol: rule-based scorers \(code: hidden tests in the Python sandbox/m);
    expect(output).toMatch(/^executor: 3 calls, 0 cache hits, 0 retries, 0 failed calls, \d+ prompt \+ \d+ completion tokens/m);

    // Run again: the cache answers every call, and the scores are the same.
    const again = await runEvalCli(args);
    expect(again).toMatch(/^executor: 0 calls, 3 cache hits/m);
    expect(again.split("\n").filter((l) => /run 1: score/.test(l)).sort()).toEqual(runLines.sort());
  }, 240_000);

  it("runs a baseline with a local GGUF model in-process (--executor gguf:FILE)", async () => {
    const output = await stdoutOf(evalCommand, ["eval", "--workflow", "io", "--benchmark", "gsm8k", "--executor", `gguf:${executor.modelPath}`, "--limit", "2", "--data-dir", testDataDir, "--max-tokens", "8"]);
    expect(output).toMatch(/^executor: .*tiny\.gguf in-process \(node-llama-cpp, chatml prompts\)$/m);
    expect(output.split("\n").filter((l) => /run 1: score [01]\.000 /.test(l))).toHaveLength(2);
    expect(output).toMatch(/^executor: 2 calls, 0 cache hits/m);
  });

  it("refuses an unknown workflow and a bad --limit with a clear message", async () => {
    const base = ["eval", "--benchmark", "humaneval", "--executor", executor.server.url, "--data-dir", testDataDir];
    await expect(stdoutOf(evalCommand, [...base, "--workflow", "no-such-baseline", "--limit", "1"])).rejects.toThrow(/neither a baseline \(io, cot, cot-sc, medprompt, multipersona, self-refine\) nor a readable file/);
    await expect(stdoutOf(evalCommand, [...base, "--workflow", "cot", "--limit", "0"])).rejects.toThrow(/--limit must be a positive whole number/);
  });
});
