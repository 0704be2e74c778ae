// buildGroupDataset against hand-computed examples: exact enumeration, sharpening, ties, ordering,
// filtering, sampling, random selection, distinct groups, the per-query cap, scores equal within the
// tolerance, and option checks.
import { describe, expect, it } from "vitest";
import { tokenF1 } from "../../src/benchmarks/scoring/qaF1.js";
import {
  allCombinations, buildGroupDataset, canonicalScore, countCombinations, groupAdvantages, SCORE_TOLERANCE, type Group,
} from "../../src/dataset/index.js";
import { SeededRandom } from "../../src/util/seededRandom.js";

const shape = (groups: Group[]) => groups.map((g) => [g.queryId, g.members]);

describe("combinations", () => {
  it("counts and enumerates in lexicographic order", () => {
    expect([...allCombinations(4, 2)]).toEqual([[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]]);
    expect([...allCombinations(3, 3)]).toEqual([[0, 1, 2]]);
    expect(countCombinations(16, 14)).toBe(120);
    expect(countCombinations(16, 8)).toBe(12870);
    expect(countCombinations(5, 0)).toBe(1);
    expect(countCombinations(3, 4)).toBe(0);
    expect(countCombinations(64, 32, 1e6)).toBe(Infinity);
    expect([...allCombinations(16, 14)]).toHaveLength(120);
  });
});

