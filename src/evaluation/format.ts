// How solve rates and method names are written, shared by `eval`, `table` and the HTML report so that
// every place prints the same digits for the same stored number.
import { BASELINE_NAMES, isBaselineName, type BaselineName } from "../workflow/baselines.js";
import { generatorIteration } from "./evaluationStore.js";

/** A rate in [0, 1] as a percentage with one decimal, as the paper's tables write it. */
export function percent(rate: number): string {
  return (rate * 100).toFixed(1);
}

/** "46.7 ± 2.9": mean and standard deviation over runs, in percent. */
export function formatSolveRate(solveRate: number, std: number): string {
  return `${percent(solveRate)} ± ${percent(std)}`;
}

/** The protocol as a short tag beside a number: "rule", "extract" or "judge". */
export function protocolTag(protocol: string): string {
  return protocol === "judge" ? "LLM judge" : protocol === "extract" ? "LLM extract + rule" : "rule-based";
}

const BASELINE_LABELS: Readonly<Record<BaselineName, string>> = {
  io: "IO",
  cot: "CoT",
  "cot-sc": "CoT SC",
  medprompt: "MedPrompt",
  multipersona: "MultiPersona",
  "self-refine": "Self Refine",
};

/** Row label of a method, in the paper's words for the baselines. */
export function methodLabel(method: string): string {
  if (isBaselineName(method)) return BASELINE_LABELS[method];
  const iteration = generatorIteration(method);
  if (iteration === 0) return "Generator (base model)";
  if (iteration !== null) return `SPOGW (adapter ${iteration})`;
  return method;
}

/** Sort key of a method: the baselines in Table 1's order, then generator iterations ascending. */
export function methodOrder(method: string): number {
  if (isBaselineName(method)) return BASELINE_NAMES.indexOf(method);
  const iteration = generatorIteration(method);
  return iteration === null ? 10_000 : 1_000 + iteration;
}
