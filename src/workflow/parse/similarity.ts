// How much of a workflow is the template, measured on JS tokens (so reformatting and comments do not
// count as changes): the Ratcliff/Obershelp ratio 2*M/T that ScoreFlow computes with difflib on text.
import { tokenizer, type Token } from "acorn";

export function tokenSequence(source: string): string[] {
  const out: string[] = [];
  for (const token of tokenizer(source, { ecmaVersion: 2022 }) as Iterable<Token>) {
    // acorn's Token carries `value` at run time but does not declare it.
    const value = (token as Token & { value?: unknown }).value;
    out.push(`${token.type.label}:${String(value ?? "")}`);
  }
  return out;
}

/** 2 * matched / (|a| + |b|), matching the longest common run first, then recursing on both sides. */
export function sequenceSimilarity(a: readonly string[], b: readonly string[]): number {
  if (a.length + b.length === 0) return 1;
  return (2 * matchedCount(a, 0, a.length, b, 0, b.length)) / (a.length + b.length);
}

function matchedCount(a: readonly string[], aLo: number, aHi: number, b: readonly string[], bLo: number, bHi: number): number {
  const [i, j, size] = longestCommonRun(a, aLo, aHi, b, bLo, bHi);
  if (size === 0) return 0;
  return size + matchedCount(a, aLo, i, b, bLo, j) + matchedCount(a, i + size, aHi, b, j + size, bHi);
}

function longestCommonRun(a: readonly string[], aLo: number, aHi: number, b: readonly string[], bLo: number, bHi: number): [number, number, number] {
  let best: [number, number, number] = [aLo, bLo, 0];
  let previous = new Int32Array(bHi - bLo + 1);
  for (let i = aLo; i < aHi; i++) {
    const current = new Int32Array(bHi - bLo + 1);
    for (let j = bLo; j < bHi; j++) {
      if (a[i] !== b[j]) continue;
      const run = previous[j - bLo]! + 1;
      current[j - bLo + 1] = run;
      if (run > best[2]) best = [i - run + 1, j - run + 1, run];
    }
    previous = current;
  }
  return best;
}

export function templateSimilarity(code: string, template: string): number {
  return sequenceSimilarity(tokenSequence(code), tokenSequence(template));
}
