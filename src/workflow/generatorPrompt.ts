// The prompt the generator model completes with a workflow: template, operator docs, the question
// (never the passage or the tests), and the rules. Raw text by default, as ScoreFlow samples it with no
// chat template; `format: "chat"` gives messages for a chat-templated model instead.
import type { ChatMessage } from "../executor/types.js";
import type { TaskFamily } from "./family.js";
import { renderOperatorDocs } from "./operators/catalog.js";
import { RULES_BY_FAMILY } from "./rules.js";
import { TEMPLATE_WORKFLOWS } from "./templates.js";

/** The generator's completion should end with this; use it as the stop string. */
export const WORKFLOW_CLOSE_TAG = "</workflow>";
export const WORKFLOW_OPEN_TAG = "<workflow>";

const QUESTION_LABEL: Record<TaskFamily, string> = { math: "Problem", code: "Task", qa: "Question" };

function instructions(question: string, family: TaskFamily): string {
  const rules = RULES_BY_FAMILY[family];
  return [
    `Your objective is to write a workflow: a JavaScript function that solves problems like the one below by calling operators. Start from this template${family === "qa" ? " (but you must modify it)" : ""}:`,
    `${WORKFLOW_OPEN_TAG}\n${TEMPLATE_WORKFLOWS[family]}\n${WORKFLOW_CLOSE_TAG}`,
    "The operators you can use (these are the only ones; each is already bound to the problem and returns a string):",
    renderOperatorDocs(family),
    `Here is the problem. Your workflow must not contain any specific information from it.\n${QUESTION_LABEL[family]}: ${question}`,
    [
      "Rules:",
      "- Write exactly one `async function workflow(ops)` that returns a string; nothing outside it.",
      "- Call operators only as `await ops.name(...)` (or inside `Promise.all([...])`); no other globals, imports, classes, `this`, `eval`, `while` loops or recursion.",
      `- Use between ${rules.minCalls} and ${rules.maxCalls} operator calls in total; a \`for\` loop runs at most ${rules.maxLoopIterations} times and its calls count once per iteration.`,
      "- Use loops and scEnsemble to combine several attempts. Instructions should ask for step-by-step thinking; do not ask for several answers in one call.",
      "- The workflow must differ from the template and must not mention anything specific to this problem.",
    ].join("\n"),
    `Here is the workflow, without any problem-specific information:\n${WORKFLOW_OPEN_TAG}\n`,
  ].join("\n\n");
}

export interface GeneratorPromptOptions {
  /** "raw" (default): one text to complete. "chat": user message for a chat template. */
  format?: "raw" | "chat";
}

export function buildGeneratorPrompt(question: string, family: TaskFamily, options: { format: "chat" }): ChatMessage[];
export function buildGeneratorPrompt(question: string, family: TaskFamily, options?: { format?: "raw" }): string;
export function buildGeneratorPrompt(question: string, family: TaskFamily, options: GeneratorPromptOptions = {}): string | ChatMessage[] {
  const text = instructions(question, family);
  if (options.format === "chat") return [{ role: "user", content: text }];
  return text;
}
