// `eval --run` in the paper's protocol on the tiny model through the local server (real HTTP, the real
// openai client, the sandbox and the Python scorer): every built-in baseline and the generator with
// the adapter a real `train` iteration wrote, each on the first 2 HumanEval test problems, 3 runs each.
// The tiny model's scores are whatever they are; what is checked is the protocol (3 runs, the solve
// rate as mean ± std of the runs' rates), that `table` prints exactly the stored numbers, and that a
// second evaluation is answered by the cache with identical numbers.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { evalCommand } from "../../src/cli/commands/eval.js";
import { tableCommand } from "../../src/cli/commands/table.js";
import { trainCommand } from "../../src/cli/commands/train.js";
import { formatSolveRate, generatorMethod, readEvaluations } from "../../src/evaluation/index.js";
import { BASELINE_NAMES } from "../../src/workflow/index.js";
import { testDataDir } from "../helpers/dataDir.js";
import { runCommand } from "../helpers/cli.js";
import { startTinyModelServer, type TinyModelServer } from "../helpers/tinyModelServer.js";

const work = mkdtempSync(join(tmpdir(), "spogw-eval-run-"));
const run = join(work, "run");
let executor: TinyModelServer;

const evalFlags = () => ["--run", run, "--benchmark", "humaneval", "--limit", "2", "--data-dir", testDataDir, "--executor", executor.server.url, "--executor-model", "tiny", "--max-tokens", "16"];

async function evaluate(what: string[]): Promise<string> {
  return (await runCommand(evalCommand, ["eval", ...what, ...evalFlags()])).stdout;
}

interface Printed {
  solveRate: string;
  runRates: number[];
  runLines: string[];
  calls: number;
  cacheHits: number;
}

function parse(output: string): Printed {
  const line = /^solve rate: (\d+\.\d ± \d+\.\d) % \(mean ± std over 3 run\(s\): ([\d., ]+)\) \[scoring: rule-based\]$/m.exec(output);
  expect(line, output).not.toBeNull();
  const accounting = /^executor: (\d+) calls, (\d+) cache hits, 0 retries, 0 failed calls/m.exec(output);
  expect(accounting, output).not.toBeNull();
  return {
    solveRate: line![1]!,
    runRates: line![2]!.split(", ").map(Number),
    runLines: output.split("\n").filter((l) => /^ {2}\S+ run \d: score /.test(l)).sort(),
    calls: Number(accounting![1]),
    cacheHits: Number(accounting![2]),
  };
}

const firstOutputs = new Map<string, string>();

beforeAll(async () => {
  // The executor's model is also the generator.
  executor = await startTinyModelServer(work, "model.gguf");
  const model = executor.modelPath;
  // One real SPOGW iteration on 2 training problems writes adapter 1.
  await runCommand(trainCommand, [
    "train", run, "--benchmark", "humaneval", "--data-dir", testDataDir, "--generator", model, "--executor", executor.server.url,
    "--limit", "2", "--iterations", "1", "-m", "2", "-n", "2", "-t", "0", "--max-tokens", "24", "--max-attempts", "2", "--score-runs", "1", "--generator-sequences", "2",
  ]);
  for (const baseline of BASELINE_NAMES) firstOutputs.set(baseline, await evaluate(["--workflow", baseline]));
  firstOutputs.set("base", await evaluate(["--iteration", "0"]));
  firstOutputs.set("adapter", await evaluate(["--iteration", "1"]));
}, 600_000);

afterAll(async () => {
  await executor?.close();
  rmSync(work, { recursive: true, force: true });
});

