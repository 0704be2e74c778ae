import { describe, expect, it } from "vitest";
import {
  buildLoraAdapterGguf,
  buildTinyModel,
  encodeGguf,
  GgufFile,
  loraAdapterFromGguf,
  makeRandomLoraAdapter,
  metadataNumber,
  metadataString,
  parseGguf,
} from "../../src/gguf/index.js";

const header = parseGguf(encodeGguf(buildTinyModel({ arch: "llama", kvHeads: 2, layers: 2 })));

describe("LoRA adapter GGUF", () => {
  it("stores A as [nIn, rank] and B as [rank, nOut] (ggml order) with llama.cpp's metadata", () => {
    const adapter = makeRandomLoraAdapter(header, { rank: 3, alpha: 6, targets: ["attn_k", "ffn_down"] });
    const file = parseGguf(encodeGguf(buildLoraAdapterGguf(adapter)));
    expect(file.tensors.map((t) => [t.name, t.dims])).toEqual([
      ["blk.0.attn_k.weight.lora_a", [64, 3]],
      ["blk.0.attn_k.weight.lora_b", [3, 32]],
      ["blk.0.ffn_down.weight.lora_a", [128, 3]],
      ["blk.0.ffn_down.weight.lora_b", [3, 64]],
      ["blk.1.attn_k.weight.lora_a", [64, 3]],
      ["blk.1.attn_k.weight.lora_b", [3, 32]],
      ["blk.1.ffn_down.weight.lora_a", [128, 3]],
      ["blk.1.ffn_down.weight.lora_b", [3, 64]],
    ]);
    expect(metadataString(file.metadata, "general.type")).toBe("adapter");
    expect(metadataString(file.metadata, "adapter.type")).toBe("lora");
    expect(metadataString(file.metadata, "general.architecture")).toBe("llama");
    expect(metadataNumber(file.metadata, "adapter.lora.alpha")).toBe(6);
  });

  it("reads back the A and B it wrote", () => {
    const adapter = makeRandomLoraAdapter(header, { rank: 2, alpha: 4, seed: 9 });
    const back = loraAdapterFromGguf(GgufFile.fromBytes(encodeGguf(buildLoraAdapterGguf(adapter))));
    expect(back).toEqual(adapter);
    expect(adapter.pairs).toHaveLength(2 * 7); // 7 default targets in 2 layers
  });

  it("zero-B adapters have B = 0 and a random A", () => {
    const adapter = makeRandomLoraAdapter(header, { rank: 2, alpha: 4, zeroB: true });
    for (const pair of adapter.pairs) {
      expect(pair.b.every((v) => v === 0)).toBe(true);
      expect(pair.a.some((v) => v !== 0)).toBe(true);
    }
  });

  it("refuses pairs whose sizes do not match the rank, and token_embd", () => {
    const pair = { target: "blk.0.attn_q.weight", nIn: 4, nOut: 4, a: new Float32Array(8), b: new Float32Array(8) };
    expect(() => buildLoraAdapterGguf({ arch: "llama", rank: 2, alpha: 1, pairs: [{ ...pair, a: new Float32Array(7) }] })).toThrow(/A has 7 values, expected rank\*nIn = 8/);
    expect(() => buildLoraAdapterGguf({ arch: "llama", rank: 2, alpha: 1, pairs: [{ ...pair, b: new Float32Array(6) }] })).toThrow(/B has 6 values/);
    expect(() => buildLoraAdapterGguf({ arch: "llama", rank: 2, alpha: 1, pairs: [{ ...pair, target: "token_embd.weight" }] })).toThrow(/token_embd/);
    expect(() => buildLoraAdapterGguf({ arch: "llama", rank: 0, alpha: 1, pairs: [] })).toThrow(/rank must be a positive/);
  });
});
