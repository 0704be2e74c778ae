// Are two MATH answers the same? After normalisation (mathNormalize.ts): equal text, or the same structure
// (matrix, tuple/interval, unordered list, equation, \pm pair) with equal parts, where two parts are equal
// when they evaluate to the same number, or for expressions with variables to the same numbers at several
// points. docs/scoring.md lists the rules and what is known not to be handled.
import { evaluate, freeVariables, parseLatexExpression, type Expr } from "./latexExpression.js";
import { normalizeMathAnswer } from "./mathNormalize.js";

/**
 * Two values are equal when |a - b| <= relativeTolerance * max(1, |a|, |b|): far above float64 rounding in
 * these short expressions, far below the gap between distinct answers in the data ("1" and
 * "\frac{4036082}{4036081}" differ by 2.5e-7).
 */
export const relativeTolerance = 1e-9;

type Structure =
  | { kind: "scalar"; text: string }
  | { kind: "matrix"; rows: string[][] }
  | { kind: "tuple"; open: string; close: string; items: string[] }
  | { kind: "unordered"; items: string[] }
  | { kind: "equation"; lhs: string; rhs: string };

/** Splits at `separator` where no bracket is open. */
function splitTopLevel(text: string, separator: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === "\\" && (text[i + 1] === "{" || text[i + 1] === "}")) {
      i++;
      continue;
    }
    if ("([{".includes(c)) depth++;
    else if (")]}".includes(c)) depth--;
    else if (depth === 0 && text.startsWith(separator, i)) {
      parts.push(text.slice(start, i).trim());
      start = i + separator.length;
      i += separator.length - 1;
    }
  }
  parts.push(text.slice(start).trim());
  return parts;
}

/** True when the bracket opening at 0 closes at the very end (so "(1,2)" but not "(1)(2)"). */
function enclosedByOneBracketPair(text: string): boolean {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    if ("([{".includes(text[i] as string)) depth++;
    else if (")]}".includes(text[i] as string)) depth--;
    if (depth === 0 && i < text.length - 1) return false;
  }
  return depth === 0;
}

function structureOf(text: string): Structure {
  const matrix = /^\\begin\{[pbv]?matrix\}(.*)\\end\{[pbv]?matrix\}$/.exec(text);
  if (matrix) return { kind: "matrix", rows: (matrix[1] ?? "").split("\\\\").map((row) => row.split("&").map((cell) => cell.trim())) };
  const set = /^\\\{(.*)\\\}$/.exec(text);
  if (set) return { kind: "unordered", items: splitTopLevel(set[1] ?? "", ",") };
  const first = text[0] ?? "";
  const last = text[text.length - 1] ?? "";
  if ("([".includes(first) && ")]".includes(last) && enclosedByOneBracketPair(text)) {
    const items = splitTopLevel(text.slice(1, -1), ",");
    if (items.length > 1) return { kind: "tuple", open: first, close: last, items };
  }
  const items = splitTopLevel(text, ",");
  if (items.length > 1) return { kind: "unordered", items };
  const plusMinus = splitTopLevel(text, "\\pm");
  if (plusMinus.length === 2) {
    const [a, b] = plusMinus as [string, string];
    return { kind: "unordered", items: [`${a} + (${b})`, `${a} - (${b})`] };
  }
  const sides = splitTopLevel(text, "=");
  if (sides.length === 2) return { kind: "equation", lhs: sides[0] as string, rhs: sides[1] as string };
  return { kind: "scalar", text };
}

/**
 * An integer written right before a fraction of integers is a mixed number in MATH answers:
 * "11\frac{2}{3}" is 11 + 2/3, not 11 * 2/3; it becomes "(11+\frac{2}{3})" before parsing.
 */
function expandMixedNumbers(text: string): string {
  return text.replace(/(^|[^\d.^_}])(\d+) ?\\frac\{(\d+)\}\{(\d+)\}/g, "$1($2+\\frac{$3}{$4})");
}

function parseScalar(text: string): Expr | null {
  return parseLatexExpression(expandMixedNumbers(text));
}

function close(a: number, b: number): boolean {
  return Math.abs(a - b) <= relativeTolerance * Math.max(1, Math.abs(a), Math.abs(b));
}

/** Variable values at which expressions are compared: fixed, irregular, away from 0 and small integers. */
const samplePoints = [0.7391, 1.3183, -0.5261, 2.1459, 0.9057, -1.7312, 1.6271, 0.4113];

function valuesAt(variables: string[], point: number): Map<string, number> {
  return new Map(variables.map((name, k) => [name, samplePoints[(point + 3 * k) % samplePoints.length] as number]));
}

/** The two expressions' values at the same points (one point when there are no variables); null if the variables differ. */
function valuePairs(a: Expr, b: Expr): [number, number][] | null {
  const variables = [...freeVariables(a)].sort();
  const others = [...freeVariables(b)].sort();
  if (variables.join() !== others.join()) return null;
  const points = variables.length === 0 ? 1 : 5;
  return Array.from({ length: points }, (_, p) => {
    const values = valuesAt(variables, p);
    return [evaluate(a, values), evaluate(b, values)] as [number, number];
  });
}

