// Running a candidate's hidden tests so that only solving them scores. The exit status of a program
// that holds the candidate proves nothing (`os._exit(0)` exits 0), so the verdict comes from the judge
// (hiddenTestJudge.py): a second process inside the same sandbox that holds the tests, calls the
// candidate's functions across a pipe, compares plain data itself, and writes the verdict with a nonce
// to a descriptor the candidate's process never has. See docs/scoring.md, "Code verdicts".
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import type { CodeProblem } from "../problem.js";
import type { PythonSandbox } from "../sandbox/pythonSandbox.js";
import type { PythonRunResult } from "../sandbox/runProgram.js";
import { commonImportsFor } from "./codeScorer.js";

/** What the judge reported, once its nonce has been checked. */
export interface HiddenTestVerdict {
  passed: boolean;
  /** The exception that failed the tests (raised by them or by the candidate), or null. */
  errorType: string | null;
  message: string;
  /** How the candidate's process ended when it ended early ("exit 0", "SIGXCPU", ...), else null. */
  candidateEnded: string | null;
}

export interface HiddenTestRun {
  passed: boolean;
  /** The judge's verdict, or null when none carrying this run's nonce came back. */
  verdict: HiddenTestVerdict | null;
  run: PythonRunResult;
}

let judgeSource: string | null = null;

/** The judge's source, read once from beside this module (src/ in tests, dist/ when built). */
function judgeProgram(): string {
  judgeSource ??= readFileSync(new URL("./hiddenTestJudge.py", import.meta.url), "utf8");
  return judgeSource;
}

/** Fields as the judge reads and writes them: each "<byte length>:<UTF-8 text>", one after another. */
export function lengthPrefixed(fields: string[]): string {
  return fields.map((field) => `${Buffer.byteLength(field)}:${field}`).join("");
}

function readLengthPrefixed(data: Buffer): string[] | null {
  const fields: string[] = [];
  let at = 0;
  while (at < data.length) {
    const colon = data.indexOf(":", at);
    const length = colon < 0 || colon - at > 10 ? NaN : Number(data.subarray(at, colon).toString("latin1"));
    if (!Number.isInteger(length) || length < 0 || colon + 1 + length > data.length) return null;
    fields.push(data.subarray(colon + 1, colon + 1 + length).toString("utf8"));
    at = colon + 1 + length;
  }
  return fields;
}

/** The verdict in `report` when it is well formed and carries `nonce`; null otherwise. */
export function parseVerdict(report: string | null, nonce: string): HiddenTestVerdict | null {
  if (!report) return null;
  const fields = readLengthPrefixed(Buffer.from(report, "utf8"));
  if (!fields || fields.length !== 5) return null;
  const [reportedNonce, passed, errorType, message, ended] = fields as [string, string, string, string, string];
  if (reportedNonce !== nonce || (passed !== "1" && passed !== "0")) return null;
  return { passed: passed === "1", errorType: errorType || null, message, candidateEnded: ended || null };
}

export interface HiddenTestOptions {
  timeoutMs: number;
  signal?: AbortSignal;
}

/** Runs `problem`'s hidden tests against `solution`; passes only on the judge's nonce-bearing verdict. */
export async function runHiddenTests(problem: CodeProblem, solution: string, sandbox: PythonSandbox, options: HiddenTestOptions): Promise<HiddenTestRun> {
  const nonce = randomBytes(16).toString("hex");
  const imports = commonImportsFor([problem.prelude, solution, problem.hiddenTests].join("\n"));
  const job = lengthPrefixed([nonce, imports, problem.prelude, solution, problem.hiddenTests, problem.entryPoint]);
  const run = await sandbox.run(judgeProgram(), { timeoutMs: options.timeoutMs }, { input: job, report: true, signal: options.signal });
  const verdict = parseVerdict(run.report, nonce);
  return { passed: verdict?.passed === true && run.status === "ok", verdict, run };
}

/** One line saying how a hidden-test run ended, for score details. */
export function describeHiddenTests({ passed, verdict, run }: HiddenTestRun): string {
  if (passed) return "hidden tests passed";
  switch (run.status) {
    case "timeout":
      return "failed: time limit";
    case "memory-limit":
      return "failed: memory limit";
    case "output-limit":
      return "failed: output limit";
    case "cancelled":
      return "failed: cancelled";
  }
  if (!verdict) return `failed: no verdict from the test harness (${run.errorType ?? `exit ${run.exitCode ?? run.signal}`})`;
  if (verdict.candidateEnded === "SIGXCPU") return "failed: time limit";
  if (verdict.errorType === "MemoryError") return "failed: memory limit";
  if (verdict.candidateEnded !== null) return `failed: the solution's process ended (${verdict.candidateEnded}) before the tests finished`;
  return `failed: ${verdict.errorType ?? "unknown error"}`;
}
