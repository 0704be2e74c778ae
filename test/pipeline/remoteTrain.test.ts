// `train --generator-url` end to end: `serve` in its own process (F32 KV cache, adapters from the runs'
// directory, an API key), `train` in its own process, a recording proxy between them. Checked: every
// stored sample's token ids (and log-probs) are what the server sent; iterations 1 and 2 sample from
// the adapters the updates wrote, loaded into the server by name; the server's probabilities of the
// sampled tokens equal the training engine's within 1e-5; the report shows it; a train killed inside an
// iteration's sampling resumes without asking for a stored sample again and ends in the uninterrupted
// run's state; a finished run leaves no adapter on the server. The simulated task and a benchmark (humaneval, the same server as executor).
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeTinyModel } from "../../src/gguf/index.js";
import { runStatus } from "../../src/pipeline/index.js";
import { RunStore, type SampleRecord } from "../../src/pipeline/runStore.js";
import { loadRunReportData, renderRunReport } from "../../src/report/index.js";
import { exitOf, spawnCli } from "../helpers/cli.js";
import { testDataDir } from "../helpers/dataDir.js";
import { maxSampledTokenGap } from "../helpers/probabilityGap.js";
import { startServeProcess, type ServeProcess } from "../helpers/serveProcess.js";
import { choicesOf, startServerProxy, type Exchange, type ServerProxy } from "../helpers/serverProxy.js";
import { runState } from "../helpers/runState.js";
import { smallSimulatedConfig } from "../helpers/simulatedRun.js";

const work = mkdtempSync(join(tmpdir(), "spogw-remote-train-"));
const runs = join(work, "runs");
const model = join(work, "model.gguf");
const KEY = "e2e-key-6d1f0b";
let serve: ServeProcess;
let proxy: ServerProxy;

const simulatedConfig = (extra = "") => smallSimulatedConfig(model, extra);

function startTrain(dir: string, args: string[]): ChildProcess {
  return spawnCli(["train", dir, ...args, "--json"], { SPOGW_GENERATOR_KEY: KEY, SPOGW_EXECUTOR_KEY: KEY });
}

function samplesOf(dir: string): SampleRecord[] {
  const store = RunStore.open(dir);
  try {
    return [0, 1, 2].flatMap((iteration) => store.samples(iteration));
  } finally {
    store.close();
  }
}

const answered = (exchanges: Exchange[]) => exchanges.filter((e) => e.path === "/v1/completions" && e.status === 200 && e.request.max_tokens !== 1);

/** Each stored sample came back from the server as is: its prompt was sent to the model it names, and the ids and log-probs are a choice's. */
function expectServerSamples(samples: SampleRecord[], exchanges: Exchange[]): void {
  const responses = answered(exchanges);
  for (const s of samples) {
    const choice = responses
      .filter((e) => e.request.model === s.sampler && JSON.stringify(e.request.prompt) === JSON.stringify([...s.promptTokens]))
      .flatMap((e) => choicesOf(e.response as Record<string, unknown>))
      .find((c) => JSON.stringify(c.token_ids) === JSON.stringify([...s.completionTokens]));
    expect(choice, `sample ${s.iteration}/${s.queryId}/${s.sampleIndex} from ${s.sampler}`).toBeDefined();
    const logprobs = (choice!.logprobs as { token_logprobs: number[] }).token_logprobs;
    expect([...s.samplerLogprobs!]).toEqual(logprobs.map(Math.fround));
  }
}

beforeAll(async () => {
  mkdirSync(runs);
  // The benchmark prompts are about 3000 byte-level tokens: a 4096 context.
  await writeTinyModel(model, { arch: "qwen2", seed: 3, kvHeads: 2, ctx: 4096 });
  serve = await startServeProcess(
    ["--model", model, "--port", "0", "--served-model-name", "tiny", "--lora-dir", runs, "--exact-sampling", "--sequences", "4", "--max-tokens", "16"],
    { SPOGW_SERVE_API_KEY: KEY },
  );
  proxy = await startServerProxy(serve.url);
}, 300_000);

afterAll(async () => {
  await proxy?.close();
  const stopped = await serve?.stop();
  expect(stopped?.output ?? "").not.toContain(KEY);
  rmSync(work, { recursive: true, force: true });
});

