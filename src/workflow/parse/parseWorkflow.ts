// From a generator completion to a checked workflow program, or the reason it is invalid.
import type { TaskFamily } from "../family.js";
import { RULES_BY_FAMILY, type WorkflowRules } from "../rules.js";
import { TEMPLATE_WORKFLOWS } from "../templates.js";
import { extractProgram } from "./extractProgram.js";
import { quotedQuestion } from "./problemLeak.js";
import { templateSimilarity } from "./similarity.js";
import { checkProgram } from "./validateProgram.js";

export type ParsedWorkflow = { ok: true; code: string } | { ok: false; reason: string };

export interface WorkflowValidation {
  ok: boolean;
  /** The extracted program (empty when none could be extracted). */
  code: string;
  reason: string | null;
  /** Token similarity to the family's template in [0, 1]; null when the program did not parse. */
  similarity: number | null;
  estimatedCalls: number | null;
}

export interface ValidationOptions extends Partial<WorkflowRules> {
  /** The question the workflow was generated for: its strings must not quote it (5 words in a row). */
  question?: string;
}

/** Every check, with the measurements, for reports and regeneration loops. */
export function validateWorkflow(completion: string, family: TaskFamily, options: ValidationOptions = {}): WorkflowValidation {
  const { question, ...rules } = options;
  const effective = { ...RULES_BY_FAMILY[family], ...rules };
  const extracted = extractProgram(completion);
  if (extracted.ok === false) return { ok: false, code: "", reason: extracted.reason, similarity: null, estimatedCalls: null };
  const { code } = extracted;
  const check = checkProgram(code, family, effective);
  if (check.ok === false) return { ok: false, code, reason: check.reason, similarity: null, estimatedCalls: null };
  const similarity = templateSimilarity(code, TEMPLATE_WORKFLOWS[family]);
  const calls = check.estimatedCalls;
  // Similarity first: an unmodified template also has too few calls, but "nothing was changed" is
  // the more useful reason.
  let reason: string | null = null;
  if (similarity >= effective.maxTemplateSimilarity) {
    reason = `too similar to the template (${similarity.toFixed(2)} >= ${effective.maxTemplateSimilarity})`;
  } else if (calls < effective.minCalls || calls > effective.maxCalls) {
    reason = `the workflow makes ${calls} operator calls (counted statically); ${effective.minCalls} to ${effective.maxCalls} allowed`;
  } else {
    const quoted = question === undefined ? null : quotedQuestion(code, question);
    if (quoted !== null) reason = `the workflow contains problem-specific text: "${quoted}"`;
    else if (check.uncomputedReturnAt !== null) {
      reason = `the workflow returns a value that does not depend on any operator result (at offset ${check.uncomputedReturnAt}): every \`return\` must return what operators computed, not text written into the workflow`;
    }
  }
  return { ok: reason === null, code, reason, similarity, estimatedCalls: calls };
}

export function parseWorkflow(completion: string, family: TaskFamily, options: ValidationOptions = {}): ParsedWorkflow {
  const v = validateWorkflow(completion, family, options);
  return v.ok ? { ok: true, code: v.code } : { ok: false, reason: v.reason ?? "invalid workflow" };
}
