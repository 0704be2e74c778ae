import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { probeInChildProcess } from "../../src/generator/crashProbe.js";
import { buildTinyModel, writeGgufFile } from "../../src/gguf/index.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "spogw-probe-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("crash probe", () => {
  it("turns a llama.cpp abort into an error with llama.cpp's message, and passes a sound model", async () => {
    // An F16 norm weight: llama.cpp aborts on the first evaluation (our content checks refuse this file
    // before it gets here; the probe is the safety net for aborts nobody has listed yet).
    const crashing = buildTinyModel({ arch: "llama", layers: 1 });
    crashing.tensors.find((t) => t.name === "output_norm.weight")!.type = "F16";
    const crashingPath = join(dir, "f16-norm.gguf");
    await writeGgufFile(crashingPath, crashing);
    await expect(probeInChildProcess(crashingPath)).rejects.toThrow(/llama\.cpp crashes \(SIGABRT\)[\s\S]*unsupported types/);

    const soundPath = join(dir, "sound.gguf");
    await writeGgufFile(soundPath, buildTinyModel({ arch: "llama", layers: 1 }));
    await expect(probeInChildProcess(soundPath)).resolves.toBeUndefined();
  });
});
