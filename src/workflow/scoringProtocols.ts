// Scoring protocols beside the rule-based scorers, following ScoreFlow: an LLM first extracts the
// final answer from a workflow's (often verbose) output, then either the rule-based scorer reads it
// ("extract", ScoreFlow's training scores) or an LLM judge says 1 or 0 against the gold answer
// ("judge", ScoreFlow's reported test numbers). Code is always scored by running the hidden tests.
// Prompts are this project's wording of ScoreFlow's protocol.
import type { Problem } from "../benchmarks/problem.js";
import { scoreAnswer, type ScoreOptions, type ScoreResult } from "../benchmarks/scoring/scoreAnswer.js";
import type { Executor } from "../executor/types.js";

export const SCORING_PROTOCOLS = ["rule", "extract", "judge"] as const;
export type ScoringProtocol = (typeof SCORING_PROTOCOLS)[number];

export const PROTOCOL_DESCRIPTIONS: Readonly<Record<ScoringProtocol, string>> = {
  rule: "rule-based scorers (code: hidden tests in the Python sandbox; math: boxed answer equivalence; gsm8k: last number; qa: token F1)",
  extract: "LLM answer extraction, then the rule-based scorers (ScoreFlow's training protocol; code: hidden tests only)",
  judge: "LLM answer extraction, then an LLM judge's 1/0 against the gold answer (ScoreFlow's test protocol; code: hidden tests only)",
};

export interface ProtocolOptions {
  protocol: ScoringProtocol;
  /** The LLM for extraction and judging (ScoreFlow uses the executor model). */
  judge?: Executor;
  scoreOptions?: ScoreOptions;
}

export function extractionPrompt(problem: Problem, output: string): string {
  const format =
    problem.family === "math"
      ? "Extract the final answer and write it exactly once in the form \\boxed{answer}."
      : "Extract the final answer exactly as written (do not change it), as briefly as possible, and reply with it alone.";
  return `A solver answered the question below. ${format}\n\nQuestion:\n${problem.question}\n\nSolver's output:\n${output}`;
}

export function judgePrompt(problem: Problem, answer: string): string {
  const gold = problem.family === "math" ? problem.goldAnswer : problem.family === "qa" ? problem.goldAnswers.join(", or ") : "";
  const context = problem.family === "qa" ? `\n\nPassage:\n${problem.context}` : "";
  return (
    `Decide whether the predicted answer to the question is correct, given the reference answer. ` +
    `Only output 1 if it is correct, or 0 if it is wrong.\n\nQuestion:\n${problem.question}${context}\n\n` +
    `Reference answer: ${gold}\nPredicted answer: ${answer}`
  );
}

async function ask(judge: Executor, prompt: string): Promise<string> {
  const result = await judge.complete({ messages: [{ role: "user", content: prompt }], temperature: 0 });
  return result.text.trim();
}

/** Scores `output` under `protocol`; an LLM failure scores 0 with its reason, never throws. */
export async function scoreWithProtocol(problem: Problem, output: string, options: ProtocolOptions): Promise<ScoreResult> {
  if (options.protocol === "rule" || problem.family === "code") return scoreAnswer(problem, output, options.scoreOptions);
  if (!options.judge) throw new Error(`the ${options.protocol} protocol needs an LLM (judge executor)`);
  let extracted: string;
  try {
    extracted = await ask(options.judge, extractionPrompt(problem, output));
  } catch (error) {
    return { score: 0, detail: `answer extraction failed: ${(error as Error).message}`, extracted: null };
  }
  if (options.protocol === "extract") {
    const scored = await scoreAnswer(problem, extracted, options.scoreOptions);
    return { ...scored, detail: `extracted ${JSON.stringify(extracted.slice(0, 80))}; ${scored.detail}` };
  }
  if (problem.family === "qa" && problem.benchmark === "hotpotqa") {
    // ScoreFlow's guard: an answer 10x longer or shorter than the gold is wrong whatever the judge says.
    const ratio = extracted.length / Math.max(1, (problem.goldAnswers[0] ?? "").length);
    if (ratio >= 10 || ratio <= 0.1) return { score: 0, detail: `extracted answer length ratio ${ratio.toFixed(2)} outside (0.1, 10)`, extracted };
  }
  let verdict: string;
  try {
    verdict = await ask(options.judge, judgePrompt(problem, extracted));
  } catch (error) {
    return { score: 0, detail: `judge failed: ${(error as Error).message}`, extracted };
  }
  // As in ScoreFlow, only an exact "1" counts as correct.
  const score = verdict === "1" ? 1 : 0;
  return { score, detail: `judge said ${JSON.stringify(verdict.slice(0, 20))} for ${JSON.stringify(extracted.slice(0, 80))}`, extracted };
}
