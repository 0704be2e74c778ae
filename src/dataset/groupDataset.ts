// Group-wise training data (paper section 3.1): for each query, groups of n of its m scored responses
// (all C(m, n) combinations, or a seeded sample of them), filtered (groups whose scores are all equal
// dropped), screened (the N groups of highest score variance over all queries) and sharpened (only the t
// lowest and t highest scores of each group kept). Random selection and no sharpening give the paper's
// Table 4 ablations. Combinations are enumerated lazily and each query keeps only its best candidates
// so far, so memory stays at about N groups per query however many combinations there are.
import { SeededRandom } from "../util/seededRandom.js";
import { allCombinations, compareIndexLists, countCombinations, sampleCombinations } from "./combinations.js";
import { canonicalScore, isFlat, populationVariance } from "./scores.js";

export interface QueryScores {
  queryId: string;
  /** Score of each of the query's m responses, in response order; members index into this. */
  scores: number[];
}

export interface GroupDatasetOptions {
  /** n: responses per group before sharpening (paper: 14). At most m, the responses of any query. */
  groupSize: number;
  /** t: sharpening keeps the t lowest and t highest scores of each group, so 2t < n (paper: 4). 0 = no sharpening. */
  keep: number;
  /** N: groups kept over all queries (paper: 100); fewer when fewer exist. */
  topN: number;
  /** Per query: every C(m, n) combination when there are at most this many, else a seeded sample of this many distinct ones (default 100000). */
  maxCombinations?: number;
  /** Filtering: drop groups whose n scores are all equal (they carry no advantage signal); default true. */
  dropZeroVariance?: boolean;
  /** "variance" (screening, default): the N highest-variance groups. "random": N groups drawn uniformly, the paper's random-sampling baseline. */
  selection?: "variance" | "random";
  /** Keep a sharpened group only once: another combination that sharpens to the same members of the same query is dropped (default false: the paper's literal reading). */
  distinctGroups?: boolean;
  /** At most this many groups from any one query (default: no limit). */
  maxGroupsPerQuery?: number | null;
  /** Seeds combination sampling and random selection (default 0). */
  seed?: number;
}

export interface Group {
  queryId: string;
  /** Indices into the query's scores, by score ascending (ties by index), after sharpening. */
  members: number[];
  /** Population variance of the group's n canonical scores (see scores.ts) before sharpening. */
  variance: number;
}

/** C(16, 8) = 12870, the largest count the paper's m = 16 gives, is enumerated exactly. */
export const DEFAULT_MAX_COMBINATIONS = 100_000;

export function buildGroupDataset(queries: readonly QueryScores[], options: GroupDatasetOptions): Group[] {
  const settings = checkOptions(queries, options);
  const candidates: Ranked[] = [];
  for (const query of queries) candidates.push(...queryCandidates(query, settings));
  return candidates.sort(compareRanked).slice(0, settings.topN).map((c) => c.group).sort(compareGroups);
}

/** Result order: variance descending, then queryId, then members. */
export function compareGroups(a: Group, b: Group): number {
  if (a.variance !== b.variance) return b.variance - a.variance;
  if (a.queryId !== b.queryId) return a.queryId < b.queryId ? -1 : 1;
  return compareIndexLists(a.members, b.members);
}

type Settings = Required<Omit<GroupDatasetOptions, "maxGroupsPerQuery">> & { maxGroupsPerQuery: number };

/** A candidate group with its selection rank: smaller first (screening: -variance; random: a seeded uniform key). */
interface Ranked {
  group: Group;
  rank: number;
}

function compareRanked(a: Ranked, b: Ranked): number {
  if (a.rank !== b.rank) return a.rank - b.rank;
  if (a.group.queryId !== b.group.queryId) return a.group.queryId < b.group.queryId ? -1 : 1;
  return compareIndexLists(a.group.members, b.group.members);
}

/**
 * The query's best candidates by rank, at most min(N, maxGroupsPerQuery): the overall selection keeps
 * N and at most that many per query, so nothing beyond them can be selected.
 */
