// Group-relative advantages (paper section 3.2): A_i = (R_i - mean) / std over the group, in float64.
import { canonicalScore, isFlat } from "./scores.js";

/**
 * Advantages of one (sharpened) group's scores. std is the population standard deviation, matching the
 * population variance used for screening. Scores are compared as canonical scores (see scores.ts), and
 * a group whose std is below SCORE_TOLERANCE gets A = 0 for every member: equal scores carry no signal,
 * whatever float noise their means picked up.
 */
export function groupAdvantages(scores: readonly number[]): Float64Array {
  const n = scores.length;
  const advantages = new Float64Array(n);
  const canonical = scores.map(canonicalScore);
  if (n === 0 || isFlat(canonical)) return advantages;
  const mean = canonical.reduce((s, x) => s + x, 0) / n;
  const std = Math.sqrt(canonical.reduce((s, x) => s + (x - mean) ** 2, 0) / n);
  for (let i = 0; i < n; i++) advantages[i] = (canonical[i]! - mean) / std;
  return advantages;
}
