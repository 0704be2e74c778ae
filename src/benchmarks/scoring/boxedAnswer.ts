// The final answer of a MATH-style solution: the contents of its last \boxed{...} (or \fbox{...}).

/**
 * Contents of the last `\boxed{...}` / `\fbox{...}` in `text`, with nested braces matched; `\boxed 5`
 * (argument without braces) gives the text up to the next space or `$`. Null when there is none, or when
 * the last one's braces never close.
 */
export function lastBoxedContent(text: string): string | null {
  const start = Math.max(text.lastIndexOf("\\boxed"), text.lastIndexOf("\\fbox"));
  if (start < 0) return null;
  let i = start + (text.startsWith("\\boxed", start) ? "\\boxed".length : "\\fbox".length);
  if (text[i] === " " && text[i + 1] !== "{") {
    const rest = text.slice(i + 1);
    const end = rest.search(/[\s$]/);
    return end < 0 ? rest : rest.slice(0, end);
  }
  while (text[i] === " ") i++;
  if (text[i] !== "{") return null;
  let depth = 0;
  for (let j = i; j < text.length; j++) {
    const c = text[j];
    if (c === "\\") {
      j++; // an escaped character (\{ \} \\) never opens or closes a group
      continue;
    }
    if (c === "{") depth++;
    else if (c === "}" && --depth === 0) return text.slice(i + 1, j);
  }
  return null;
}
