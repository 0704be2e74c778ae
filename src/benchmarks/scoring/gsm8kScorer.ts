// GSM8K: the last number in the output, thousands commas removed, equal to the gold within 1e-6.

/** Numbers as written in answers: optional sign, digits with optional thousands commas, optional decimals. */
const numberPattern = /-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|-?\.\d+/g;

/** Parses a whole string as one GSM8K number ("1,450,000", "-3.5"); null if it is anything else. */
export function parseGsm8kNumber(text: string): number | null {
  const trimmed = text.trim();
  const match = trimmed.match(numberPattern);
  if (!match || match.length !== 1 || match[0] !== trimmed) return null;
  return Number(trimmed.replaceAll(",", ""));
}

/** The last number in free text, or null. */
export function lastNumber(text: string): number | null {
  const matches = text.match(numberPattern);
  const last = matches?.[matches.length - 1];
  return last === undefined ? null : Number(last.replaceAll(",", ""));
}

export const gsm8kTolerance = 1e-6;

export function gsm8kScore(output: string, gold: string): { score: number; extracted: string | null; detail: string } {
  const expected = parseGsm8kNumber(gold);
  const predicted = lastNumber(output);
  if (expected === null) return { score: 0, extracted: null, detail: `gold answer ${JSON.stringify(gold)} is not a number` };
  if (predicted === null) return { score: 0, extracted: null, detail: "no number in the output" };
  const equal = Math.abs(predicted - expected) <= gsm8kTolerance;
  return { score: equal ? 1 : 0, extracted: String(predicted), detail: `last number ${predicted} ${equal ? "=" : "!="} gold ${expected}` };
}
