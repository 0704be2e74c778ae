// `spogw-native eval --workflow cot --benchmark humaneval --executor <local server> --limit 3`, end to
// end: the command in its own process, real HumanEval problems, the local OpenAI-compatible server on a
// tiny model, the real openai client, the sandbox and the Python scorer. The tiny model's score is whatever it is; the plumbing
// (three runs scored, mean, protocol, executor accounting) is what is checked.
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import yargs from "yargs";
import { evalCommand } from "../../src/cli/commands/eval.js";
import { Generator, loadBenchmark, startOpenAIServer, writeTinyModel, type RunningServer } from "../../src/index.js";
import { testDataDir } from "../helpers/dataDir.js";

let dir: string;
let generator: Generator;
let server: RunningServer;
let modelPath: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "spogw-eval-"));
  modelPath = join(dir, "tiny.gguf");
  await writeTinyModel(modelPath, { arch: "llama", seed: 3, ctx: 4096 });
  generator = await Generator.load({ modelPath, threads: 1, sequences: 2 });
  server = await startOpenAIServer({ generator, modelName: "tiny" });
});

afterAll(async () => {
  await server?.close();
  await generator?.dispose();
  await rm(dir, { recursive: true, force: true });
});

async function runEval(args: string[]): Promise<string> {
  const printed: string[] = [];
  const spy = vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
    printed.push(String(chunk));
    return true;
  });
  try {
    await yargs(args).command(evalCommand).strict().exitProcess(false).fail((message, error) => {
      throw error ?? new Error(message);
    }).parseAsync();
  } finally {
    spy.mockRestore();
  }
  return printed.join("");
}

/** The real command line in its own process (run from source); resolves with stdout once it exits 0. */
function runEvalCli(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(join(process.cwd(), "node_modules/.bin/vite-node"), ["src/cli/cli.ts", ...args], { stdio: "pipe" });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve(stdout) : reject(new Error(`eval exited ${code}: ${stderr}`))));
  });
}

describe("spogw-native eval", () => {
  it("`eval --workflow cot --benchmark humaneval --executor <local server> --limit 3` runs end to end and prints scores, protocol and accounting", async () => {
    const cache = join(dir, "eval-cache.sqlite");
    const args = ["eval", "--workflow", "cot", "--benchmark", "humaneval", "--executor", server.url, "--limit", "3", "--data-dir", testDataDir, "--max-tokens", "24", "--cache", cache];
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
    const output = await runEval(["eval", "--workflow", "io", "--benchmark", "gsm8k", "--executor", `gguf:${modelPath}`, "--limit", "2", "--data-dir", testDataDir, "--max-tokens", "8"]);
    expect(output).toMatch(/^executor: .*tiny\.gguf in-process \(node-llama-cpp, chatml prompts\)$/m);
    expect(output.split("\n").filter((l) => /run 1: score [01]\.000 /.test(l))).toHaveLength(2);
    expect(output).toMatch(/^executor: 2 calls, 0 cache hits/m);
  });

  it("refuses an unknown workflow and a bad --limit with a clear message", async () => {
    const base = ["eval", "--benchmark", "humaneval", "--executor", server.url, "--data-dir", testDataDir];
    await expect(runEval([...base, "--workflow", "no-such-baseline", "--limit", "1"])).rejects.toThrow(/neither a baseline \(io, cot, cot-sc, medprompt, multipersona, self-refine\) nor a readable file/);
    await expect(runEval([...base, "--workflow", "cot", "--limit", "0"])).rejects.toThrow(/--limit must be a positive whole number/);
  });
});