describe("train with the generator on a server", () => {
  it("simulated task, 2 iterations: stored ids are the server's, iterations 1 and 2 sample the loaded adapters, sampler = engine within 1e-5, and the report shows it", async () => {
    const dir = join(runs, "simulated");
    const configPath = join(work, "simulated.yaml");
    writeFileSync(configPath, simulatedConfig());
    const result = await exitOf(startTrain(dir, ["--config", configPath, "--generator-url", proxy.url]));
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout + result.stderr).not.toContain(KEY);

    const samples = samplesOf(dir);
    expect(samples).toHaveLength(48);
    expectServerSamples(samples, proxy.exchanges);
    const samplers = [0, 1, 2].map((iteration) => [...new Set(samples.filter((s) => s.iteration === iteration).map((s) => s.sampler))]);
    expect(samplers[0]).toEqual(["tiny"]);
    expect(samplers[1]![0]).toMatch(/^spogw-[0-9a-f]{12}-iter-1$/);
    expect(samplers[2]).toEqual([samplers[1]![0]!.replace(/1$/, "2")]);

    // Each adapter was loaded from the PEFT directory its update wrote; the previous one was unloaded.
    const adapterCalls = proxy.exchanges.filter((e) => /lora_adapter$/.test(e.path)).map((e) => [e.path, e.request.lora_name, e.request.lora_path, e.status]);
    expect(adapterCalls).toEqual([
      ["/v1/load_lora_adapter", samplers[1]![0], join(dir, "adapters/iter-1-peft"), 200],
      ["/v1/load_lora_adapter", samplers[2]![0], join(dir, "adapters/iter-2-peft"), 200],
      ["/v1/unload_lora_adapter", samplers[1]![0], undefined, 200],
      ["/v1/unload_lora_adapter", samplers[2]![0], undefined, 200], // the run is done: the server keeps nothing of it
    ]);
    const models = (await (await fetch(`${serve.url}/models`, { headers: { authorization: `Bearer ${KEY}` } })).json()) as { data: Array<{ id: string }> };
    expect(models.data.map((m) => m.id)).toEqual(["tiny"]);

    // The parity check: the server's probability of every sampled token the update scored, with the
    // adapter that sampled it, against the training engine's with the same adapter.
    const status = runStatus(dir);
    for (const iteration of [0, 1]) {
      const gap = status.iterations[iteration]!.samplerGap!;
      console.info(`iteration ${iteration}: sampler vs engine max |dp| ${gap.maxAbsProb.toExponential(2)} over ${gap.tokens} tokens (max |dlogp| ${gap.maxAbsLogprob.toExponential(2)})`);
      expect(gap.tokens).toBeGreaterThan(20);
      expect(gap.maxAbsProb).toBeLessThan(1e-5);
    }
    expect(status.iterations[1]!.samplers).toEqual(samplers[1]);

    const report = loadRunReportData(dir);
    expect(report.iterations.map((it) => it.samplers)).toEqual(samplers);
    const html = renderRunReport(report, { chartLibrary: "/* left out */" });
    expect(html).toContain(`server ${proxy.url}`);
    expect(html).toContain(samplers[2]![0]);
    expect(html).toMatch(/sampler vs engine: max \|&Delta;p\| \(tokens\)/);
  }, 600_000);

  // Compares with the run of the test above (tests in a file run in order).
  it("killed while sampling iteration 1 and rerun: no stored sample is requested again, and the run ends in the uninterrupted run's state", async () => {
    const slow = await startServerProxy(serve.url, { delayMs: (path) => (path === "/v1/completions" ? 1500 : 0) });
    try {
      const dir = join(runs, "killed");
      const configPath = join(work, "killed.yaml");
      writeFileSync(configPath, simulatedConfig("generatorConcurrency: 1\n"));
      const child = startTrain(dir, ["--config", configPath, "--generator-url", slow.url]);
      const exit = exitOf(child);
      const storedIn = (iteration: number) => {
        if (!existsSync(join(dir, "run.sqlite"))) return 0;
        const db = new Database(join(dir, "run.sqlite"), { readonly: true });
        try {
          return (db.prepare("SELECT COUNT(*) AS n FROM samples WHERE iteration = ?").get(iteration) as { n: number }).n;
        } catch {
          return 0; // tables not created yet
        } finally {
          db.close();
        }
      };
      let exited = false;
      void exit.then(() => (exited = true));
      while (!exited && storedIn(1) < 4) await new Promise((r) => setTimeout(r, 50));
      child.kill("SIGKILL");
      const killed = await exit;
      expect(killed.signal, killed.stderr).toBe("SIGKILL");
      const killedAt = Date.now();
      const before = samplesOf(dir).filter((s) => s.iteration === 1);
      expect(before.length).toBeGreaterThanOrEqual(4);
      expect(before.length).toBeLessThan(16); // the kill landed inside iteration 1's sampling

      const rerun = await exitOf(startTrain(dir, ["--config", configPath, "--generator-url", slow.url]));
      expect(rerun.code, rerun.stderr).toBe(0);
      const after = samplesOf(dir);
      // The samples stored before the kill are kept as they were, and none of their queries was sampled again.
      for (const s of before) expect(after.find((a) => a.iteration === 1 && a.queryId === s.queryId && a.sampleIndex === s.sampleIndex)).toEqual(s);
      const storedPrompts = new Set(before.map((s) => JSON.stringify([...s.promptTokens])));
      const adapterModel = before[0]!.sampler;
      const askedAgain = answered(slow.exchanges).filter((e) => e.receivedAt > killedAt && e.request.model === adapterModel && storedPrompts.has(JSON.stringify(e.request.prompt)));
      expect(askedAgain).toEqual([]);
      expectServerSamples(after, slow.exchanges);

      // The end state is the uninterrupted run's (the server samples deterministically), adapter names aside.
      const withoutNames = (state: Record<string, unknown>): Record<string, unknown> => ({
        ...state,
        samples: (state.samples as Array<Record<string, unknown>>).map((s) => ({ ...s, sampler: String(s.sampler).replace(/^spogw-[0-9a-f]+-/, "spogw-RUN-") })),
      });
      const [resumed, reference] = [withoutNames(runState(dir)), withoutNames(runState(join(runs, "simulated")))];
      for (const key of Object.keys(reference)) expect(resumed[key], key).toEqual(reference[key]);
    } finally {
      await slow.close();
    }
  }, 600_000);

  it("humaneval, 2 iterations, the same server as executor: stored ids are the server's, iterations 1 and 2 sample the loaded adapters (server = engine within 1e-5), and the report shows it", async () => {
    const dir = join(runs, "humaneval");
    const result = await exitOf(startTrain(dir, [
      "--benchmark", "humaneval", "--data-dir", testDataDir, "--generator", model, "--generator-url", proxy.url,
      "--executor", serve.url, "--executor-model", "tiny",
      "--limit", "2", "--iterations", "2", "-m", "2", "-n", "2", "-t", "0", "--max-tokens", "24", "--max-attempts", "2", "--score-runs", "1",
    ]));
    expect(result.code, result.stderr).toBe(0);
    const samples = samplesOf(dir);
    expect(samples).toHaveLength(2 * 2 * 3);
    expectServerSamples(samples, proxy.exchanges);
    expect([...new Set(samples.map((s) => s.sampler))]).toEqual(["tiny", expect.stringMatching(/-iter-1$/), expect.stringMatching(/-iter-2$/)]);
    const status = runStatus(dir);
    expect([status.task, status.next]).toEqual(["humaneval", "done"]);
    // Each iteration's server log-probs are the engine's with that iteration's adapter: the one loaded was the one the update wrote.
    for (const iteration of [0, 1, 2]) {
      const store = RunStore.open(dir);
      const adapter = store.adapterPath(iteration);
      store.close();
      const sampled = samples.filter((s) => s.iteration === iteration).map((s) => ({ promptTokens: s.promptTokens, tokens: s.completionTokens, logprobs: s.samplerLogprobs! }));
      const gap = await maxSampledTokenGap(model, adapter, sampled);
      console.info(`humaneval iteration ${iteration}: sampler vs engine max |dp| ${gap.worst.toExponential(2)} over ${gap.tokens} tokens (groups ${status.iterations[iteration]!.groups}, update steps ${status.iterations[iteration]!.updateSteps})`);
      expect(gap.tokens).toBeGreaterThan(20);
      expect(gap.worst).toBeLessThan(1e-5);
    }
    const report = loadRunReportData(dir);
    expect(report.iterations).toHaveLength(3);
    expect(renderRunReport(report, { chartLibrary: "/* left out */" })).toContain(`server ${proxy.url}`);
  }, 600_000);
});
