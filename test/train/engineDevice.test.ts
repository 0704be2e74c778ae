// Choosing the engine's device: "cuda" without CUDA code or without a usable device is a clear error
// (never a crash, and the CPU engine still loads after it), "auto" follows what the loaded binary
// reports, and the run setting engineDevice is checked like every other field. The CUDA engine's
// numbers are checked in native/tests/test_engine_gpu.cc (emulated here, on a GPU by scripts/gpu-check.sh).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeTinyModel } from "../../src/gguf/index.js";
import { native } from "../../src/native/index.js";
import { DEFAULT_CONFIG, resolveConfig } from "../../src/pipeline/config.js";
import { Engine, resolveEngineDevice } from "../../src/train/index.js";

const work = mkdtempSync(join(tmpdir(), "spogw-engine-device-"));
let modelPath: string;

beforeAll(async () => {
  modelPath = join(work, "llama.gguf");
  await writeTinyModel(modelPath, { arch: "llama", seed: 3, kvHeads: 2 });
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const { cuda } = native().info();
const deviceUsable = cuda.compiled && cuda.deviceCount > 0;

describe("engine device", () => {
  it.skipIf(deviceUsable)('device "cuda" without a usable CUDA device is a clear error, and the CPU engine still loads', async () => {
    // The CPU variant has no CUDA code; a CUDA variant on a machine without a device says why.
    const why = cuda.compiled ? /no usable device/ : /CPU variant \(no CUDA code\).*use device "cpu"/;
    await expect(Engine.load(modelPath, { device: "cuda" })).rejects.toThrow(why);
    await expect(Engine.load(modelPath, { device: "cuda", precision: "f32" })).rejects.toThrow(why);
    const engine = await Engine.load(modelPath, { device: "cpu" });
    try {
      expect(engine.deviceInfo()).toEqual({ device: "cpu" });
      const logits = await engine.logits(Int32Array.from([1, 2, 3]));
      expect(logits.length).toBe(3 * engine.config.vocabSize);
    } finally {
      engine.dispose();
    }
  });

  it('"auto" is CUDA exactly when the binary has CUDA code and sees a device', async () => {
    expect(resolveEngineDevice("auto")).toBe(deviceUsable ? "cuda" : "cpu");
    expect(resolveEngineDevice("cpu")).toBe("cpu");
    expect(resolveEngineDevice("cuda")).toBe("cuda");
    const engine = await Engine.load(modelPath);
    try {
      expect(engine.deviceInfo().device).toBe(deviceUsable ? "cuda" : "cpu");
    } finally {
      engine.dispose();
    }
  });

  it("the native loader refuses unknown devices and precisions by name, before any work", () => {
    const load = native().loadEngine as (path: string, options: unknown) => Promise<unknown>;
    expect(() => load(modelPath, { device: "gpu", precision: "bf16" })).toThrow(/device must be "cpu" or "cuda", got "gpu"/);
    expect(() => load(modelPath, { device: "cpu", precision: "fp8" })).toThrow(/precision must be "bf16" or "f32", got "fp8"/);
    expect(() => load(modelPath, {})).toThrow(/device/);
  });

  it("engineDevice is a run setting: auto by default, one of auto, cpu, cuda", () => {
    expect(DEFAULT_CONFIG.engineDevice).toBe("auto");
    expect(resolveConfig({ task: "simulated", generator: "m.gguf", engineDevice: "cuda" }).engineDevice).toBe("cuda");
    expect(() => resolveConfig({ task: "simulated", generator: "m.gguf", engineDevice: "gpu" })).toThrow(/engineDevice.*"auto", "cpu", "cuda"/);
  });
});
