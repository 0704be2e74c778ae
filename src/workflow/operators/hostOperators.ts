// The host side of every operator: what happens when a workflow in the sandbox calls `ops.<name>`.
// Operators are bound to the problem (as in ScoreFlow), so the workflow passes only instructions and
// intermediate results; the problem text itself never passes through generated code.
import { runPython as sandboxedPython } from "../../benchmarks/sandbox/pythonSandbox.js";
import type { PythonLimits } from "../../benchmarks/sandbox/limits.js";
import type { ProgramChannels, PythonRunResult } from "../../benchmarks/sandbox/runProgram.js";
import type { Executor } from "../../executor/types.js";
import type { WorkflowProblem } from "../problem.js";
import type { OperatorName } from "./catalog.js";
import {
  answerGeneratePrompt,
  codeGeneratePrompt,
  customPrompt,
  ensemblePrompt,
  programmerPrompt,
  repairPrompt,
  reviewPrompt,
} from "./prompts.js";
import { extractField, extractPythonCode, parseLetterChoice } from "./responseParsing.js";

/**
 * Runs one Python program in a sandbox: the benchmarks' runPython, or anything with its contract. The
 * run's abort signal comes in `channels.signal`: when the workflow run ends, its programs are killed.
 */
export type PythonRunner = (program: string, limits?: Partial<PythonLimits>, channels?: ProgramChannels) => Promise<PythonRunResult>;

export interface OperatorServices {
  executor: Executor;
  /** Runs the Python of `programmer` and `test`; default the benchmarks' process-wide sandbox. */
  runPython?: PythonRunner;
  /** Temperature for the 2nd, 3rd... identical request within one run (ensembles need distinct samples). */
  repeatTemperature?: number;
  /** Time limit for each Python program an operator runs. */
  pythonTimeoutMs?: number;
  /** Largest answer (characters) kept from one executor reply. */
  maxReplyChars?: number;
}

export type OperatorArgument = string | string[];

const PROGRAMMER_ATTEMPTS = 3;
const TEST_REPAIR_ROUNDS = 3;

/** One workflow run's operator state: the problem, the executor, and repeat counters. */
export class OperatorHost {
  private readonly repeats = new Map<string, number>();
  private executorCallCount = 0;
  private executorTokenCount = 0;

  constructor(
    private readonly problem: WorkflowProblem,
    private readonly services: OperatorServices,
    private readonly signal: AbortSignal,
  ) {}

  get executorCalls(): number {
    return this.executorCallCount;
  }

  /** Prompt plus completion tokens of the executor's answers so far (cached answers count what they cost when made). */
  get executorTokens(): number {
    return this.executorTokenCount;
  }

  async call(name: OperatorName, args: OperatorArgument[]): Promise<string> {
    const str = (i: number): string => args[i] as string;
    switch (name) {
      case "custom":
        return this.ask(customPrompt(str(0), this.problem.input));
      case "answerGenerate":
        return this.answerGenerate();
      case "programmer":
        return this.programmer(str(0));
      case "scEnsemble":
        return this.scEnsemble(args[0] as string[]);
      case "review":
        return this.review(str(0));
      case "codeGenerate":
        return this.codeGenerate(str(0));
      case "test":
        return this.test(str(0));
      default:
        throw new Error(`unknown operator ${JSON.stringify(name)}`);
    }
  }

  /**
   * One executor request. The first request with a given prompt in this run uses the executor's
   * default temperature; each identical repeat is a new sample (repeatTemperature, seed = repeat
   * number), so `[await ops.custom(x), await ops.custom(x)]` ensembles distinct answers and stays
   * reproducible (and cacheable).
   */
  private async ask(prompt: string): Promise<string> {
    // A run that has ended (its workflow returned or failed) sends nothing more, even from an operator
    // that was still between steps (a Python program just finished, a repair round was due).
    this.signal.throwIfAborted();
    const repeat = this.repeats.get(prompt) ?? 0;
    this.repeats.set(prompt, repeat + 1);
    this.executorCallCount++;
    const request =
      repeat === 0
        ? { messages: [{ role: "user" as const, content: prompt }] }
        : { messages: [{ role: "user" as const, content: prompt }], temperature: this.services.repeatTemperature ?? 0.7, seed: repeat };
    const result = await this.services.executor.complete(request, { signal: this.signal });
    this.executorTokenCount += result.usage.promptTokens + result.usage.completionTokens;
    const limit = this.services.maxReplyChars ?? 20_000;
    return result.text.length > limit ? result.text.slice(0, limit) : result.text;
  }

