// `spogw-native inspect`, parsed as the CLI parses it, on a model written by `tiny-model`, a LoRA
// adapter and a malformed file.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inspectCommand } from "../../src/cli/commands/inspect.js";
import { tinyModelCommand } from "../../src/cli/commands/tinyModel.js";
import { GgufFile, makeRandomLoraAdapter, writeLoraAdapter } from "../../src/gguf/index.js";
import { stdoutOf as run } from "../helpers/cli.js";
import { assemble, baseSpec } from "../helpers/ggufBytes.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "spogw-cli-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("spogw-native inspect", () => {
  it("prints the metadata and the tensor table", async () => {
    const path = join(dir, "inspect.gguf");
    await run(tinyModelCommand, ["tiny-model", "--arch", "llama", "--out", path, "--kv-heads", "2"]);
    const printed = await run(inspectCommand, ["inspect", path]);
    expect(printed).toContain("GGUF v3");
    expect(printed).toMatch(/general\.architecture\s+string\s+"llama"/);
    expect(printed).toMatch(/tokenizer\.ggml\.tokens\s+string\[275\]/);
    expect(printed).toMatch(/llama\.attention\.layer_norm_rms_epsilon\s+float32\s+0\.00001\n/);
    expect(printed).toMatch(/blk\.1\.attn_v\.weight\s+F32\s+\[64, 32\]/);
    expect(printed).toMatch(/tensors \(21, \d+ parameters; 21 F32\)/);
  });

  it("shows each tensor's type in a quantized model (Q4_K_M's mix of Q4_K and Q6_K)", async () => {
    const path = join(dir, "q4_k_m.gguf");
    await run(tinyModelCommand, ["tiny-model", "--arch", "qwen2", "--out", path, "--embd", "256", "--ff", "512", "--dtype", "q4_k_m", "--tied"]);
    const printed = await run(inspectCommand, ["inspect", path]);
    expect(printed).toMatch(/general\.file_type\s+uint32\s+15\n/); // LLAMA_FTYPE_MOSTLY_Q4_K_M
    expect(printed).toMatch(/token_embd\.weight\s+Q6_K\s+\[256, 275\]/); // tied: the output's type
    expect(printed).toMatch(/blk\.0\.attn_v\.weight\s+Q4_K\s/);
    expect(printed).toMatch(/blk\.1\.attn_v\.weight\s+Q6_K\s/);
    expect(printed).toMatch(/blk\.1\.ffn_down\.weight\s+Q6_K\s/);
    expect(printed).toMatch(/blk\.1\.attn_q\.bias\s+F32\s/);
    expect(printed).toMatch(/tensors \(\d+, \d+ parameters; (?=.*\b12 Q4_K\b)(?=.*\b3 Q6_K\b).*\)/);
  });

  it("shows a LoRA adapter's metadata and A/B tensors", async () => {
    const model = GgufFile.open(join(dir, "inspect.gguf"));
    const adapterPath = join(dir, "adapter.gguf");
    try {
      await writeLoraAdapter(adapterPath, makeRandomLoraAdapter(model.header, { rank: 2, alpha: 4, targets: ["attn_q"] }));
    } finally {
      model.close();
    }
    const printed = await run(inspectCommand, ["inspect", adapterPath]);
    expect(printed).toMatch(/adapter\.lora\.alpha\s+float32\s+4\n/);
    expect(printed).toMatch(/blk\.0\.attn_q\.weight\.lora_a\s+F32\s+\[64, 2\]/);
    expect(printed).toMatch(/blk\.1\.attn_q\.weight\.lora_b\s+F32\s+\[2, 64\]/);
  });

  it("prints JSON that matches the file", async () => {
    const path = join(dir, "inspect.gguf");
    const json = JSON.parse(await run(inspectCommand, ["inspect", path, "--json"])) as { metadata: Record<string, { value?: unknown; items?: unknown[] }>; tensors: Array<{ name: string; dims: number[]; offset: number }> };
    const file = GgufFile.open(path);
    try {
      expect(json.tensors.map((t) => [t.name, t.dims, t.offset])).toEqual(file.header.tensors.map((t) => [t.name, t.dims, t.absoluteOffset]));
      expect(json.metadata["tokenizer.ggml.merges"]?.items).toHaveLength(16);
      expect(json.metadata["llama.block_count"]?.value).toBe(2);
    } finally {
      file.close();
    }
  });

  it("names the field and offset of a malformed file", async () => {
    const bytes = assemble(baseSpec()).bytes();
    bytes[0] = 0x58;
    const path = join(dir, "bad.gguf");
    await writeFile(path, bytes);
    await expect(run(inspectCommand, ["inspect", path])).rejects.toThrow(/header\.magic at byte 0/);
  });
});
