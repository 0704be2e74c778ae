// Group-wise dataset construction (combinations, filtering, screening, sharpening) and group advantages.
export {
  buildGroupDataset,
  compareGroups,
  DEFAULT_MAX_COMBINATIONS,
  type Group,
  type GroupDatasetOptions,
  type QueryScores,
} from "./groupDataset.js";
export { groupAdvantages } from "./advantages.js";
export { canonicalScore, isFlat, populationVariance, SCORE_TOLERANCE } from "./scores.js";
export { allCombinations, countCombinations } from "./combinations.js";