describe("buildGroupDataset", () => {
  it("enumerates C(4,3), sharpens to t=1, orders ties by index and sorts by variance", () => {
    // scores 0, 1, 0.5, 1. Groups (by hand):
    //   {0,1,2}: 0, 1, .5  mean 1/2  var 1/6   by score 0,2,1 -> [0,1]
    //   {0,1,3}: 0, 1, 1   mean 2/3  var 2/9   by score 0,1,3 (tie 1/3 by index) -> [0,3]
    //   {0,2,3}: 0, .5, 1  mean 1/2  var 1/6   by score 0,2,3 -> [0,3]
    //   {1,2,3}: 1, .5, 1  mean 5/6  var 1/18  by score 2,1,3 -> [2,3]
    const groups = buildGroupDataset([{ queryId: "q", scores: [0, 1, 0.5, 1] }], { groupSize: 3, keep: 1, topN: 10 });
    expect(shape(groups)).toEqual([["q", [0, 3]], ["q", [0, 1]], ["q", [0, 3]], ["q", [2, 3]]]);
    const expected = [2 / 9, 1 / 6, 1 / 6, 1 / 18];
    groups.forEach((g, i) => expect(g.variance).toBeCloseTo(expected[i]!, 15));
  });

  it("keeps the full sorted group without sharpening (keep 0)", () => {
    const groups = buildGroupDataset([{ queryId: "q", scores: [0, 1, 0.5, 1] }], { groupSize: 3, keep: 0, topN: 10 });
    expect(shape(groups)).toEqual([["q", [0, 1, 3]], ["q", [0, 2, 1]], ["q", [0, 2, 3]], ["q", [2, 1, 3]]]);
  });

  it("drops the middle of a sharpened group and reports the variance before sharpening", () => {
    // by score: 1 (.1), 3 (.3), 2 (.5), 4 (.7), 0 (.9); t = 2 keeps 1, 3 and 4, 0. var = (.16+.04+0+.04+.16)/5 = .08
    const [group, ...rest] = buildGroupDataset([{ queryId: "x", scores: [0.9, 0.1, 0.5, 0.3, 0.7] }], { groupSize: 5, keep: 2, topN: 1 });
    expect(rest).toEqual([]);
    expect(group!.members).toEqual([1, 3, 4, 0]);
    expect(group!.variance).toBeCloseTo(0.08, 15);
  });

  it("filters zero-variance groups, breaks variance ties by queryId then members, and cuts at topN", () => {
    const queries = [
      { queryId: "c", scores: [1, 0, 1] }, // {0,1}: .25 [1,0]; {0,2}: 0; {1,2}: .25 [1,2]
      { queryId: "b", scores: [1, 1, 1] }, // every pair has variance 0
      { queryId: "a", scores: [0, 1, 1] }, // {0,1}: .25 [0,1]; {0,2}: .25 [0,2]; {1,2}: 0
    ];
    const options = { groupSize: 2, keep: 0, topN: 3 };
    const top3 = buildGroupDataset(queries, options);
    expect(shape(top3)).toEqual([["a", [0, 1]], ["a", [0, 2]], ["c", [1, 0]]]);
    expect(top3.map((g) => g.variance)).toEqual([0.25, 0.25, 0.25]);
    const all = buildGroupDataset(queries, { ...options, topN: 100 });
    expect(shape(all)).toEqual([["a", [0, 1]], ["a", [0, 2]], ["c", [1, 0]], ["c", [1, 2]]]);
    const unfiltered = buildGroupDataset(queries, { ...options, topN: 100, dropZeroVariance: false });
    expect(shape(unfiltered)).toEqual([
      ["a", [0, 1]], ["a", [0, 2]], ["c", [1, 0]], ["c", [1, 2]],
      ["a", [1, 2]], ["b", [0, 1]], ["b", [0, 2]], ["b", [1, 2]], ["c", [0, 2]],
    ]);
    expect(unfiltered.slice(4).every((g) => g.variance === 0)).toBe(true);
  });

  it("screens across queries by variance, not per query", () => {
    // q1 = [0, 1]: variance .25; q2 = [0, .2]: variance .01. N = 1 keeps q1 only.
    const groups = buildGroupDataset([{ queryId: "q2", scores: [0, 0.2] }, { queryId: "q1", scores: [0, 1] }], { groupSize: 2, keep: 0, topN: 1 });
    expect(shape(groups)).toEqual([["q1", [0, 1]]]);
  });

  it("gives groups of 2t = 8 from the paper's defaults (m=16, n=14, t=4, N=100)", () => {
    const scores = Array.from({ length: 16 }, (_, i) => (i * 7) % 16 / 15);
    const groups = buildGroupDataset([{ queryId: "q", scores }], { groupSize: 14, keep: 4, topN: 100 });
    expect(groups).toHaveLength(100); // of C(16,14) = 120, all scores distinct so none filtered
    for (const g of groups) {
      expect(g.members).toHaveLength(8);
      const s = g.members.map((i) => scores[i]!);
      expect(s).toEqual([...s].sort((a, b) => a - b));
    }
    // The best group leaves out two middle scores: the variance is largest when the extremes stay.
    // (Scores are compared as multiples of SCORE_TOLERANCE: i / 15 moves by up to 5e-10.)
    const values = [...scores].sort((a, b) => a - b);
    const best = [...values.slice(0, 7), ...values.slice(9)];
    const mean = best.reduce((a, b) => a + b, 0) / 14;
    expect(groups[0]!.variance).toBeCloseTo(best.reduce((a, x) => a + (x - mean) ** 2, 0) / 14, 9);
  });

  it("samples maxCombinations distinct groups per query when C(m, n) is larger, reproducibly by seed", () => {
    const scores = Array.from({ length: 10 }, (_, i) => i / 9);
    const options = { groupSize: 5, keep: 0, topN: 1000, maxCombinations: 20 };
    const first = buildGroupDataset([{ queryId: "q", scores }], { ...options, seed: 3 });
    expect(first).toHaveLength(20);
    const keys = new Set(first.map((g) => [...g.members].sort((a, b) => a - b).join(",")));
    expect(keys.size).toBe(20);
    for (const g of first) expect(new Set(g.members).size).toBe(5);
    expect(buildGroupDataset([{ queryId: "q", scores }], { ...options, seed: 3 })).toEqual(first);
    expect(buildGroupDataset([{ queryId: "q", scores }], { ...options, seed: 4 })).not.toEqual(first);
    // At or above C(10,5) = 252 every combination is taken.
    expect(buildGroupDataset([{ queryId: "q", scores }], { ...options, maxCombinations: 252 })).toHaveLength(252);
  });

  it("random selection draws N of the filtered groups uniformly, in the same result order", () => {
    const query = { queryId: "q", scores: [0, 1, 0.5, 1] }; // the four groups of the first test
    const candidates = buildGroupDataset([query], { groupSize: 3, keep: 1, topN: 10 });
    const counts = new Map<number, number>();
    for (let seed = 0; seed < 60; seed++) {
      const picked = buildGroupDataset([query], { groupSize: 3, keep: 1, topN: 2, selection: "random", seed });
      expect(picked).toHaveLength(2);
      expect(picked).toEqual([...picked].sort((a, b) => b.variance - a.variance));
      // Each drawn group is one of the candidates (identified by variance and members: two share [0,3]).
      for (const g of picked) expect(candidates.some((c) => c.variance === g.variance && c.members.join() === g.members.join())).toBe(true);
      for (const [i, c] of candidates.entries()) {
        if (picked.some((g) => g.variance === c.variance && g.members.join() === c.members.join())) counts.set(i, (counts.get(i) ?? 0) + 1);
      }
    }
    // Screening would always pick candidates 0 and 1; each is drawn with probability 1/2 here.
    for (let i = 0; i < 4; i++) expect(counts.get(i) ?? 0).toBeGreaterThan(15);
    expect(buildGroupDataset([query], { groupSize: 3, keep: 1, topN: 2, selection: "random", seed: 5 })).toEqual(
      buildGroupDataset([query], { groupSize: 3, keep: 1, topN: 2, selection: "random", seed: 5 }),
    );
    expect(buildGroupDataset([query], { groupSize: 3, keep: 1, topN: 10, selection: "random" })).toEqual(candidates);
  });

  it("rejects invalid options with a message naming the option", () => {
    const q = [{ queryId: "q", scores: [0, 1, 0.5, 1] }];
    expect(() => buildGroupDataset(q, { groupSize: 5, keep: 1, topN: 1 })).toThrow(/groupSize \(n\) = 5 exceeds the 4 responses \(m\) of query "q"/);
    expect(() => buildGroupDataset(q, { groupSize: 4, keep: 2, topN: 1 })).toThrow(/2t < n/);
    expect(() => buildGroupDataset(q, { groupSize: 3, keep: 0, topN: 0 })).toThrow(/topN \(N\) must be a whole number >= 1/);
    expect(() => buildGroupDataset(q, { groupSize: 2.5, keep: 0, topN: 1 })).toThrow(/groupSize/);
    expect(() => buildGroupDataset(q, { groupSize: 3, keep: -1, topN: 1 })).toThrow(/keep/);
    expect(() => buildGroupDataset(q, { groupSize: 3, keep: 0, topN: 1, maxCombinations: 0 })).toThrow(/maxCombinations/);
    expect(() => buildGroupDataset([...q, ...q], { groupSize: 3, keep: 0, topN: 1 })).toThrow(/appears twice/);
    expect(() => buildGroupDataset([{ queryId: "q", scores: [0, Number.NaN, 1] }], { groupSize: 2, keep: 0, topN: 1 })).toThrow(/scores\[1\]/);
    expect(() => buildGroupDataset(q, { groupSize: 3, keep: 0, topN: 1, selection: "best" as never })).toThrow(/selection/);
  });
});

