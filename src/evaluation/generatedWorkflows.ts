// One workflow per test problem from a generator (the base model or an iteration's adapter): the
// workflow prompt for the problem's question, sampled with a seed derived from the problem id (so a
// rerun writes the same workflow), parsed and validated, and regenerated while invalid up to a limit.
import type { Problem } from "../benchmarks/problem.js";
import type { Generator } from "../generator/index.js";
import { SeededRandom } from "../util/seededRandom.js";
import { buildGeneratorPrompt, WORKFLOW_CLOSE_TAG } from "../workflow/generatorPrompt.js";
import { parseWorkflow } from "../workflow/parse/parseWorkflow.js";

export interface GeneratedWorkflow {
  problemId: string;
  /** The parsed workflow, or null when every attempt was invalid. */
  workflow: string | null;
  invalidReason: string | null;
  attempts: number;
}

export interface GenerationSettings {
  temperature: number;
  topP: number;
  maxTokens: number;
  /** Attempts per problem before it is given up as invalid (scored 0). */
  maxAttempts: number;
  seed: number;
}

export async function generateWorkflows(generator: Generator, problems: readonly Problem[], settings: GenerationSettings, onProblem?: (w: GeneratedWorkflow) => void): Promise<GeneratedWorkflow[]> {
  if (!Number.isInteger(settings.maxAttempts) || settings.maxAttempts < 1) throw new Error(`maxAttempts must be a positive whole number, got ${settings.maxAttempts}`);
  const written: GeneratedWorkflow[] = [];
  for (const problem of problems) {
    const prompt = buildGeneratorPrompt(problem.question, problem.family);
    let result: GeneratedWorkflow = { problemId: problem.id, workflow: null, invalidReason: "not generated", attempts: 0 };
    for (let attempt = 0; attempt < settings.maxAttempts; attempt++) {
      const seed = Math.floor(new SeededRandom(settings.seed, `eval:${problem.id}:${attempt}`).next() * 2 ** 31);
      let completion;
      try {
        [completion] = await generator.sample(prompt, { m: 1, temperature: settings.temperature, topP: settings.topP, maxTokens: settings.maxTokens, stop: [WORKFLOW_CLOSE_TAG], seed });
      } catch (error) {
        // A generator that cannot take the prompt at all (e.g. too small a context) fails every problem alike: stop with the reason.
        throw new Error(`the generator cannot write a workflow for ${problem.id}: ${(error as Error).message}`);
      }
      const parsed = parseWorkflow(completion!.text, problem.family);
      result = parsed.ok
        ? { problemId: problem.id, workflow: parsed.code, invalidReason: null, attempts: attempt + 1 }
        : { problemId: problem.id, workflow: null, invalidReason: parsed.reason, attempts: attempt + 1 };
      if (parsed.ok) break;
    }
    written.push(result);
    onProblem?.(result);
  }
  return written;
}
