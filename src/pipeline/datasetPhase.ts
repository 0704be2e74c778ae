// Phase 2 of an iteration: the group-wise dataset from the iteration's workflow scores (filter,
// screen, sharpen) with each group's advantages, stored in one transaction with the phase's done mark.
import { buildGroupDataset, countCombinations, groupAdvantages } from "../dataset/index.js";
import { workflowRewards, type CollectSummary } from "./collect.js";
import type { RunContext } from "./context.js";
import { collectFacts, nothingToLearn } from "./diagnosis.js";
import { sampleKey } from "./runStore.js";

export interface DatasetSummary {
  iteration: number;
  groups: number;
  /** Mean pre-sharpening variance of the kept groups. */
  meanVariance: number;
  /** Mean gap between the two middle scores of each kept group (the paper's median interval length). */
  meanMedianInterval: number;
  /** Kept groups whose advantages are not all 0: what the update can learn from. */
  groupsWithSignal: number;
  /** Distinct sharpened groups among the kept ones (same query, same members count once), and the queries they come from. */
  distinctGroups: number;
  queries: number;
  /** Why the update can learn nothing (no group with signal), with the likely cause; null when it can. */
  warning: string | null;
  /** True when C(m, n) exceeded maxCombinations, so each query's groups were a seeded sample rather than all of them. */
  sampledCombinations: boolean;
}

export function runDataset(ctx: RunContext, iteration: number): DatasetSummary {
  const done = ctx.store.phaseSummary<DatasetSummary>(iteration, "dataset");
  if (done) return done;
  if (!ctx.store.phaseSummary(iteration, "collect")) throw new Error(`dataset of iteration ${iteration} needs its collect phase to finish first`);
  const { config, task } = ctx;
  // The training reward: the score, less the cost term when costWeight > 0.
  const scores = workflowRewards(ctx, iteration);
  const queries = task.queries.map((q) => ({
    queryId: q.id,
    scores: Array.from({ length: config.samplesPerQuery }, (_, i) => scores.get(sampleKey(q.id, i)) ?? 0),
  }));
  const groups = buildGroupDataset(queries, {
    groupSize: config.groupSize,
    keep: config.keep,
    topN: config.topN,
    maxCombinations: config.maxCombinations,
    dropZeroVariance: config.dropZeroVariance,
    selection: config.selection,
    distinctGroups: config.distinctGroups,
    maxGroupsPerQuery: config.maxGroupsPerQuery,
    seed: ctx.seedFor(`dataset:${iteration}`),
  });
  const byQuery = new Map(queries.map((q) => [q.queryId, q.scores]));
  const records = groups.map((g, groupIndex) => {
    const memberScores = g.members.map((i) => byQuery.get(g.queryId)![i]!);
    return { groupIndex, queryId: g.queryId, members: g.members, scores: memberScores, advantages: [...groupAdvantages(memberScores)], variance: g.variance };
  });
  const mean = (xs: number[]) => (xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length);
  const groupsWithSignal = records.filter((r) => r.advantages.some((a) => a !== 0)).length;
  const collected = ctx.store.phaseSummary<CollectSummary>(iteration, "collect")!;
  const facts = collectFacts(ctx.store.samples(iteration), ctx.store.executions(iteration), config.maxTokens, collected.meanScore);
  const summary: DatasetSummary = {
    iteration,
    groups: records.length,
    meanVariance: mean(records.map((r) => r.variance)),
    meanMedianInterval: mean(records.map((r) => {
      const half = r.scores.length / 2;
      return r.scores.length % 2 === 0 ? r.scores[half]! - r.scores[half - 1]! : 0;
    })),
    groupsWithSignal,
    distinctGroups: new Set(records.map((r) => `${r.queryId}\t${[...r.members].sort((a, b) => a - b).join(",")}`)).size,
    queries: new Set(records.map((r) => r.queryId)).size,
    warning: nothingToLearn(iteration, facts, groupsWithSignal, config.maxTokens),
    sampledCombinations: countCombinations(config.samplesPerQuery, config.groupSize, config.maxCombinations) > config.maxCombinations,
  };
  if (summary.warning) ctx.warn(summary.warning);
  if (summary.sampledCombinations) {
    ctx.warn(`dataset of iteration ${iteration}: C(${config.samplesPerQuery}, ${config.groupSize}) groups per query exceed maxCombinations (${config.maxCombinations}), ` +
      "so screening chose among a seeded sample of them; raise --max-combinations for exact screening");
  }
  ctx.store.putGroups(iteration, records, summary);
  return summary;
}