  private async answerGenerate(): Promise<string> {
    const reply = await this.ask(answerGeneratePrompt(this.problem.input));
    const thought = extractField(reply, "thought");
    const answer = extractField(reply, "answer");
    if (answer === null) return reply;
    return `${thought ?? ""}\nSo the final answer is: ${answer}`;
  }

  private async review(solution: string): Promise<string> {
    const reply = await this.ask(reviewPrompt(this.problem.input, solution));
    return extractField(reply, "revised_solution") ?? reply;
  }

  /**
   * Returns the chosen solution itself. An answer naming no valid letter falls back to the solution
   * that occurs most often verbatim (the first on ties) instead of failing the run as ScoreFlow does.
   */
  private async scEnsemble(solutions: string[]): Promise<string> {
    if (solutions.length === 0) throw new Error("scEnsemble needs at least one solution");
    if (solutions.length === 1) return solutions[0]!;
    const reply = await this.ask(ensemblePrompt(this.problem.input, solutions));
    const chosen = parseLetterChoice(reply, solutions.length);
    return solutions[chosen ?? mostFrequentIndex(solutions)]!;
  }

  private async programmer(analysis: string): Promise<string> {
    const runPython = this.python();
    let previous = "";
    let code = "";
    for (let attempt = 0; attempt < PROGRAMMER_ATTEMPTS; attempt++) {
      const reply = await this.ask(programmerPrompt(this.problem.input, analysis, previous));
      code = extractPythonCode(reply) ?? "";
      if (!/\bdef\s+solve\s*\(/.test(code)) {
        previous = `${code || reply}\nError: no function solve() was defined.`;
        continue;
      }
      const run = await runPython(`${code}\n\nprint(solve())\n`, { timeoutMs: this.pythonTimeoutMs() }, { signal: this.signal });
      if (run.status === "ok") return `After running the following program:\n${code}\nthe output was: ${run.stdout.trim()}`;
      previous = `${code}\nError: ${describeFailure(run)}`;
    }
    return `The program could not be run successfully:\n${previous}`;
  }

  private async codeGenerate(instruction: string): Promise<string> {
    const entryPoint = this.requireEntryPoint("codeGenerate");
    const reply = await this.ask(codeGeneratePrompt(instruction, this.problem.input, entryPoint));
    return extractPythonCode(reply) ?? reply;
  }

  /** Public tests with a bounded repair loop; returns the last code (passing or not). */
  private async test(solution: string): Promise<string> {
    const entryPoint = this.requireEntryPoint("test");
    const tests = this.problem.publicTests ?? [];
    let code = extractPythonCode(solution) ?? solution;
    if (tests.length === 0) return code;
    const runPython = this.python();
    for (let round = 0; round < TEST_REPAIR_ROUNDS; round++) {
      const program = `${this.problem.prelude ?? ""}\n${code}\n\ncandidate = ${entryPoint}\n${tests.join("\n")}\n`;
      const run = await runPython(program, { timeoutMs: this.pythonTimeoutMs() }, { signal: this.signal });
      if (run.status === "ok") return code;
      const reply = await this.ask(repairPrompt(this.problem.input, entryPoint, code, describeFailure(run)));
      code = extractPythonCode(reply) ?? code;
    }
    return code;
  }

  private python(): PythonRunner {
    return this.services.runPython ?? sandboxedPython;
  }

  private requireEntryPoint(operator: string): string {
    if (!this.problem.entryPoint) throw new Error(`${operator} needs a code problem with an entry point`);
    return this.problem.entryPoint;
  }

  private pythonTimeoutMs(): number {
    return this.services.pythonTimeoutMs ?? 15_000;
  }
}

function describeFailure(run: PythonRunResult): string {
  const tail = run.stderr.trim().split("\n").slice(-6).join("\n");
  return `${run.status}${run.errorType ? ` (${run.errorType})` : ""}${tail ? `:\n${tail}` : ""}`;
}

function mostFrequentIndex(items: readonly string[]): number {
  const counts = new Map<string, number>();
  let best = 0;
  items.forEach((item, i) => {
    const n = (counts.get(item) ?? 0) + 1;
    counts.set(item, n);
    if (n > (counts.get(items[best]!) ?? 0)) best = i;
  });
  return best;
}
