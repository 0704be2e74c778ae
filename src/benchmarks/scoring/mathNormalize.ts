// String normalisation of MATH answers (Hendrycks-style), applied to both the prediction and the gold
// answer before they are compared. Each rule is numbered; docs/scoring.md lists the same rules.

export interface NormalizedMathAnswer {
  /** Normalised text with single spaces (spaces separate LaTeX commands from letters: "\pi r"). */
  text: string;
  /** `text` without any spaces: the form compared as a string. */
  compact: string;
  /** The answer carried a percent sign (rule 9); numeric comparison then also accepts value/100 and value*100. */
  hadPercent: boolean;
}

const textWrappers = ["text", "textbf", "textit", "textrm", "textnormal", "mathrm", "mathbf", "mathit", "mbox", "operatorname"];

/** Words dropped from the end of an answer when something precedes them (rule 12). */
const unitWords = new Set(
  (
    "unit units degree degrees cm centimeter centimeters centimetre centimetres mm meter meters metre metres km " +
    "inch inches ft foot feet yard yards mile miles dollar dollars cent cents minute minutes min mins hour hours hr hrs " +
    "second seconds sec secs day days week weeks month months year years mph pound pounds lb lbs ounce ounces oz " +
    "gram grams kg liter liters gallon gallons people students square sq cubic per"
  ).split(" "),
);

/** Replaces every `\name{...}` (braces matched) by its contents (rule 10). */
function unwrapCommand(text: string, name: string): string {
  const opener = `\\${name}{`;
  for (let start = text.indexOf(opener); start >= 0; start = text.indexOf(opener)) {
    let depth = 0;
    let end = -1;
    for (let j = start + opener.length - 1; j < text.length; j++) {
      if (text[j] === "{") depth++;
      else if (text[j] === "}" && --depth === 0) {
        end = j;
        break;
      }
    }
    if (end < 0) return text; // unbalanced: leave it for the string comparison
    text = text.slice(0, start) + text.slice(start + opener.length, end) + text.slice(end + 1);
  }
  return text;
}

/** "\frac12" -> "\frac{1}{2}", "\frac1{2}", "\frac{1}2", "\sqrt2" -> "\sqrt{2}" (rule 14). */
function braceShortArguments(text: string): string {
  return text
    .replace(/\\frac\s*([0-9A-Za-z])\s*([0-9A-Za-z])/g, "\\frac{$1}{$2}")
    .replace(/\\frac\s*([0-9A-Za-z])\s*\{/g, "\\frac{$1}{")
    .replace(/\\frac\s*(\{[^{}]*\})\s*([0-9A-Za-z])/g, "\\frac$1{$2}")
    .replace(/\\sqrt\s*([0-9A-Za-z])/g, "\\sqrt{$1}");
}

function dropTrailingUnits(text: string): string {
  const words = text.split(" ");
  while (words.length > 1 && unitWords.has((words[words.length - 1] ?? "").toLowerCase())) words.pop();
  return words.join(" ");
}

export function normalizeMathAnswer(raw: string): NormalizedMathAnswer {
  let s = raw.replace(/\s+/g, " ").trim(); // 1. whitespace, line breaks
  s = s.replaceAll("\\$", "").replaceAll("$", ""); // 2. dollar signs (currency and math delimiters)
  // 3. LaTeX spacing; a backslash preceded by another is the row break "\\", not a spacing command
  s = s.replace(/(?<!\\)\\[!,]/g, "").replace(/(?<!\\)\\[;: ]|\\q?quad|~/g, " ");
  s = s.replaceAll("{,}", ","); // 4. "14{,}916"
  s = s.replace(/\\[dtc]frac/g, "\\frac"); // 5. \dfrac, \tfrac, \cfrac
  s = s.replace(/\\(?:left|right)\s*\./g, "").replace(/\\(?:left|right|big|Big|bigl|bigr|Bigl|Bigr)\b/g, ""); // 6.
  s = s.replace(/\\(?:displaystyle|textstyle)/g, ""); // 7.
  s = s.replace(/\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|\\circ|\\degree|°/g, ""); // 8. degrees
  const hadPercent = /\\?%/.test(s);
  s = s.replace(/\\?%/g, ""); // 9. percent (remembered in hadPercent)
  for (const name of textWrappers) s = unwrapCommand(s, name); // 10. \text{...} and friends
  s = s.replace(/\s+/g, " ").trim().replace(/\.$/, "").trim(); // 11. trailing period
  s = dropTrailingUnits(s); // 12. trailing unit words
  s = s.replace(/^(?:[A-Za-z]|\\[A-Za-z]+)(?:_\{?\w+\}?)?\s*(?:=|\\in)\s*(?=[^=]*$)/, ""); // 13. "x = 5", "x \in [0,1]"
  s = braceShortArguments(s); // 14.
  s = s.replace(/(^|[^0-9])\.([0-9])/g, "$10.$2"); // 15. ".5" -> "0.5"
  if (/^-?\d{1,3}(,\d{3})+(\.\d+)?$/.test(s)) s = s.replaceAll(",", ""); // 16. thousands separators, whole answer
  s = s.replace(/\{(\d{1,3}(?:,\d{3})+)\}/g, (_, n: string) => `{${n.replaceAll(",", "")}}`); // 16. ... or one braced number
  s = s.replace(/^(-?\d+)\s*\/\s*(\d+)$/, "\\frac{$1}{$2}"); // 17. "a/b" of integers
  s = s.replace(/ and /g, ", "); // 18. "12 and 13" is a list
  s = s.replace(/^\(([A-Ea-e])\)$/, "$1"); // 19. multiple choice "(C)" -> "C"
  if (/^[A-Za-z ]{2,}$/.test(s)) s = s.toLowerCase(); // 20. a word answer ("Friday") compares without case
  s = s.replace(/\s+/g, " ").trim();
  return { text: s, compact: s.replaceAll(" ", ""), hadPercent };
}
