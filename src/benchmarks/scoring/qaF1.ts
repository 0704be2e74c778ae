// DROP and HotpotQA: SQuAD-normalised token F1 and exact match, best over the accepted answers.

const punctuation = /[!"#$%&'()*+,\-./:;<=>?@[\\\]^_`{|}~]/g;

/** SQuAD normalisation: lower case, punctuation removed, articles (a, an, the) removed, whitespace collapsed. */
export function normalizeQaAnswer(text: string): string {
  return text
    .toLowerCase()
    .replace(punctuation, "")
    .replace(/\b(a|an|the)\b/g, " ")
    .split(/\s+/)
    .filter(Boolean)
    .join(" ");
}

/** Token-bag F1 of two normalised answers; two empty answers agree (1), one empty one does not (0). */
export function tokenF1(prediction: string, gold: string): number {
  const predicted = normalizeQaAnswer(prediction).split(" ").filter(Boolean);
  const expected = normalizeQaAnswer(gold).split(" ").filter(Boolean);
  if (predicted.length === 0 || expected.length === 0) return predicted.length === expected.length ? 1 : 0;
  const goldCounts = new Map<string, number>();
  for (const token of expected) goldCounts.set(token, (goldCounts.get(token) ?? 0) + 1);
  let common = 0;
  for (const token of predicted) {
    const left = goldCounts.get(token) ?? 0;
    if (left > 0) {
      common++;
      goldCounts.set(token, left - 1);
    }
  }
  if (common === 0) return 0;
  const precision = common / predicted.length;
  const recall = common / expected.length;
  return (2 * precision * recall) / (precision + recall);
}

export function exactMatch(prediction: string, gold: string): boolean {
  return normalizeQaAnswer(prediction) === normalizeQaAnswer(gold);
}

/** Best F1 (and whether any answer matches exactly) over the accepted answers; 0 when there are none. */
export function qaScore(output: string, goldAnswers: readonly string[]): { score: number; exactMatch: boolean; bestGold: string | null } {
  let score = 0;
  let bestGold: string | null = null;
  for (const gold of goldAnswers) {
    const f1 = tokenF1(output, gold);
    if (bestGold === null || f1 > score) {
      score = f1;
      bestGold = gold;
    }
  }
  return { score, exactMatch: goldAnswers.some((gold) => exactMatch(output, gold)), bestGold };
}