function scalarsEqual(predicted: string, gold: string, percent: boolean): boolean {
  if (predicted.replaceAll(" ", "") === gold.replaceAll(" ", "")) return true;
  const a = parseScalar(predicted);
  const b = parseScalar(gold);
  if (!a || !b) return false;
  const pairs = valuePairs(a, b);
  if (!pairs) return false;
  const finite = pairs.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  if (finite.length === 0 || pairs.some(([x, y]) => Number.isFinite(x) !== Number.isFinite(y))) return false;
  if (finite.every(([x, y]) => close(x, y))) return true;
  // A percent answer may be given as a percentage or as a fraction of one: 28% = 28 = 0.28.
  if (percent && pairs.length === 1) {
    const [x, y] = finite[0] as [number, number];
    return close(x, y / 100) || close(x, y * 100);
  }
  return false;
}

/** lhs - rhs of two equations agree up to a non-zero constant factor ("2x + 2y = 2" is "x + y = 1"). */
function equationsEqual(p: { lhs: string; rhs: string }, g: { lhs: string; rhs: string }): boolean {
  const a = parseLatexExpression(`${p.lhs} - (${p.rhs})`);
  const b = parseLatexExpression(`${g.lhs} - (${g.rhs})`);
  if (!a || !b) return false;
  const pairs = valuePairs(a, b);
  if (!pairs || pairs.length < 2) return false;
  let ratio: number | null = null;
  for (const [x, y] of pairs) {
    if (!Number.isFinite(x) || !Number.isFinite(y)) return false;
    if (Math.abs(y) < 1e-12) {
      if (Math.abs(x) >= 1e-12) return false;
      continue;
    }
    const r = x / y;
    if (r === 0 || (ratio !== null && !close(r, ratio))) return false;
    ratio ??= r;
  }
  return ratio !== null;
}

/** Each predicted item matches a different gold item (order ignored). */
function sameItemsAnyOrder(predicted: string[], gold: string[], percent: boolean): boolean {
  if (predicted.length !== gold.length) return false;
  const unused = [...gold];
  for (const item of predicted) {
    const k = unused.findIndex((g) => scalarsEqual(item, g, percent));
    if (k < 0) return false;
    unused.splice(k, 1);
  }
  return true;
}

function sameItemsInOrder(predicted: string[], gold: string[], percent: boolean): boolean {
  return predicted.length === gold.length && predicted.every((item, k) => scalarsEqual(item, gold[k] as string, percent));
}

export interface MathComparison {
  equal: boolean;
  /** Which rule decided, for the score detail. */
  rule: string;
  predicted: string;
  gold: string;
}

/** Answers longer than this are not normalised (some rules are quadratic in the length): text equality only. */
export const maxAnswerLength = 10_000;

/** Compares two raw answers (the contents of \boxed{}), normalising both first. */
export function compareMathAnswers(predictedRaw: string, goldRaw: string): MathComparison {
  if (predictedRaw.length > maxAnswerLength || goldRaw.length > maxAnswerLength) {
    const equal = predictedRaw === goldRaw;
    return { equal, rule: `answer longer than ${maxAnswerLength} characters: compared as raw text`, predicted: predictedRaw.slice(0, 80), gold: goldRaw.slice(0, 80) };
  }
  const p = normalizeMathAnswer(predictedRaw);
  const g = normalizeMathAnswer(goldRaw);
  const result = (equal: boolean, rule: string): MathComparison => ({ equal, rule, predicted: p.text, gold: g.text });
  if (p.compact === g.compact) return result(true, "same text after normalisation");
  const percent = p.hadPercent || g.hadPercent;
  const ps = structureOf(p.text);
  const gs = structureOf(g.text);
  if (ps.kind !== gs.kind) return result(false, `different forms (${ps.kind} vs ${gs.kind})`);
  switch (ps.kind) {
    case "scalar":
      return result(scalarsEqual(ps.text, (gs as typeof ps).text, percent), "numeric value");
    case "matrix": {
      const gm = gs as typeof ps;
      const sameShape = ps.rows.length === gm.rows.length && ps.rows.every((row, r) => row.length === gm.rows[r]?.length);
      return result(sameShape && ps.rows.every((row, r) => sameItemsInOrder(row, gm.rows[r] as string[], false)), "matrix entries");
    }
    case "tuple": {
      const gt = gs as typeof ps;
      const sameBrackets = ps.open === gt.open && ps.close === gt.close;
      return result(sameBrackets && sameItemsInOrder(ps.items, gt.items, percent), "tuple/interval entries in order");
    }
    case "unordered":
      return result(sameItemsAnyOrder(ps.items, (gs as typeof ps).items, percent), "list entries in any order");
    case "equation":
      return result(equationsEqual(ps, gs as typeof ps), "equations up to a constant factor");
  }
}
