// Reading what the executor answered: named fields, Python code, a chosen letter. Executors are weak
// and inconsistent, so each reader has a stated fallback instead of failing the whole workflow.

/** The text of `<name>...</name>` (the last complete one), or null when absent. */
export function extractField(text: string, name: string): string | null {
  const open = `<${name}>`;
  const close = `</${name}>`;
  const end = text.lastIndexOf(close);
  if (end < 0) return null;
  const start = text.lastIndexOf(open, end);
  if (start < 0) return null;
  return text.slice(start + open.length, end).trim();
}

/**
 * Python code from an answer: the longest ```python (or bare ```) block; an answer with no fence is
 * taken as code when it contains a `def` or `import` line, else null.
 */
export function extractPythonCode(text: string): string | null {
  const blocks: string[] = [];
  const fence = /```[ \t]*(?:python3?|py)?[ \t]*\r?\n([\s\S]*?)```/gi;
  for (let m = fence.exec(text); m; m = fence.exec(text)) blocks.push(m[1] ?? "");
  if (blocks.length > 0) return blocks.reduce((a, b) => (b.length > a.length ? b : a)).trimEnd();
  // An unterminated fence (the answer hit its token limit): take what follows it.
  const open = /```[ \t]*(?:python3?|py)?[ \t]*\r?\n([\s\S]*)$/i.exec(text);
  if (open?.[1]?.match(/^\s*(def|import|from|class)\s/m)) return open[1].trimEnd();
  if (/^\s*(def|import|from)\s/m.test(text)) return text.trim();
  return null;
}

/** The index named by a letter answer ("B", "Solution B", "<solution_letter>b"), or null. */
export function parseLetterChoice(text: string, count: number): number | null {
  const field = extractField(text, "solution_letter") ?? text;
  const match = /\b([A-Z])\b/i.exec(field.trim());
  if (!match?.[1]) return null;
  const index = match[1].toUpperCase().charCodeAt(0) - 65;
  return index >= 0 && index < count ? index : null;
}
