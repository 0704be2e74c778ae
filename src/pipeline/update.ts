// Phase 3 of an iteration: the ioGRPO-mKL update (paper sections 3.2 and 3.3). old = ref = the
// adapter that sampled the data (or ref = the base model), their log-probs computed once and stored;
// E epochs over the groups in seeded order, AdamW on the LoRA parameters; the adapter and optimizer
// state are checkpointed after every step so a killed update resumes at the step it was on with the
// same numbers; the next adapter is written in GGUF (node-llama-cpp) and PEFT (Hugging Face) form.
import { existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { SeededRandom } from "../util/seededRandom.js";
import type { BackwardItem, Engine } from "../train/index.js";
import type { RunContext } from "./context.js";
import { sampleKey, sampleTokens, type AdapterRecord, type GroupRecord, type SampleRecord } from "./runStore.js";
import { lossSettingsOf, optimizerSettingsOf } from "./trainingSettings.js";

export interface UpdateSummary {
  iteration: number;
  steps: number;
  /** Mean loss over the steps (0 when there were no groups). */
  meanLoss: number;
  lastGradNorm: number;
  meanKl: number;
  meanClipFraction: number;
  /** The adapter written, relative to the run directory. */
  adapter: string;
}

/** The groups of each optimizer step: every epoch visits all groups once, in a seeded order. */
export function stepPlan(groupCount: number, epochs: number, groupsPerStep: number, random: (epoch: number) => SeededRandom): Array<{ epoch: number; groups: number[] }> {
  const plan: Array<{ epoch: number; groups: number[] }> = [];
  for (let epoch = 0; epoch < epochs; epoch++) {
    const order = Array.from({ length: groupCount }, (_, i) => i);
    const rng = random(epoch);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rng.next() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    for (let start = 0; start < order.length; start += groupsPerStep) plan.push({ epoch, groups: order.slice(start, start + groupsPerStep) });
  }
  return plan;
}

export async function runUpdate(ctx: RunContext, iteration: number): Promise<UpdateSummary> {
  const done = ctx.store.phaseSummary<UpdateSummary>(iteration, "update");
  if (done) {
    // A run killed after recording the adapter but before this cleanup left its checkpoints behind.
    rmSync(ctx.path(`checkpoints/iter-${iteration}`), { recursive: true, force: true });
    return done;
  }
  if (!ctx.store.phaseSummary(iteration, "dataset")) throw new Error(`update of iteration ${iteration} needs its dataset phase to finish first`);
  const { store } = ctx;
  const engine = await ctx.trainingEngine();
  const groups = store.groups(iteration);
  const samples = new Map(store.samples(iteration).map((s) => [sampleKey(s.queryId, s.sampleIndex), s]));
  await storeLogprobs(ctx, engine, iteration, groups, samples);
  await trainSteps(ctx, engine, iteration, groups, samples, store.logprobs(iteration));
  const adapter = await writeNextAdapter(ctx, engine, iteration);
  const steps = store.updateSteps(iteration);
  const mean = (xs: number[]) => (xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length);
  const summary: UpdateSummary = {
    iteration,
    steps: steps.length,
    meanLoss: mean(steps.map((s) => s.loss)),
    lastGradNorm: steps.at(-1)?.gradNorm ?? 0,
    meanKl: mean(steps.map((s) => s.stats.klMean ?? 0)),
    meanClipFraction: mean(steps.map((s) => (s.stats.clipFractionLow ?? 0) + (s.stats.clipFractionHigh ?? 0))),
    adapter: adapter.gguf,
  };
  store.putAdapter(iteration, adapter, summary);
  rmSync(ctx.path(`checkpoints/iter-${iteration}`), { recursive: true, force: true });
  return summary;
}

/**
 * The optimizer steps of the iteration's plan not yet stored: from the last stored checkpoint (adapter
 * and AdamW state) or, with none, from the sampling policy. Each step is checkpointed before its row is
 * written, so a rerun continues at the step that was in flight with the same numbers.
 */
async function trainSteps(
  ctx: RunContext, engine: Engine, iteration: number, groups: GroupRecord[], samples: Map<string, SampleRecord>,
  logprobs: Map<string, { policy: Float32Array; reference: Float32Array | null }>,
): Promise<void> {
  const { config, store } = ctx;
  const lossSettings = lossSettingsOf(config);
  const optimizerSettings = optimizerSettingsOf(config);
  const plan = stepPlan(groups.length, config.epochs, config.groupsPerStep, (epoch) => new SeededRandom(config.seed, `batches:${iteration}:${epoch}`));
  const finished = store.updateSteps(iteration);
  const lastCheckpoint = finished.at(-1)?.checkpoint;
  if (lastCheckpoint) await engine.loadLora(ctx.path(lastCheckpoint), { optimizer: true });
  else await startPolicy(ctx, engine, iteration);
  ctx.progress({ iteration, phase: "update", done: finished.length, total: plan.length, unit: "steps", resumedFrom: finished.length });
  for (let step = finished.length; step < plan.length; step++) {
    const { epoch, groups: indices } = plan[step]!;
    const batch = stepBatch(indices.map((i) => groups[i]!), samples, logprobs);
    const result = batch.length > 0
      ? await engine.backward(batch, lossSettings)
      : { loss: 0, stats: {} };
    const { gradNorm } = await engine.optimizerStep(optimizerSettings);
    const checkpoint = checkpointPath(iteration, step);
    mkdirSync(dirname(ctx.path(checkpoint)), { recursive: true });
    await engine.saveLora(ctx.path(checkpoint));
    store.putUpdateStep({ iteration, step, epoch, loss: result.loss, gradNorm, stats: result.stats, checkpoint });
    if (step > 0) removeCheckpoint(ctx, checkpointPath(iteration, step - 1));
    ctx.progress({ iteration, phase: "update", done: step + 1, total: plan.length, unit: "steps", resumedFrom: finished.length });
  }
}

/** adapter_{k+1} in GGUF (node-llama-cpp) and PEFT (Hugging Face) form, written before the database names it. */
async function writeNextAdapter(ctx: RunContext, engine: Engine, iteration: number): Promise<AdapterRecord> {
  const adapter = { iteration: iteration + 1, gguf: `adapters/iter-${iteration + 1}.gguf`, peft: `adapters/iter-${iteration + 1}-peft` };
  mkdirSync(ctx.path("adapters"), { recursive: true });
  removeUnfinishedWrites(ctx.path("adapters"));
  removeUnfinishedWrites(ctx.path(adapter.peft));
  await engine.saveLora(ctx.path(adapter.gguf));
  await engine.saveLora(ctx.path(adapter.peft), { format: "peft" });
  return adapter;
}

/** Puts the engine at the policy that sampled iteration `iteration`, with a fresh optimizer. */
async function startPolicy(ctx: RunContext, engine: Engine, iteration: number): Promise<void> {
  const adapter = ctx.adapterPath(iteration);
  if (adapter) await engine.loadLora(adapter);
  else basePolicy(ctx, engine);
}

/** A zero-initialised adapter (B = 0): the model equals the base; A is seeded so a rerun starts identically. */
function basePolicy(ctx: RunContext, engine: Engine): void {
  const { config } = ctx;
  engine.initLora({ rank: config.loraRank, alpha: config.loraAlpha, targets: config.loraTargets, init: "zeros", seed: ctx.seedFor("lora-init") });
}

/**
 * old = ref = the sampling policy's log-probs of every group member (ref from the base model when asked),
 * once per iteration. One engine call per query's missing members, so their shared prompt is computed
 * once (Engine.tokenLogprobsBatch); each member is stored as its call returns, so a killed run redoes at
 * most the call in flight.
 */
async function storeLogprobs(ctx: RunContext, engine: Engine, iteration: number, groups: GroupRecord[], samples: Map<string, SampleRecord>): Promise<void> {
  const { config, store } = ctx;
  const stored = store.logprobs(iteration);
  const needed = [...new Set(groups.flatMap((g) => g.members.map((i) => sampleKey(g.queryId, i))))];
  const missing = needed.filter((key) => !stored.has(key));
  const resumedFrom = needed.length - missing.length;
  ctx.progress({ iteration, phase: "logprobs", done: resumedFrom, total: needed.length, unit: "responses", resumedFrom });
  if (missing.length === 0) return;
  const byQuery = new Map<string, SampleRecord[]>();
  for (const key of missing) {
    const s = samples.get(key)!;
    byQuery.set(s.queryId, [...(byQuery.get(s.queryId) ?? []), s]);
  }
  const calls = [...byQuery.values()];
  const { temperature } = lossSettingsOf(config);  // the log-probs are taken at the loss's temperature
  const separateReference = config.reference === "base" && iteration > 0;
  const referenceLogp = new Map<SampleRecord, Float32Array>();
  if (separateReference) {
    basePolicy(ctx, engine);
    for (const call of calls) (await responseLogprobs(engine, call, temperature)).forEach((lp, i) => referenceLogp.set(call[i]!, lp));
  }
  await startPolicy(ctx, engine, iteration);
  let done = resumedFrom;
  for (const call of calls) {
    const policy = await responseLogprobs(engine, call, temperature);
    call.forEach((s, i) => store.putLogprobs(iteration, s.queryId, s.sampleIndex, policy[i]!, separateReference ? referenceLogp.get(s)! : null));
    done += call.length;
    ctx.progress({ iteration, phase: "logprobs", done, total: needed.length, unit: "responses", resumedFrom });
  }
}

/** Each sample's completion log-probs in one engine call (an empty completion has none, and no call). */
async function responseLogprobs(engine: Engine, call: SampleRecord[], temperature: number): Promise<Float32Array[]> {
  const nonEmpty = call.filter((s) => s.completionTokens.length > 0);
  const lps = await engine.tokenLogprobsBatch(nonEmpty.map((s) => ({ tokens: sampleTokens(s), responseStart: s.promptTokens.length })), temperature);
  const bySample = new Map(nonEmpty.map((s, i) => [s, lps[i]!]));
  return call.map((s) => bySample.get(s) ?? new Float32Array(0));
}

/** One optimizer step's responses; w_i = 1 / (groups in the step * group size * |y_i|). Empty responses carry no tokens and are left out. */
function stepBatch(groups: GroupRecord[], samples: Map<string, SampleRecord>, logprobs: Map<string, { policy: Float32Array; reference: Float32Array | null }>): BackwardItem[] {
  const batch: BackwardItem[] = [];
  for (const group of groups) {
    group.members.forEach((sampleIndex, j) => {
      const key = sampleKey(group.queryId, sampleIndex);
      const s = samples.get(key)!;
      const responseLength = s.completionTokens.length;
      if (responseLength === 0) return;
      const lp = logprobs.get(key)!;
      batch.push({
        tokens: sampleTokens(s),
        responseStart: s.promptTokens.length,
        advantage: group.advantages[j]!,
        weight: 1 / (groups.length * group.members.length * responseLength),
        oldLogp: lp.policy,
        refLogp: lp.reference ?? lp.policy,
      });
    });
  }
  return batch;
}

/** Temporary files of atomic writes a killed run did not get to rename (they are never read). */
function removeUnfinishedWrites(dir: string): void {
  if (!existsSync(dir)) return;
  for (const name of readdirSync(dir)) if (name.startsWith(".") && name.endsWith(".tmp")) rmSync(join(dir, name), { force: true });
}

function checkpointPath(iteration: number, step: number): string {
  return `checkpoints/iter-${iteration}/step-${String(step).padStart(5, "0")}.gguf`;
}

function removeCheckpoint(ctx: RunContext, relative: string): void {
  const path = ctx.path(relative);
  rmSync(path, { force: true });
  rmSync(`${path}.optim.safetensors`, { force: true });
}
