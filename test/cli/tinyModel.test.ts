// `spogw-native tiny-model`, parsed as the CLI parses it: the file it writes and what it refuses.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tinyModelCommand } from "../../src/cli/commands/tinyModel.js";
import { GgufFile, metadataNumber, metadataString } from "../../src/gguf/index.js";
import { stdoutOf as run } from "../helpers/cli.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "spogw-cli-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("spogw-native tiny-model", () => {
  it("writes the model its flags describe", async () => {
    const out = join(dir, "cli.gguf");
    const printed = await run(tinyModelCommand, ["tiny-model", "--arch", "qwen2", "--out", out, "--layers", "3", "--embd", "32", "--heads", "4", "--kv-heads", "2", "--ff", "40", "--ctx", "96", "--dtype", "f16", "--tied", "--seed", "9"]);
    expect(printed).toContain(`wrote ${out}`);
    const file = GgufFile.open(out);
    try {
      const md = file.metadata;
      expect(metadataString(md, "general.architecture")).toBe("qwen2");
      expect([3, 32, 4, 2, 40, 96].map((v) => v)).toEqual(
        ["block_count", "embedding_length", "attention.head_count", "attention.head_count_kv", "feed_forward_length", "context_length"].map((k) => metadataNumber(md, `qwen2.${k}`)),
      );
      expect(file.header.tensors.some((t) => t.name === "output.weight")).toBe(false);
      expect(file.tensor("blk.2.attn_k.weight").dims).toEqual([32, 16]);
      expect(file.tensor("blk.2.attn_k.weight").type.name).toBe("F16");
    } finally {
      file.close();
    }
  });

  it("refuses impossible shapes and unknown architectures", async () => {
    await expect(run(tinyModelCommand, ["tiny-model", "--arch", "qwen2", "--out", join(dir, "x.gguf"), "--embd", "30"])).rejects.toThrow(/divisible by heads/);
    await expect(run(tinyModelCommand, ["tiny-model", "--arch", "gpt2", "--out", join(dir, "x.gguf")])).rejects.toThrow(/arch/);
  });
});