describe("groupAdvantages", () => {
  it("standardises with the population std in float64, and gives 0 when std is 0", () => {
    expect([...groupAdvantages([0, 1])]).toEqual([-1, 1]);
    expect([...groupAdvantages([0, 0, 1, 1])]).toEqual([-1, -1, 1, 1]);
    // mean 2.5, var (2.25 + .25 + .25 + 2.25) / 4 = 1.25
    const a = groupAdvantages([1, 2, 3, 4]);
    [-1.5, -0.5, 0.5, 1.5].forEach((d, i) => expect(a[i]).toBeCloseTo(d / Math.sqrt(1.25), 14));
    expect(a).toBeInstanceOf(Float64Array);
    expect([...groupAdvantages([0.3, 0.3, 0.3])]).toEqual([0, 0, 0]);
    // float64, not float32: 1/3-steps keep the precision of their canonical scores (multiples of 1e-9).
    const b = groupAdvantages([0, 1 / 3, 2 / 3, 1]);
    const [third, twoThirds] = [0.333333333, 0.666666667];
    const mean = (third + twoThirds + 1) / 4;
    const std = Math.sqrt(((0 - mean) ** 2 + (third - mean) ** 2 + (twoThirds - mean) ** 2 + (1 - mean) ** 2) / 4);
    expect(b[3]).toBeCloseTo((1 - mean) / std, 15);
  });

  it("gives 0 to every member of a group whose scores are equal as numbers but not as floats", () => {
    // Means of 3 runs: the same three scores summed in another order.
    const [a, b, c] = [(0.6 + 0.7 + 0.8) / 3, (0.8 + 0.7 + 0.6) / 3, (0.7 + 0.7 + 0.7) / 3];
    expect(new Set([a, b, c]).size).toBe(2); // 0.6999999999999998 and 0.7000000000000001
    expect([...groupAdvantages([a, b, c, b])]).toEqual([0, 0, 0, 0]);
    // An F1 of 1/3 (1 of 5 gold tokens) beside a 3-run mean of 1/3.
    const f1 = tokenF1("paris", "city of paris in france");
    expect(f1).not.toBe((1 + 0 + 0) / 3);
    expect([...groupAdvantages([f1, (1 + 0 + 0) / 3])]).toEqual([0, 0]);
    // Exactly equal scores whose mean is not exact (0.7 * 3 / 3 != 0.7) give 0 too, not +1 each.
    expect([...groupAdvantages([0.7, 0.7, 0.7])]).toEqual([0, 0, 0]);
    // Within the tolerance: equal. Beyond it: a real difference with the full signal.
    expect([...groupAdvantages([0.5, 0.5 + SCORE_TOLERANCE / 100])]).toEqual([0, 0]);
    const [low, high] = groupAdvantages([0.5, 0.5 + 1e-6]);
    expect(low).toBeCloseTo(-1, 8);
    expect(high).toBeCloseTo(1, 8);
    // Equal scores get bit-identical advantages in a group with signal.
    const d = groupAdvantages([a, b, 1, 0]);
    expect(d[0]).toBe(d[1]);
    // mean 0.6; variance (0.01 + 0.01 + 0.16 + 0.36) / 4 = 0.135
    expect(d[0]).toBeCloseTo(0.1 / Math.sqrt(0.135), 12);
  });
});

