// Run configuration: paper defaults, file + flag layering (YAML and JSON), and errors that name the field.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { conflictingFields, ConfigError, DEFAULT_CONFIG, readConfigFile, readStoredConfig, resolveConfig, RunStore } from "../../src/pipeline/index.js";

const work = mkdtempSync(join(tmpdir(), "spogw-config-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const base = { task: "simulated", generator: "model.gguf" };

describe("run configuration", () => {
  it("defaults to the paper's settings", () => {
    const c = resolveConfig(base);
    expect([c.samplesPerQuery, c.groupSize, c.keep, c.topN, c.beta, c.iterations, c.scoreRuns]).toEqual([16, 14, 4, 100, 0.1, 3, 3]);
    expect([c.klMask, c.reference, c.selection, c.dropZeroVariance]).toEqual(["advantage", "previous", "variance", true]);
    expect(DEFAULT_CONFIG.loraTargets).toHaveLength(7);
  });

  it("reads YAML and JSON files; later layers (flags) win", () => {
    const yamlPath = join(work, "run.yaml");
    writeFileSync(yamlPath, "task: simulated\ngenerator: a.gguf\ngroupSize: 10\nkeep: 3\nklMask: all\n");
    const jsonPath = join(work, "run.json");
    writeFileSync(jsonPath, JSON.stringify({ task: "simulated", generator: "b.gguf", beta: 0 }));
    const fromYaml = resolveConfig(readConfigFile(yamlPath), { keep: 2 });
    expect([fromYaml.generator, fromYaml.groupSize, fromYaml.keep, fromYaml.klMask]).toEqual(["a.gguf", 10, 2, "all"]);
    expect(resolveConfig(readConfigFile(jsonPath)).beta).toBe(0);
  });

  it("names every bad field and says what is allowed", () => {
    const error = (layer: Record<string, unknown>) => {
      try {
        resolveConfig(base, layer);
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        return (e as Error).message;
      }
      throw new Error("no error");
    };
    expect(error({ groupSize: 20 })).toMatch(/groupSize \(n = 20\) must be at most samplesPerQuery \(m = 16\)/);
    expect(error({ keep: 7 })).toMatch(/keep \(t = 7\) must satisfy 2t < groupSize \(n = 14\)/);
    expect(error({ topN: 0 })).toMatch(/topN: must be a whole number >= 1, got 0/);
    expect(error({ beta: -1 })).toMatch(/beta: must be a number >= 0, got -1/);
    expect(error({ klMask: "some" })).toMatch(/klMask: must be one of "advantage", "all", got "some"/);
    expect(error({ reference: 3 })).toMatch(/reference: must be one of "previous", "base"/);
    expect(error({ loraTargets: ["attn_x"] })).toMatch(/loraTargets: must be a non-empty list of attn_q/);
    expect(error({ groupsize: 3 })).toMatch(/unknown field "groupsize"/);
    const two = error({ epochs: 0, learningRate: "fast" });
    expect(two).toMatch(/epochs: must be a whole number >= 1/);
    expect(two).toMatch(/learningRate: must be a number > 0/);
    expect(() => resolveConfig({ generator: "m.gguf" })).toThrow(/task: missing/);
    expect(() => resolveConfig({ task: "humaneval", generator: "m.gguf" })).toThrow(/dataDir: missing[\s\S]*executorUrl: missing/);
  });

  it("reports unreadable and malformed files with their path", () => {
    expect(() => readConfigFile(join(work, "absent.yaml"))).toThrow(/cannot read config file .*absent\.yaml: ENOENT/);
    const bad = join(work, "bad.yaml");
    writeFileSync(bad, "task: [unclosed\n");
    expect(() => readConfigFile(bad)).toThrow(/bad\.yaml is not valid YAML\/JSON/);
    const list = join(work, "list.json");
    writeFileSync(list, "[1, 2]");
    expect(() => readConfigFile(list)).toThrow(/must hold a mapping/);
  });

  it("lists the settings a resumed run may not change", () => {
    const a = resolveConfig(base);
    expect(conflictingFields(a, resolveConfig(base, { iterations: 5, engineThreads: 1 }))).toEqual([]);
    // Where the generator is sampled may change (in-process or a server, and the server's address): the
    // server's model is checked against the GGUF when the run connects.
    expect(conflictingFields(a, resolveConfig(base, { generatorUrl: "http://gpu:8000/v1", generatorRunDir: "/mnt/runs/r", generatorConcurrency: 32 }))).toEqual([]);
    expect(conflictingFields(a, resolveConfig(base, { beta: 0, topN: 50 }))).toEqual([
      "topN: the run has 100, this invocation asks for 50",
      "beta: the run has 0.1, this invocation asks for 0",
    ]);
  });

  it("treats a field a stored run predates as its default (runs stored before exactSampling existed resume)", () => {
    const { exactSampling: _added, ...older } = resolveConfig(base);
    expect(conflictingFields(older as ReturnType<typeof resolveConfig>, resolveConfig(base))).toEqual([]);
    expect(conflictingFields(older as ReturnType<typeof resolveConfig>, resolveConfig(base, { exactSampling: false }))).toEqual([
      "exactSampling: the run has true, this invocation asks for false",
    ]);
  });

  it("reads a stored run's settings over the defaults (a field the run predates is its default) and names a bad one", () => {
    const storeWith = (name: string, config: string | undefined) => {
      const dir = join(work, name);
      const store = RunStore.open(dir);
      if (config !== undefined) store.setMeta("config", config);
      store.close();
      return dir;
    };
    const { exactSampling: _added, epochs: _also, ...older } = resolveConfig(base, { beta: 0.05, loraTargets: ["attn_q"] });
    const stored = readStoredConfig(storeWith("older", JSON.stringify(older)));
    expect(stored).toEqual(resolveConfig(base, { beta: 0.05, loraTargets: ["attn_q"] }));
    expect([stored.exactSampling, stored.epochs, stored.beta]).toEqual([true, 1, 0.05]);
    const bad = storeWith("bad", JSON.stringify({ ...older, topN: -3 }));
    expect(() => readStoredConfig(bad)).toThrow(`${bad}: the stored configuration is invalid:\n  topN: must be a whole number >= 1, got -3`);
    const notJson = storeWith("not-json", "{");
    expect(() => readStoredConfig(notJson)).toThrow(`${notJson}: the stored configuration is not valid JSON`);
    const unstarted = storeWith("unstarted", undefined);
    expect(() => readStoredConfig(unstarted)).toThrow(`${unstarted}: the run store has no configuration (the run was never started)`);
  });
});
