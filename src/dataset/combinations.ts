// Index combinations for group construction: every n-subset of m responses in lexicographic order, or
// a seeded sample of distinct subsets when there are too many to enumerate.
import { SeededRandom } from "../util/seededRandom.js";

/** C(m, n) as an exact integer when it is at most `cap`, otherwise Infinity (avoids overflow for large m). */
export function countCombinations(m: number, n: number, cap = Number.MAX_SAFE_INTEGER): number {
  if (n < 0 || n > m) return 0;
  const k = Math.min(n, m - n);
  let count = 1;
  // count * (m - k + i) / i stays an integer at every step (it is C(m - k + i, i)).
  for (let i = 1; i <= k; i++) {
    count = (count * (m - k + i)) / i;
    if (count > cap) return Infinity;
  }
  return count;
}

/** All n-subsets of 0..m-1, each ascending, in lexicographic order. */
export function* allCombinations(m: number, n: number): Generator<number[]> {
  if (n > m || n < 0) return;
  const current = Array.from({ length: n }, (_, i) => i);
  for (;;) {
    yield [...current];
    // Advance the rightmost position that can still move right, then reset everything after it.
    let i = n - 1;
    while (i >= 0 && current[i]! === m - n + i) i--;
    if (i < 0) return;
    current[i]!++;
    for (let j = i + 1; j < n; j++) current[j] = current[j - 1]! + 1;
  }
}

/**
 * `count` distinct n-subsets of 0..m-1 drawn uniformly with a seeded generator, each ascending, in
 * lexicographic order. Requires count < C(m, n) (the caller enumerates otherwise).
 */
export function sampleCombinations(m: number, n: number, count: number, random: SeededRandom): number[][] {
  const seen = new Map<string, number[]>();
  const pool = Array.from({ length: m }, (_, i) => i);
  while (seen.size < count) {
    // Partial Fisher-Yates: the first n slots become a uniform random n-subset.
    for (let i = 0; i < n; i++) {
      const j = i + Math.floor(random.next() * (m - i));
      [pool[i], pool[j]] = [pool[j]!, pool[i]!];
    }
    const subset = pool.slice(0, n).sort((a, b) => a - b);
    const key = subset.join(",");
    if (!seen.has(key)) seen.set(key, subset);
  }
  return [...seen.values()].sort(compareIndexLists);
}

/** Lexicographic order of index lists (shorter first when one is a prefix of the other). */
export function compareIndexLists(a: readonly number[], b: readonly number[]): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) if (a[i]! !== b[i]!) return a[i]! - b[i]!;
  return a.length - b.length;
}
