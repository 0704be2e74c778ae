// The operators a workflow may call, per task family: the one place they are documented. The
// generator prompt, the validator (which names exist, how many arguments) and the sandbox bindings
// are all built from this table, so they cannot drift apart. The set follows ScoreFlow's per-family
// operators, renamed to JavaScript style; every operator is bound to the problem and returns a string.
import type { TaskFamily } from "../family.js";

export type OperatorName = "custom" | "answerGenerate" | "programmer" | "scEnsemble" | "review" | "codeGenerate" | "test";

/** How the sandbox reads an argument: a string, or an array of strings. */
export type ArgumentKind = "string" | "string[]";

export interface OperatorParameter {
  name: string;
  kind: ArgumentKind;
  /** An omitted optional argument takes this value. */
  defaultValue?: string;
}

export interface OperatorDoc {
  name: OperatorName;
  parameters: readonly OperatorParameter[];
  /** What the operator does, for the generator. */
  usage: string;
  /** One line of workflow code showing the call. */
  example: string;
}

const custom: OperatorDoc = {
  name: "custom",
  parameters: [{ name: "instruction", kind: "string" }],
  usage: "Asks the executor LLM to answer the problem following your instruction; returns its full answer.",
  example: 'const solution = await ops.custom("Solve the problem step by step and state the final answer clearly.");',
};

const answerGenerate: OperatorDoc = {
  name: "answerGenerate",
  parameters: [],
  usage: "Asks the executor LLM to reason step by step and give a short final answer; returns the reasoning followed by the answer.",
  example: "const answer = await ops.answerGenerate();",
};

const programmer: OperatorDoc = {
  name: "programmer",
  parameters: [{ name: "analysis", kind: "string", defaultValue: "None" }],
  usage:
    "Asks the executor LLM to write a Python program that computes the answer (using your analysis if given), runs it in a sandbox with a time limit, and returns the program with its output.",
  example: "const computed = await ops.programmer(analysis);",
};

const scEnsemble: OperatorDoc = {
  name: "scEnsemble",
  parameters: [{ name: "solutions", kind: "string[]" }],
  usage:
    "Given several candidate solutions, asks the executor LLM which answer is the most consistent among them; returns that solution unchanged.",
  example: "const best = await ops.scEnsemble([first, second, third]);",
};

const review: OperatorDoc = {
  name: "review",
  parameters: [{ name: "solution", kind: "string" }],
  usage:
    "Asks the executor LLM to check a solution for errors in logic, calculation, understanding and detail; returns a corrected solution.",
  example: "const checked = await ops.review(solution);",
};

const codeGenerate: OperatorDoc = {
  name: "codeGenerate",
  parameters: [{ name: "instruction", kind: "string" }],
  usage:
    "Asks the executor LLM to write the requested Python function following your instruction; returns the code only.",
  example: 'const code = await ops.codeGenerate("Think about edge cases, then write the complete function.");',
};

const test: OperatorDoc = {
  name: "test",
  parameters: [{ name: "solution", kind: "string" }],
  usage:
    "Runs a code solution against the problem's public example tests in a sandbox; on failure asks the executor LLM to repair it (at most 3 rounds); returns the final code.",
  example: "const tested = await ops.test(code);",
};

export const OPERATORS_BY_FAMILY: Readonly<Record<TaskFamily, readonly OperatorDoc[]>> = {
  math: [custom, programmer, scEnsemble, review],
  code: [codeGenerate, scEnsemble, test],
  qa: [custom, answerGenerate, scEnsemble, review],
};

export function operatorsFor(family: TaskFamily): readonly OperatorDoc[] {
  return OPERATORS_BY_FAMILY[family];
}

export function findOperator(family: TaskFamily, name: string): OperatorDoc | undefined {
  return OPERATORS_BY_FAMILY[family].find((op) => op.name === name);
}

/** `name(a: string, b: string[]) -> string`, the form shown in the prompt. */
export function operatorSignature(doc: OperatorDoc): string {
  const params = doc.parameters.map((p) => `${p.name}${p.defaultValue === undefined ? "" : "?"}: ${p.kind}`);
  return `ops.${doc.name}(${params.join(", ")}) -> Promise<string>`;
}

/** The operator section of the generator prompt. */
export function renderOperatorDocs(family: TaskFamily): string {
  return operatorsFor(family)
    .map((doc, i) => `${i + 1}. ${operatorSignature(doc)}\n   ${doc.usage}\n   Example: ${doc.example}`)
    .join("\n");
}
