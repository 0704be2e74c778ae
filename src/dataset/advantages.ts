// Group-relative advantages (paper section 3.2): A_i = (R_i - mean) / std over the group, in float64.

/**
 * Advantages of one (sharpened) group's scores. std is the population standard deviation, matching the
 * population variance used for screening; a group whose scores are all equal gets A = 0 for every member
 * (no signal rather than a division by zero).
 */
export function groupAdvantages(scores: readonly number[]): Float64Array {
  const n = scores.length;
  const advantages = new Float64Array(n);
  if (n === 0) return advantages;
  const mean = scores.reduce((s, x) => s + x, 0) / n;
  const std = Math.sqrt(scores.reduce((s, x) => s + (x - mean) ** 2, 0) / n);
  if (std === 0) return advantages;
  for (let i = 0; i < n; i++) advantages[i] = (scores[i]! - mean) / std;
  return advantages;
}
