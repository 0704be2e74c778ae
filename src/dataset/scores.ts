// When two scores are equal. Scores are means of executions and F1 values, so scores that are equal as
// numbers of the benchmark are often unequal floats: (0.6 + 0.7 + 0.8) / 3 is 0.6999999999999998 and
// (0.8 + 0.7 + 0.6) / 3 is 0.7000000000000001. Every comparison of scores in group construction and
// advantages goes through here, so that such scores are equal for filtering, screening ties and
// advantages alike.

/**
 * Scores closer than this are the same score: each is rounded to the nearest multiple of it before
 * groups are built or advantages computed, and a group whose standard deviation is below it carries no
 * signal (it is filtered, and its advantages are 0).
 */
export const SCORE_TOLERANCE = 1e-9;
const STEPS_PER_UNIT = 1e9; // 1 / SCORE_TOLERANCE, written out: the quotient in floating point is not exactly 1e9

/**
 * The score as the nearest multiple of SCORE_TOLERANCE (the double nearest k / 1e9): scores within
 * float noise of each other become the same double.
 */
export function canonicalScore(score: number): number {
  return Math.round(score * STEPS_PER_UNIT) / STEPS_PER_UNIT;
}

/**
 * Population variance. The values are sorted and taken relative to the smallest, so equal multisets
 * give equal bits (screening ties are real ties) and equal values give exactly 0.
 */
export function populationVariance(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const offsets = sorted.map((x) => x - sorted[0]!);
  const mean = offsets.reduce((s, x) => s + x, 0) / offsets.length;
  return offsets.reduce((s, x) => s + (x - mean) ** 2, 0) / offsets.length;
}

/** True when the canonical scores' standard deviation is below SCORE_TOLERANCE: nothing to learn from. */
export function isFlat(canonicalScores: readonly number[]): boolean {
  return Math.sqrt(populationVariance(canonicalScores)) < SCORE_TOLERANCE;
}