describe("eval --run on the tiny model through the local server", () => {
  it("completes for every baseline and for the adapter: 2 problems x 3 runs, solve rate = mean ± std of the runs' rates", () => {
    for (const [what, output] of firstOutputs) {
      const printed = parse(output);
      expect(printed.runLines, what).toHaveLength(6);
      for (const line of printed.runLines) expect(line, what).toMatch(/ \[scoring: rule-based\]$/);
      // Each run's solve rate is the mean of its 2 problems' scores, computed here from the printed run lines.
      for (let r = 1; r <= 3; r++) {
        const scores = printed.runLines.filter((l) => l.includes(` run ${r}: `)).map((l) => Number(/score ([\d.]+)/.exec(l)![1]));
        expect(scores, what).toHaveLength(2);
        expect(printed.runRates[r - 1], what).toBeCloseTo(((scores[0]! + scores[1]!) / 2) * 100, 1);
      }
      const mean = printed.runRates.reduce((a, b) => a + b, 0) / 3;
      expect(Number(printed.solveRate.split(" ± ")[0]), what).toBeCloseTo(mean, 1);
    }
    expect(firstOutputs.get("base")).toMatch(/^generator: .*model\.gguf \(base model, no adapter\); writing 2 workflow\(s\)$/m);
    expect(firstOutputs.get("adapter")).toMatch(/^generator: .*model\.gguf \+ adapter .*adapters\/iter-1\.gguf; writing 2 workflow\(s\)$/m);
    // Without the cache answering earlier runs, every run calls the executor: IO is one call per problem and run.
    expect(parse(firstOutputs.get("io")!).calls).toBe(6);
    expect(parse(firstOutputs.get("io")!).cacheHits).toBe(0);
  });

  it("stores the numbers, and table prints exactly the stored numbers, which are the printed ones", async () => {
    const stored = readEvaluations(run);
    expect(stored.map((e) => e.method).sort()).toEqual([...BASELINE_NAMES, generatorMethod(0), generatorMethod(1)].sort());
    const markdown = (await runCommand(tableCommand, ["table", run])).stdout.split("\n");
    expect(markdown).toContain("| Method | HumanEval (test, 2 problems, rule-based) | AVG |");
    const labels: Record<string, string> = { io: "IO", cot: "CoT", "cot-sc": "CoT SC", medprompt: "MedPrompt", multipersona: "MultiPersona", "self-refine": "Self Refine", base: "Generator (base model)", adapter: "SPOGW (adapter 1)" };
    for (const [what, output] of firstOutputs) {
      const method = what === "adapter" ? generatorMethod(1) : what === "base" ? generatorMethod(0) : what;
      const record = stored.find((e) => e.method === method)!;
      expect(record.runSolveRates).toHaveLength(3);
      expect(record.protocol).toBe("rule");
      const printed = parse(output).solveRate;
      expect(formatSolveRate(record.solveRate, record.std)).toBe(printed);
      expect(markdown).toContain(`| ${labels[what]} | ${printed} | ${(record.solveRate * 100).toFixed(1)} |`);
    }
  });

  it("a second evaluation makes no executor calls, reuses the generated workflows and prints identical solve rates", async () => {
    for (const what of [["--workflow", "cot-sc"], ["--iteration", "1"]]) {
      const key = what[0] === "--iteration" ? "adapter" : what[1]!;
      const first = parse(firstOutputs.get(key)!);
      const output = await evaluate(what);
      const again = parse(output);
      expect(again.calls, key).toBe(0);
      expect(again.cacheHits, key).toBe(first.calls + first.cacheHits);
      expect(again.solveRate, key).toBe(first.solveRate);
      expect(again.runLines, key).toEqual(first.runLines);
      if (key === "adapter") expect(output).toMatch(/^generator: reusing the 2 workflow\(s\) written by an earlier evaluation of generator@1$/m);
    }
  });

  it("scores a QA benchmark with the LLM judge by default, as the paper does, and --scoring overrides it", async () => {
    const drop = (extra: string[]) => runCommand(evalCommand, [
      "eval", "--workflow", "io", "--run", run, "--benchmark", "drop", "--limit", "1", "--data-dir", testDataDir,
      "--executor", executor.server.url, "--executor-model", "tiny", "--max-tokens", "16", ...extra,
    ]);
    const judged = (await drop([])).stdout;
    expect(judged).toMatch(/^solve rate: \d+\.\d ± \d+\.\d % \(mean ± std over 3 run\(s\): .*\) \[scoring: LLM judge\]$/m);
    expect(judged).toMatch(/^scoring protocol: LLM answer extraction, then an LLM judge/m);
    for (const line of judged.split("\n").filter((l) => / run \d: score /.test(l))) expect(line).toMatch(/\[scoring: LLM judge\]$/);
    const protocols = () => readEvaluations(run).filter((e) => e.benchmark === "drop").map((e) => e.protocol).sort();
    expect(protocols()).toEqual(["judge"]);
    expect((await drop(["--scoring", "rule"])).stdout).toMatch(/\[scoring: rule-based\]$/m);
    expect(protocols()).toEqual(["judge", "rule"]);
  });

  it("refuses what it cannot evaluate, naming what to fix, before any work", async () => {
    await expect(evaluate(["--iteration", "5"])).rejects.toThrow(`${run} has no adapter 5 (adapters stored: 1; 0 = the base model)`);
    await expect(runCommand(evalCommand, ["eval", "--iteration", "1", "--benchmark", "humaneval"])).rejects.toThrow("--iteration needs --run RUN");
    await expect(evaluate(["--workflow", "cot", "--iteration", "1"])).rejects.toThrow(/name one thing to evaluate/);
    const missing = join(work, "no-such-run");
    await expect(runCommand(evalCommand, ["eval", "--run", missing, "--workflow", "cot", "--benchmark", "humaneval"])).rejects.toThrow(`run directory ${missing} does not exist`);
  });
});
