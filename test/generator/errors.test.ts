import { writeFile, mkdtemp, rm } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi, type MockInstance } from "vitest";
import { Generator } from "../../src/generator/index.js";
import { getLlamaRuntime } from "../../src/generator/llamaRuntime.js";
import {
  buildTinyModel,
  encodeGguf,
  gguf,
  GgufContentError,
  GgufFormatError,
  makeRandomLoraAdapter,
  parseGguf,
  writeGgufFile,
  writeLoraAdapter,
  type GgufFileToWrite,
} from "../../src/gguf/index.js";
import { malformedCorpus } from "../helpers/malformedCorpus.js";

let dir: string;
let loadModelSpy: MockInstance;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "spogw-errors-"));
  const llama = await getLlamaRuntime();
  loadModelSpy = vi.spyOn(llama, "loadModel");
});
afterAll(async () => {
  vi.restoreAllMocks();
  await rm(dir, { recursive: true, force: true });
});

async function writeModel(name: string, change: (model: GgufFileToWrite) => void): Promise<string> {
  const model = buildTinyModel({ arch: "qwen2", kvHeads: 2 });
  change(model);
  const path = join(dir, name);
  await writeGgufFile(path, model);
  return path;
}

const load = (modelPath: string) => Generator.load({ modelPath, threads: 1, sequences: 1, contextSize: 32 });

describe("files our checks reject never reach node-llama-cpp", () => {
  it("every file of the malformed corpus fails in our reader, with field and offset", async () => {
    for (const c of malformedCorpus()) {
      const path = join(dir, `malformed-${c.name.replace(/\W+/g, "-")}.gguf`);
      await writeFile(path, c.bytes);
      const error = await load(path).then(() => undefined, (e: unknown) => e);
      expect(error, c.name).toBeInstanceOf(GgufFormatError);
      expect((error as GgufFormatError).byteOffset, c.name).toBe(c.offset);
      expect((error as Error).message, c.name).toContain(path);
    }
    expect(loadModelSpy).not.toHaveBeenCalled();
  });

  // Each of these makes llama.cpp abort the whole process (GGML_ASSERT) instead of throwing (measured).
  it.each([
    ["missing feed_forward_length", (m: GgufFileToWrite): void => void m.metadata.delete("qwen2.feed_forward_length"), /qwen2\.feed_forward_length: missing/],
    ["missing head_count", (m: GgufFileToWrite): void => void m.metadata.delete("qwen2.attention.head_count"), /qwen2\.attention\.head_count: missing/],
    ["F16 norm weight", (m: GgufFileToWrite): void => void (m.tensors.find((t) => t.name === "output_norm.weight")!.type = "F16"), /output_norm\.weight: 1-D tensors .* must be F32/],
    ["F16 bias", (m: GgufFileToWrite): void => void (m.tensors.find((t) => t.name === "blk.0.attn_v.bias")!.type = "F16"), /attn_v\.bias: 1-D tensors/],
    ["vocabulary larger than token_embd", (m: GgufFileToWrite): void => void m.metadata.set("tokenizer.ggml.tokens", gguf.strings([...Array(300).keys()].map(String))), /token_embd\.weight: has 275 rows but the vocabulary has 300/],
    ["head_count_kv 0", (m: GgufFileToWrite): void => void m.metadata.set("qwen2.attention.head_count_kv", gguf.uint32(0)), /head_count_kv: 0 must be at least 1/],
    ["rope dimensions other than the head size", (m: GgufFileToWrite): void => void m.metadata.set("qwen2.rope.dimension_count", gguf.uint32(8)), /rope\.dimension_count: 8 must equal the key head size 16/],
    ["value head size other than the key head size", (m: GgufFileToWrite): void => void m.metadata.set("qwen2.attention.key_length", gguf.uint32(8)), /value_length: value head size 16 must equal the key head size 8/],
    ["more layers than llama.cpp allows", (m: GgufFileToWrite): void => void m.metadata.set("qwen2.block_count", gguf.uint32(513)), /block_count: 513 is more than llama\.cpp's limit of 512/],
    ["experts used without experts", (m: GgufFileToWrite): void => void m.metadata.set("qwen2.expert_used_count", gguf.uint32(2)), /expert_used_count: 2 must be from 1 to expert_count \(0\)/],
  ] as const)("%s is refused before loading", async (name, change, message) => {
    const path = await writeModel(`${name.replace(/\W+/g, "-")}.gguf`, change);
    const error = await load(path).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(GgufContentError);
    expect((error as Error).message).toMatch(message);
    expect(loadModelSpy).not.toHaveBeenCalled();
  });
});

describe("llama.cpp's own reasons reach the user", () => {
  it("quotes llama.cpp when it refuses a model our checks let through", async () => {
    const badPre = await writeModel("bad-pre.gguf", (m) => m.metadata.set("tokenizer.ggml.pre", gguf.string("no-such-pretokenizer")));
    await expect(load(badPre)).rejects.toThrow(/could not load model[\s\S]*unknown pre-tokenizer type: 'no-such-pretokenizer'/);
    const noEps = await writeModel("no-eps.gguf", (m) => m.metadata.delete("qwen2.attention.layer_norm_rms_epsilon"));
    await expect(load(noEps)).rejects.toThrow(/key not found in model: qwen2\.attention\.layer_norm_rms_epsilon/);
    expect(loadModelSpy).toHaveBeenCalledTimes(2); // the spy does see the loads that reach node-llama-cpp
  });

  it("quotes llama.cpp when an adapter does not fit the model, and recovers", async () => {
    const modelPath = await writeModel("model.gguf", () => {});
    const otherShape = parseGguf(encodeGguf(buildTinyModel({ arch: "qwen2", embd: 32, heads: 4 })));
    const misfit = join(dir, "misfit.gguf");
    await writeLoraAdapter(misfit, makeRandomLoraAdapter(otherShape, { rank: 2, alpha: 2 }));
    const llamaAdapter = join(dir, "llama-adapter.gguf");
    await writeLoraAdapter(llamaAdapter, makeRandomLoraAdapter(parseGguf(encodeGguf(buildTinyModel({ arch: "llama" }))), { rank: 2, alpha: 2 }));

    const generator = await load(modelPath);
    try {
      await expect(generator.setAdapter({ path: llamaAdapter })).rejects.toThrow(/adapter is for "llama" but the model is "qwen2"/);
      await expect(generator.sample([1, 2], { m: 1, maxTokens: 2 })).resolves.toHaveLength(1); // a refused file leaves the old context
      await expect(generator.setAdapter({ path: misfit })).rejects.toThrow(/could not apply adapter[\s\S]*incorrect shape/);
      await expect(generator.sample([1, 2], { m: 1, maxTokens: 2 })).rejects.toThrow(/no context/);
      await generator.setAdapter(undefined);
      await expect(generator.sample([1, 2], { m: 1, maxTokens: 2 })).resolves.toHaveLength(1);
    } finally {
      await generator.dispose();
    }
  });
});

describe("generator settings", () => {
  it("refuses thread counts outside 1..cores", async () => {
    const modelPath = await writeModel("threads.gguf", () => {});
    const cores = availableParallelism();
    for (const threads of [0, 1.5, cores + 1]) {
      await expect(Generator.load({ modelPath, threads })).rejects.toThrow(new RegExp(`threads must be a whole number from 1 to ${cores}`));
    }
  });

  it("says which file is missing", async () => {
    await expect(load(join(dir, "absent.gguf"))).rejects.toThrow(/no such file.*absent\.gguf/);
  });
});