describe("scores equal within SCORE_TOLERANCE", () => {
  const a = (0.6 + 0.7 + 0.8) / 3;
  const b = (0.8 + 0.7 + 0.6) / 3;

  it("are one canonical score", () => {
    expect(canonicalScore(a)).toBe(canonicalScore(b));
    expect(canonicalScore(a)).toBe(0.7);
    expect(canonicalScore(tokenF1("paris", "city of paris in france"))).toBe(canonicalScore(1 / 3));
    expect(canonicalScore(0.5 + 1e-6)).not.toBe(canonicalScore(0.5));
  });

  it("are filtered as a zero-variance group, and such a group has variance exactly 0 when kept", () => {
    const query = { queryId: "q", scores: [a, b, (0.7 + 0.7 + 0.7) / 3, 0.7] };
    expect(new Set(query.scores).size).toBe(3); // three different floats, one number
    expect(buildGroupDataset([query], { groupSize: 3, keep: 0, topN: 10 })).toEqual([]);
    const unfiltered = buildGroupDataset([query], { groupSize: 3, keep: 0, topN: 10, dropZeroVariance: false });
    expect(unfiltered).toHaveLength(4);
    for (const g of unfiltered) expect(g.variance).toBe(0);
    // A near-equal pair within the tolerance is equal too; one beyond it is not.
    expect(buildGroupDataset([{ queryId: "n", scores: [0.25, 0.25 + 1e-12] }], { groupSize: 2, keep: 0, topN: 1 })).toEqual([]);
    expect(buildGroupDataset([{ queryId: "n", scores: [0.25, 0.25 + 1e-6] }], { groupSize: 2, keep: 0, topN: 1 })).toHaveLength(1);
  });

  it("tie in screening: groups with the same scores as numbers have the same variance bits, ordered by queryId", () => {
    // "z" and "y" hold the same scores as numbers, summed in other orders; screening N = 1 must pick "y".
    const queries = [
      { queryId: "z", scores: [(0.6 + 0.7 + 0.8) / 3, 0.1] },
      { queryId: "y", scores: [(0.8 + 0.7 + 0.6) / 3, 0.1] },
    ];
    const [best, second] = buildGroupDataset(queries, { groupSize: 2, keep: 0, topN: 2 });
    expect(best!.variance).toBe(second!.variance);
    expect([best!.queryId, second!.queryId]).toEqual(["y", "z"]);
    // Sharpening orders tied scores by index, not by their float noise.
    const [group] = buildGroupDataset([{ queryId: "q", scores: [b, a, 0, 1] }], { groupSize: 4, keep: 0, topN: 1 });
    expect(group!.members).toEqual([2, 0, 1, 3]);
  });
});