function queryCandidates(query: QueryScores, settings: Settings): Ranked[] {
  const m = query.scores.length;
  const n = settings.groupSize;
  const scores = query.scores.map(canonicalScore);
  const limit = Math.min(settings.topN, settings.maxGroupsPerQuery);
  const total = countCombinations(m, n, settings.maxCombinations);
  const combinations =
    total <= settings.maxCombinations
      ? allCombinations(m, n)
      : sampleCombinations(m, n, settings.maxCombinations, new SeededRandom(settings.seed, `combinations:${query.queryId}`));
  let kept: Ranked[] = [];
  const byMembers = new Map<string, Ranked>(); // distinctGroups: the best candidate of each sharpened member set
  const trim = () => {
    kept = (settings.distinctGroups ? [...byMembers.values()] : kept).sort(compareRanked).slice(0, limit);
    if (settings.distinctGroups) {
      byMembers.clear();
      for (const c of kept) byMembers.set(c.group.members.join(","), c);
    }
  };
  for (const combination of combinations) {
    const groupScores = combination.map((i) => scores[i]!);
    if (settings.dropZeroVariance && isFlat(groupScores)) continue;
    // Combinations are ascending, so a stable sort by score leaves ties in index order.
    const byScore = [...combination].sort((a, b) => scores[a]! - scores[b]!);
    const members = settings.keep === 0 ? byScore : [...byScore.slice(0, settings.keep), ...byScore.slice(n - settings.keep)];
    const group: Group = { queryId: query.queryId, members, variance: populationVariance(groupScores) };
    const candidate = { group, rank: settings.selection === "variance" ? -group.variance : randomKey(settings.seed, query.queryId, combination) };
    if (settings.distinctGroups) {
      const key = members.join(",");
      const seen = byMembers.get(key);
      if (!seen || compareRanked(candidate, seen) < 0) byMembers.set(key, candidate);
      if (byMembers.size >= 2 * limit + 1024) trim();
    } else {
      kept.push(candidate);
      if (kept.length >= 2 * limit + 1024) trim();
    }
  }
  trim();
  return kept;
}

/** Uniform in [0, 1) from the seed and the combination alone: the N smallest keys are a uniform draw of N groups. */
function randomKey(seed: number, queryId: string, combination: readonly number[]): number {
  return new SeededRandom(seed, `selection:${queryId}:${combination.join(",")}`).next();
}

function checkOptions(queries: readonly QueryScores[], options: GroupDatasetOptions): Settings {
  const settings: Settings = {
    groupSize: options.groupSize,
    keep: options.keep,
    topN: options.topN,
    maxCombinations: options.maxCombinations ?? DEFAULT_MAX_COMBINATIONS,
    dropZeroVariance: options.dropZeroVariance ?? true,
    selection: options.selection ?? "variance",
    distinctGroups: options.distinctGroups ?? false,
    maxGroupsPerQuery: options.maxGroupsPerQuery ?? Infinity,
    seed: options.seed ?? 0,
  };
  const wholeAtLeast = (value: number, min: number) => Number.isInteger(value) && value >= min;
  const fail = (message: string): never => {
    throw new RangeError(`buildGroupDataset: ${message}`);
  };
  if (!wholeAtLeast(settings.groupSize, 2)) fail(`groupSize (n) must be a whole number >= 2, got ${settings.groupSize}`);
  if (!wholeAtLeast(settings.keep, 0)) fail(`keep (t) must be a whole number >= 0, got ${settings.keep}`);
  if (settings.keep > 0 && 2 * settings.keep >= settings.groupSize) {
    fail(`keep (t) must satisfy 2t < n: t = ${settings.keep}, n = ${settings.groupSize} (use 0 for no sharpening)`);
  }
  if (!wholeAtLeast(settings.topN, 1)) fail(`topN (N) must be a whole number >= 1, got ${settings.topN}`);
  if (!wholeAtLeast(settings.maxCombinations, 1)) fail(`maxCombinations must be a whole number >= 1, got ${settings.maxCombinations}`);
  if (settings.maxGroupsPerQuery !== Infinity && !wholeAtLeast(settings.maxGroupsPerQuery, 1)) {
    fail(`maxGroupsPerQuery must be a whole number >= 1 (or null for no limit), got ${settings.maxGroupsPerQuery}`);
  }
  if (typeof settings.distinctGroups !== "boolean") fail(`distinctGroups must be true or false, got ${String(settings.distinctGroups)}`);
  if (settings.selection !== "variance" && settings.selection !== "random") fail(`selection must be "variance" or "random", got ${String(settings.selection)}`);
  if (!Number.isInteger(settings.seed) || settings.seed < 0) fail(`seed must be a whole number >= 0, got ${settings.seed}`);
  const seen = new Set<string>();
  for (const query of queries) {
    if (typeof query.queryId !== "string") fail(`queryId must be a string, got ${String(query.queryId)}`);
    if (seen.has(query.queryId)) fail(`queryId "${query.queryId}" appears twice`);
    seen.add(query.queryId);
    if (!Array.isArray(query.scores)) fail(`query "${query.queryId}": scores must be an array`);
    const bad = query.scores.findIndex((s) => typeof s !== "number" || !Number.isFinite(s));
    if (bad >= 0) fail(`query "${query.queryId}": scores[${bad}] = ${String(query.scores[bad])} is not a finite number`);
    if (settings.groupSize > query.scores.length) {
      fail(`groupSize (n) = ${settings.groupSize} exceeds the ${query.scores.length} responses (m) of query "${query.queryId}"`);
    }
  }
  return settings;
}
