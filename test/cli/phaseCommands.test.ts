// collect, dataset and update run one at a time give the same iteration as `train`; a phase before its
// predecessor is refused with a message; phase commands print their summary as JSON.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { collectCommand } from "../../src/cli/commands/collect.js";
import { datasetCommand } from "../../src/cli/commands/dataset.js";
import { trainCommand } from "../../src/cli/commands/train.js";
import { updateCommand } from "../../src/cli/commands/update.js";
import { writeTinyModel } from "../../src/gguf/index.js";
import { runCommand } from "../helpers/cli.js";
import { runState } from "../helpers/runState.js";

const work = mkdtempSync(join(tmpdir(), "spogw-phases-"));
const model = join(work, "model.gguf");
beforeAll(() => writeTinyModel(model, { arch: "qwen2", seed: 5, kvHeads: 2 }));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const settings = () => ["--task", "simulated", "--generator", model, "--simulated-queries", "3", "-m", "4", "-n", "3", "-t", "1", "--max-tokens", "5", "--iterations", "1", "--engine-threads", "1"];

describe("single-phase commands", () => {
  it("collect, dataset, update one by one equal train's first iteration", async () => {
    const byTrain = join(work, "train");
    await runCommand(trainCommand, ["train", byTrain, ...settings()]);
    const byPhases = join(work, "phases");
    await expect(runCommand(updateCommand, ["update", byPhases, ...settings()])).rejects.toThrow(/update of iteration 0 needs its dataset phase to finish first/);
    const collect = JSON.parse((await runCommand(collectCommand, ["collect", byPhases, "--json"])).stdout) as { samples: number; executions: number };
    expect([collect.samples, collect.executions]).toEqual([12, 36]);
    const dataset = (await runCommand(datasetCommand, ["dataset", byPhases])).stdout;
    expect(dataset).toMatch(/^\[SIMULATED\] dataset of iteration 0: \{"iteration":0,"groups":\d+/);
    await runCommand(updateCommand, ["update", byPhases]);
    const [phases, train] = [runState(byPhases) as Record<string, unknown[]>, runState(byTrain) as Record<string, unknown[]>];
    // train also ran the final collect (iteration 1); everything of iteration 0 and adapter 1 must match.
    for (const key of ["samples", "executions", "groups", "logprobs", "updateSteps"]) {
      expect(phases[key], key).toEqual((train[key] as Array<{ iteration: number }>).filter((row) => row.iteration === 0));
    }
    expect(phases.adapters).toEqual(train.adapters);
    expect((phases.files as unknown as Record<string, string>)["adapters/iter-1.gguf"]).toBe((train.files as unknown as Record<string, string>)["adapters/iter-1.gguf"]);
  }, 180_000);
});
