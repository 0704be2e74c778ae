// "No problem-specific content": a workflow is meant to be reusable across problems of its family, so
// its string literals must not copy the question. Flags any run of `minWords` consecutive words
// (case-insensitive, punctuation ignored) that a string in the workflow shares with the question.
import { tokenizer, tokTypes, type Token } from "acorn";

const words = (text: string): string[] => text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];

/** The shared run of words, or null when the workflow's strings do not quote the question. */
export function quotedQuestion(code: string, question: string, minWords = 5): string | null {
  const questionWords = words(question);
  if (questionWords.length < minWords) return null;
  const runs = new Set<string>();
  for (let i = 0; i + minWords <= questionWords.length; i++) runs.add(questionWords.slice(i, i + minWords).join(" "));
  for (const token of tokenizer(code, { ecmaVersion: 2022 }) as Iterable<Token>) {
    if (token.type !== tokTypes.string && token.type !== tokTypes.template) continue;
    const literal = words(String((token as Token & { value?: unknown }).value ?? ""));
    for (let i = 0; i + minWords <= literal.length; i++) {
      const run = literal.slice(i, i + minWords).join(" ");
      if (runs.has(run)) return run;
    }
  }
  return null;
}