describe("screening at C(16, 8)", () => {
  it("is exact by default: every one of the 12870 groups is a candidate and the top N are the N highest variances", () => {
    const random = new SeededRandom(4, "scores");
    const scores = Array.from({ length: 16 }, () => Math.round(random.next() * 1000) / 1000);
    const all = buildGroupDataset([{ queryId: "q", scores }], { groupSize: 8, keep: 0, topN: 20_000 });
    expect(all).toHaveLength(12870);
    expect(new Set(all.map((g) => [...g.members].sort((x, y) => x - y).join())).size).toBe(12870);
    // Reference: every combination's variance in plain float64, best first.
    const reference = [...allCombinations(16, 8)].map((c) => {
      const s = c.map((i) => scores[i]!);
      const mean = s.reduce((x, y) => x + y, 0) / 8;
      return { key: c.join(), variance: s.reduce((x, y) => x + (y - mean) ** 2, 0) / 8 };
    }).sort((x, y) => y.variance - x.variance);
    const top = buildGroupDataset([{ queryId: "q", scores }], { groupSize: 8, keep: 0, topN: 100 });
    expect(top).toHaveLength(100);
    const cutoff = reference[99]!.variance;
    for (const g of top) expect(g.variance).toBeGreaterThanOrEqual(cutoff - 1e-12);
    expect(reference.filter((r) => r.variance > cutoff + 1e-12).every((r) => top.some((g) => [...g.members].sort((x, y) => x - y).join() === r.key))).toBe(true);
  });
});

describe("distinct groups and the per-query cap", () => {
  // scores [0, .2, 1, 1], n = 3, t = 1 (by hand):
  //   {0,1,2}: 0, .2, 1 -> [0,2]  var .56/3      {0,1,3}: 0, .2, 1 -> [0,3]  var .56/3
  //   {0,2,3}: 0, 1, 1  -> [0,3]  var 2/9        {1,2,3}: .2, 1, 1 -> [1,3]  var .32/2.25
  const query = { queryId: "q", scores: [0, 0.2, 1, 1] };
  const options = { groupSize: 3, keep: 1, topN: 10 };

  it("keeps every combination by default, and each sharpened group once with --distinct-groups (its best instance)", () => {
    expect(shape(buildGroupDataset([query], options))).toEqual([["q", [0, 3]], ["q", [0, 2]], ["q", [0, 3]], ["q", [1, 3]]]);
    const distinct = buildGroupDataset([query], { ...options, distinctGroups: true });
    expect(shape(distinct)).toEqual([["q", [0, 3]], ["q", [0, 2]], ["q", [1, 3]]]);
    expect(distinct[0]!.variance).toBeCloseTo(2 / 9, 12);
    expect(buildGroupDataset([query], { ...options, distinctGroups: true, topN: 2 })).toHaveLength(2);
  });

  it("takes at most K groups per query, the best of each, still cut at N overall", () => {
    const other = { queryId: "p", scores: [0, 0.1, 0.2, 0.3] }; // variances below every group of q
    const capped = buildGroupDataset([query, other], { ...options, maxGroupsPerQuery: 1 });
    expect(shape(capped)).toEqual([["q", [0, 3]], ["p", [0, 3]]]);
    expect(shape(buildGroupDataset([query, other], { ...options, maxGroupsPerQuery: 2, topN: 3 }))).toEqual([["q", [0, 3]], ["q", [0, 2]], ["p", [0, 3]]]);
    // Random selection respects both as well.
    for (let seed = 0; seed < 20; seed++) {
      const drawn = buildGroupDataset([query, other], { ...options, selection: "random", maxGroupsPerQuery: 1, distinctGroups: true, seed });
      expect(drawn.map((g) => g.queryId).sort()).toEqual(["p", "q"]);
    }
    expect(() => buildGroupDataset([query], { ...options, maxGroupsPerQuery: 0 })).toThrow(/maxGroupsPerQuery/);
  });
});
