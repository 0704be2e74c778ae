// The template workflow shown to the generator for each family: one operator call, as in ScoreFlow.
// A generated workflow too similar to its template is rejected (nothing was designed).
import type { TaskFamily } from "./family.js";

export const TEMPLATE_WORKFLOWS: Readonly<Record<TaskFamily, string>> = {
  math: `async function workflow(ops) {
  const solution = await ops.custom("Can you solve this problem by breaking it down into detailed steps and explaining the reasoning behind each step?");
  return solution;
}`,
  code: `async function workflow(ops) {
  const solution = await ops.codeGenerate("Can you analyze this problem step by step and generate the code?");
  return solution;
}`,
  qa: `async function workflow(ops) {
  const answer = await ops.answerGenerate();
  return answer;
}`,
};
