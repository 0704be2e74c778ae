// Group-wise training data (paper section 3.1): for each query, groups of n of its m scored responses
// (all C(m, n) combinations, or a seeded sample of them), filtered (zero-variance groups dropped),
// screened (the N groups of highest score variance over all queries) and sharpened (only the t lowest
// and t highest scores of each group are kept). Random selection and no sharpening give the paper's
// Table 4 ablations.
import { SeededRandom } from "../util/seededRandom.js";
import { allCombinations, compareIndexLists, countCombinations, sampleCombinations } from "./combinations.js";

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
  /** Per query: every C(m, n) combination when there are at most this many, else a seeded sample of this many distinct ones (default 10000). */
  maxCombinations?: number;
  /** Filtering: drop groups whose n scores are all equal (they carry no advantage signal); default true. */
  dropZeroVariance?: boolean;
  /** "variance" (screening, default): the N highest-variance groups. "random": N groups drawn uniformly, the paper's random-sampling baseline. */
  selection?: "variance" | "random";
  /** Seeds combination sampling and random selection (default 0). */
  seed?: number;
}

export interface Group {
  queryId: string;
  /** Indices into the query's scores, by score ascending (ties by index), after sharpening. */
  members: number[];
  /** Population variance of the group's n scores before sharpening. */
  variance: number;
}

export const DEFAULT_MAX_COMBINATIONS = 10_000;

export function buildGroupDataset(queries: readonly QueryScores[], options: GroupDatasetOptions): Group[] {
  const settings = checkOptions(queries, options);
  const candidates: Group[] = [];
  for (const query of queries) {
    const groups = queryGroups(query, settings);
    // Screening keeps at most N groups in all, so a query never contributes more than its own best N;
    // trimming here bounds memory by (queries x N) instead of (queries x combinations).
    if (settings.selection === "variance" && groups.length > settings.topN) groups.sort(compareGroups).length = settings.topN;
    candidates.push(...groups);
  }
  const selected = settings.selection === "variance" ? candidates.sort(compareGroups).slice(0, settings.topN) : randomSelection(candidates, settings);
  return selected.sort(compareGroups);
}

/** Result order: variance descending, then queryId, then members. */
export function compareGroups(a: Group, b: Group): number {
  if (a.variance !== b.variance) return b.variance - a.variance;
  if (a.queryId !== b.queryId) return a.queryId < b.queryId ? -1 : 1;
  return compareIndexLists(a.members, b.members);
}

/** Population variance; the values are summed in ascending order so equal multisets give equal bits. */
export function populationVariance(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mean = sorted.reduce((s, x) => s + x, 0) / sorted.length;
  return sorted.reduce((s, x) => s + (x - mean) ** 2, 0) / sorted.length;
}

type Settings = Required<GroupDatasetOptions>;

function queryGroups(query: QueryScores, settings: Settings): Group[] {
  const m = query.scores.length;
  const n = settings.groupSize;
  const total = countCombinations(m, n, settings.maxCombinations);
  const combinations =
    total <= settings.maxCombinations
      ? allCombinations(m, n)
      : sampleCombinations(m, n, settings.maxCombinations, new SeededRandom(settings.seed, `combinations:${query.queryId}`));
  const groups: Group[] = [];
  for (const combination of combinations) {
    const scores = combination.map((i) => query.scores[i]!);
    const variance = populationVariance(scores);
    if (settings.dropZeroVariance && variance === 0) continue;
    // Combinations are ascending, so a stable sort by score leaves ties in index order.
    const byScore = [...combination].sort((a, b) => query.scores[a]! - query.scores[b]!);
    const members = settings.keep === 0 ? byScore : [...byScore.slice(0, settings.keep), ...byScore.slice(n - settings.keep)];
    groups.push({ queryId: query.queryId, members, variance });
  }
  return groups;
}

function randomSelection(candidates: Group[], settings: Settings): Group[] {
  // A fixed order first, so the draw depends only on the seed and the candidates, not on input order.
  const pool = candidates.sort((a, b) => (a.queryId !== b.queryId ? (a.queryId < b.queryId ? -1 : 1) : compareIndexLists(a.members, b.members)));
  const random = new SeededRandom(settings.seed, "selection");
  const count = Math.min(settings.topN, pool.length);
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(random.next() * (pool.length - i));
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, count);
}

function checkOptions(queries: readonly QueryScores[], options: GroupDatasetOptions): Settings {
  const settings: Settings = {
    groupSize: options.groupSize,
    keep: options.keep,
    topN: options.topN,
    maxCombinations: options.maxCombinations ?? DEFAULT_MAX_COMBINATIONS,
    dropZeroVariance: options.dropZeroVariance ?? true,
    selection: options.selection ?? "variance",
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
