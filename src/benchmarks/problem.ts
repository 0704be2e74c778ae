// The Problem type: one benchmark item as the rest of the system sees it. Loaders build it from the
// AFlow/ScoreFlow files; the generator reads `question`, the executor reads `input`, the scorers read the
// family-specific fields. Nothing downstream reads the raw dataset rows.

export const benchmarkNames = ["humaneval", "mbpp", "math", "gsm8k", "drop", "hotpotqa"] as const;
export type BenchmarkName = (typeof benchmarkNames)[number];

/** "train" is the AFlow/ScoreFlow `*_validate.jsonl` file (SPOGW's training split); "test" is `*_test.jsonl`. */
export const splits = ["train", "test"] as const;
export type Split = (typeof splits)[number];

/** Task family: decides the generator prompt, the operator set and the kind of scorer. */
export type TaskFamily = "code" | "math" | "qa";

/** Where a problem came from; every error about a problem names it. */
export interface ProblemSource {
  /** Path of the data file. */
  file: string;
  /** 1-based line number in that file. */
  line: number;
}

interface ProblemCommon {
  /**
   * Identifier, unique within the benchmark and stable across runs: HumanEval "HumanEval/0", MBPP "mbpp/802",
   * MATH "math/<first 12 hex digits of the SHA-256 of the problem text>" (the rows carry no id), GSM8K
   * "gsm8k-test-677", DROP its numeric id as text, HotpotQA its `_id`.
   */
  id: string;
  benchmark: BenchmarkName;
  split: Split;
  family: TaskFamily;
  /**
   * The text the workflow generator sees: the question only (no DROP passage, no HotpotQA context), as in
   * ScoreFlow, so that a workflow cannot be specialised to the passage.
   */
  question: string;
  /**
   * The full text the executor works on: for QA the question plus passage or context; for code the task
   * text with the function signature; for math the problem statement.
   */
  input: string;
  source: ProblemSource;
}

export interface CodeProblem extends ProblemCommon {
  family: "code";
  benchmark: "humaneval" | "mbpp";
  /** Name of the function the solution must define and the tests call. */
  entryPoint: string;
  /**
   * Python run before the candidate solution, in the same program: HumanEval's prompt (its imports, helper
   * functions such as `encode_cyclic`, and the stub being solved), MBPP's `test_imports`. The candidate
   * then redefines the entry point. Empty when nothing is needed.
   */
  prelude: string;
  /**
   * Python run after the candidate: the hidden tests and the call that runs them (HumanEval
   * `check(<entry point>)`, MBPP `check()`). The program exits non-zero when a test fails.
   */
  hiddenTests: string;
  /**
   * Visible tests a workflow's `test` operator may run: `assert` statements calling `candidate(...)`,
   * from `*_public_test.jsonl`. Empty when the file has none, or (MBPP, keyed by entry point only) when two
   * rows share the entry point and the file cannot say which is meant.
   */
  publicTests: string[];
  /** A complete program (not just a body) that passes the hidden tests: the canonical or reference code. */
  referenceSolution: string;
}

export interface MathProblem extends ProblemCommon {
  family: "math";
  benchmark: "math" | "gsm8k";
  /**
   * The gold answer as written by the dataset: for MATH the contents of the last `\boxed{...}` of the
   * reference solution (LaTeX, unnormalised); for GSM8K the number (e.g. "36").
   */
  goldAnswer: string;
  /** The dataset's worked solution (MATH `solution`, GSM8K `cot`). */
  referenceSolution: string;
  /** MATH subject ("Prealgebra", ...) and level ("Level 5"); null for GSM8K. */
  subject: string | null;
  level: string | null;
}

export interface QaProblem extends ProblemCommon {
  family: "qa";
  benchmark: "drop" | "hotpotqa";
  /** Accepted answers; the score is the best over them (DROP `ref_text` split on "|"; HotpotQA one answer). */
  goldAnswers: string[];
  /** The passage (DROP) or the ten titled paragraphs (HotpotQA) the question is about. */
  context: string;
}

export type Problem = CodeProblem | MathProblem | QaProblem;
