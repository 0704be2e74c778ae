// scoreAnswer(problem, output): one entry point for every benchmark's scorer.
import type { Problem } from "../problem.js";
import { defaultPythonSandbox, type PythonSandbox } from "../sandbox/pythonSandbox.js";
import type { PythonRunResult } from "../sandbox/runProgram.js";
import { lastBoxedContent } from "./boxedAnswer.js";
import { defaultCodeTimeoutMs, extractPythonCode } from "./codeScorer.js";
import { gsm8kScore } from "./gsm8kScorer.js";
import { describeHiddenTests, runHiddenTests, type HiddenTestVerdict } from "./hiddenTests.js";
import { compareMathAnswers } from "./mathEquivalence.js";
import { qaScore } from "./qaF1.js";

export interface ScoreResult {
  /** In [0, 1]: 1 or 0 for code, MATH and GSM8K; the best token F1 for DROP and HotpotQA. */
  score: number;
  /** One line saying how the score came about. */
  detail: string;
  /** What was taken from the output and compared (boxed answer, last number, code); null if nothing. */
  extracted: string | null;
  /** QA only: whether the normalised output equals an accepted answer. */
  exactMatch?: boolean;
  /** Code only: the sandbox run of the hidden-test judge and the solution. */
  run?: PythonRunResult;
  /** Code only: the judge's verdict (null when none carrying the run's nonce came back). */
  verdict?: HiddenTestVerdict | null;
}

export interface ScoreOptions {
  /** Time limit for a code problem's hidden tests; default 40 s (HumanEval) or 15 s (MBPP). */
  codeTimeoutMs?: number;
  /** Sandbox for code problems; default the process-wide one. */
  sandbox?: PythonSandbox;
}

export async function scoreAnswer(problem: Problem, output: string, options: ScoreOptions = {}): Promise<ScoreResult> {
  switch (problem.family) {
    case "code": {
      const code = extractPythonCode(output, problem.entryPoint);
      const sandbox = options.sandbox ?? (await defaultPythonSandbox());
      const timeoutMs = options.codeTimeoutMs ?? defaultCodeTimeoutMs[problem.benchmark];
      const tested = await runHiddenTests(problem, code, sandbox, { timeoutMs });
      return { score: tested.passed ? 1 : 0, detail: describeHiddenTests(tested), extracted: code, run: tested.run, verdict: tested.verdict };
    }
    case "math": {
      if (problem.benchmark === "gsm8k") return gsm8kScore(output, problem.goldAnswer);
      const boxed = lastBoxedContent(output);
      if (boxed === null) return { score: 0, detail: "no \\boxed{...} answer in the output", extracted: null };
      const comparison = compareMathAnswers(boxed, problem.goldAnswer);
      const verdict = comparison.equal ? "matches" : "does not match";
      return {
        score: comparison.equal ? 1 : 0,
        detail: `${JSON.stringify(comparison.predicted)} ${verdict} gold ${JSON.stringify(comparison.gold)} (${comparison.rule})`,
        extracted: boxed,
      };
    }
    case "qa": {
      const { score, exactMatch, bestGold } = qaScore(output, problem.goldAnswers);
      return { score, exactMatch, detail: `token F1 ${score.toFixed(3)} against ${JSON.stringify(bestGold)}`, extracted: output };
    }
  }
}
