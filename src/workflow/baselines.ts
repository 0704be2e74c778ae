// The static baselines of the paper's Table 1, written in the workflow language so that they run in
// the same sandbox, on the same executor and scorers, as generated workflows. Each family uses its own
// answering operator (custom for math and qa, codeGenerate for code) and asks for the answer in the
// form its scorer reads (\boxed{} for math, a short phrase for qa, a code block for code).
import type { TaskFamily } from "./family.js";

export const BASELINE_NAMES = ["io", "cot", "cot-sc", "medprompt", "multipersona", "self-refine"] as const;
export type BaselineName = (typeof BASELINE_NAMES)[number];

export function isBaselineName(value: string): value is BaselineName {
  return (BASELINE_NAMES as readonly string[]).includes(value);
}

export const BASELINE_DESCRIPTIONS: Readonly<Record<BaselineName, string>> = {
  io: "IO: one direct call",
  cot: "CoT: one step-by-step call",
  "cot-sc": "CoT-SC: 5 step-by-step samples, self-consistency ensemble",
  medprompt: "MedPrompt: 3 step-by-step responses, 5 ensemble votes over shuffled orders, majority",
  multipersona: "MultiPersona: two personas answer, each revises after seeing the other's answer, an ensemble decides",
  "self-refine": "Self-Refine: an answer, then 2 rounds of feedback and refinement",
};

const ANSWER_FORMAT: Record<TaskFamily, string> = {
  math: "Put the final answer in \\boxed{}.",
  qa: "Finish with the final answer alone on the last line, as short as possible.",
  code: "Return the complete function.",
};

/** The family's operator that answers the problem from an instruction. */
function answerOperator(family: TaskFamily): string {
  return family === "code" ? "codeGenerate" : "custom";
}

/** `ops.<answer operator>(<instruction expression>)`; the expression is JS (a literal or a concatenation). */
function ask(family: TaskFamily, instructionExpression: string): string {
  return `ops.${answerOperator(family)}(${instructionExpression})`;
}

/** A JS string literal holding `text`. */
const quote = (text: string): string => JSON.stringify(text);

export function baselineWorkflow(name: BaselineName, family: TaskFamily): string {
  const format = ANSWER_FORMAT[family];
  const direct = quote(`Answer the problem. ${format}`);
  const stepByStep = quote(`Think step by step, then answer. ${format}`);
  switch (name) {
    case "io":
      return `async function workflow(ops) {
  return await ${ask(family, direct)};
}`;
    case "cot":
      return `async function workflow(ops) {
  return await ${ask(family, stepByStep)};
}`;
    case "cot-sc":
      // Repeated identical calls are distinct samples (see the operator host).
      return `async function workflow(ops) {
  const samples = [];
  for (let i = 0; i < 5; i++) {
    samples.push(await ${ask(family, stepByStep)});
  }
  return await ops.scEnsemble(samples);
}`;
    case "medprompt":
      return `async function workflow(ops) {
  const responses = [];
  for (let i = 0; i < 3; i++) {
    responses.push(await ${ask(family, stepByStep)});
  }
  const votes = [];
  for (let v = 0; v < 5; v++) {
    const shift = v % 3;
    const shuffled = responses.slice(shift).concat(responses.slice(0, shift));
    votes.push(await ops.scEnsemble(v % 2 === 0 ? shuffled : shuffled.reverse()));
  }
  let best = votes[0];
  let bestCount = 0;
  for (const candidate of votes) {
    const count = votes.filter((other) => other === candidate).length;
    if (count > bestCount) {
      best = candidate;
      bestCount = count;
    }
  }
  return best;
}`;
    case "multipersona": {
      const personaA = `You are a meticulous expert who checks every detail. Think step by step, then answer. ${format}`;
      const personaB = `You are a creative expert who looks for the simplest path. Think step by step, then answer. ${format}`;
      const debate = " Another expert answered as follows; weigh their reasoning, then give your own final answer.\n";
      return `async function workflow(ops) {
  const first = await Promise.all([${ask(family, quote(personaA))}, ${ask(family, quote(personaB))}]);
  const revised = await Promise.all([
    ${ask(family, `${quote(personaA + debate)} + first[1]`)},
    ${ask(family, `${quote(personaB + debate)} + first[0]`)},
  ]);
  return await ops.scEnsemble(revised);
}`;
    }
    case "self-refine": {
      const refine = quote(
        `Here is a previous answer. First list its mistakes or weaknesses, then write an improved answer. ${format}\nPrevious answer:\n`,
      );
      return `async function workflow(ops) {
  let answer = await ${ask(family, stepByStep)};
  for (let round = 0; round < 2; round++) {
    answer = await ${family === "code" ? ask(family, `${refine} + answer`) : "ops.review(answer)"};
  }
  return answer;
}`;
    }
  }
}
