import { describe, expect, it } from "vitest";
import {
  buildTinyModel,
  buildTinyVocab,
  byteToUnicode,
  encodeGguf,
  metadataNumber,
  metadataString,
  resolveTinyModelConfig,
  type TinyModelArch,
} from "../../src/gguf/index.js";

/** The tensor table documented in src/gguf/tinyModel.ts, written out again for one configuration. */
function documentedTensors(arch: TinyModelArch, o: { layers: number; embd: number; heads: number; kvHeads: number; ff: number; tied: boolean }) {
  const V = 275;
  const hd = o.embd / o.heads;
  const rows: Array<[string, number[]]> = [["token_embd.weight", [o.embd, V]], ["output_norm.weight", [o.embd]]];
  if (!o.tied) rows.push(["output.weight", [o.embd, V]]);
  for (let n = 0; n < o.layers; n++) {
    rows.push([`blk.${n}.attn_norm.weight`, [o.embd]]);
    rows.push([`blk.${n}.attn_q.weight`, [o.embd, o.heads * hd]]);
    rows.push([`blk.${n}.attn_k.weight`, [o.embd, o.kvHeads * hd]]);
    rows.push([`blk.${n}.attn_v.weight`, [o.embd, o.kvHeads * hd]]);
    if (arch === "qwen2") {
      rows.push([`blk.${n}.attn_q.bias`, [o.heads * hd]]);
      rows.push([`blk.${n}.attn_k.bias`, [o.kvHeads * hd]]);
      rows.push([`blk.${n}.attn_v.bias`, [o.kvHeads * hd]]);
    }
    rows.push([`blk.${n}.attn_output.weight`, [o.heads * hd, o.embd]]);
    rows.push([`blk.${n}.ffn_norm.weight`, [o.embd]]);
    rows.push([`blk.${n}.ffn_gate.weight`, [o.embd, o.ff]]);
    rows.push([`blk.${n}.ffn_up.weight`, [o.embd, o.ff]]);
    rows.push([`blk.${n}.ffn_down.weight`, [o.ff, o.embd]]);
  }
  return rows;
}

describe("tiny model", () => {
  it.each([
    ["llama", false, 4],
    ["llama", true, 1],
    ["qwen2", false, 2],
    ["qwen2", true, 4],
  ] as const)("%s tied=%s kvHeads=%d has exactly the documented tensors", (arch, tied, kvHeads) => {
    const shape = { layers: 3, embd: 32, heads: 4, kvHeads, ff: 48, tied };
    const model = buildTinyModel({ arch, ...shape });
    expect(model.tensors.map((t) => [t.name, t.dims])).toEqual(documentedTensors(arch, shape));
    expect(metadataNumber(model.metadata, `${arch}.attention.head_count_kv`)).toBe(kvHeads);
    expect(metadataNumber(model.metadata, `${arch}.rope.dimension_count`)).toBe(8);
  });

  it("f16 stores 2-D weights as F16 and keeps norms and biases F32", () => {
    const model = buildTinyModel({ arch: "qwen2", dtype: "f16" });
    for (const t of model.tensors) expect([t.name, t.type]).toEqual([t.name, t.dims.length === 2 ? "F16" : "F32"]);
    expect(metadataNumber(model.metadata, "general.file_type")).toBe(1);
  });

  it("is a function of the seed: same seed same bytes, another seed other weights", () => {
    const a = encodeGguf(buildTinyModel({ arch: "llama", seed: 7 }));
    const b = encodeGguf(buildTinyModel({ arch: "llama", seed: 7 }));
    const c = buildTinyModel({ arch: "llama", seed: 8 });
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    const first = buildTinyModel({ arch: "llama", seed: 7 }).tensors[0]!.data;
    expect(c.tensors[0]!.data).not.toEqual(first);
    // A tensor's values do not depend on how many layers follow it.
    expect(buildTinyModel({ arch: "llama", seed: 7, layers: 5 }).tensors[0]!.data).toEqual(first);
  });

  it("draws weights with the documented scales", () => {
    const model = buildTinyModel({ arch: "llama", embd: 128, heads: 4, ff: 256 });
    const std = (name: string) => {
      const data = model.tensors.find((t) => t.name === name)!.data;
      const mean = data.reduce((s, v) => s + v, 0) / data.length;
      return Math.sqrt(data.reduce((s, v) => s + (v - mean) ** 2, 0) / data.length);
    };
    expect(std("token_embd.weight")).toBeCloseTo(0.3, 1);
    expect(std("blk.0.attn_q.weight")).toBeCloseTo(1 / Math.sqrt(128), 2);
    expect(std("blk.0.ffn_down.weight")).toBeCloseTo(1 / Math.sqrt(256), 2);
  });

  it("has a GPT-2 byte-level BPE vocabulary with ChatML control tokens", () => {
    const model = buildTinyModel({ arch: "qwen2" });
    const vocab = buildTinyVocab();
    expect(vocab.tokens).toHaveLength(275);
    expect([byteToUnicode(32), byteToUnicode(10), byteToUnicode(65), byteToUnicode(0), byteToUnicode(255)]).toEqual(["Ġ", "Ċ", "A", "Ā", "ÿ"]);
    expect(new Set(vocab.tokens.slice(0, 256)).size).toBe(256);
    for (const merge of vocab.merges) expect(vocab.tokens).toContain(merge.replace(" ", ""));
    expect(vocab.tokens.slice(272)).toEqual(["<|endoftext|>", "<|im_start|>", "<|im_end|>"]);
    expect(metadataString(model.metadata, "tokenizer.ggml.model")).toBe("gpt2");
    expect(metadataNumber(model.metadata, "tokenizer.ggml.eos_token_id")).toBe(274);
    expect(metadataString(model.metadata, "tokenizer.chat_template")).toContain("<|im_start|>assistant");
  });

  it("refuses shapes llama.cpp cannot run, naming the option", () => {
    expect(() => resolveTinyModelConfig({ arch: "llama", embd: 30, heads: 4 })).toThrow(/embd \(30\) must be divisible by heads/);
    expect(() => resolveTinyModelConfig({ arch: "llama", heads: 4, kvHeads: 3 })).toThrow(/multiple of kvHeads/);
    expect(() => resolveTinyModelConfig({ arch: "llama", embd: 12, heads: 4 })).toThrow(/must be even/);
    expect(() => resolveTinyModelConfig({ arch: "llama", layers: 0 })).toThrow(/layers must be a positive/);
    expect(() => resolveTinyModelConfig({ arch: "gpt" as TinyModelArch })).toThrow(/arch must be llama or qwen2/);
    expect(() => resolveTinyModelConfig({ arch: "llama", embd: 65536, ff: 65536 })).toThrow(/limit for test models/);
    expect(() => resolveTinyModelConfig({ arch: "llama", embd: 48, heads: 4, dtype: "q4_0" })).toThrow(/q4_0 needs embd and ff to be multiples of 32/);
    expect(() => resolveTinyModelConfig({ arch: "llama", embd: 64, dtype: "q3_k" })).toThrow(/q3_k needs embd and ff to be multiples of 256/);
  });

  it("q4_k_m gives each tensor llama.cpp's Q4_K_M type: Q6_K for the output and for attn_v and ffn_down of use_more_bits' layers", () => {
    const types = (o: Parameters<typeof buildTinyModel>[0]) => new Map(buildTinyModel(o).tensors.map((t) => [t.name, t.type]));
    // 8 layers: use_more_bits picks i < 1, i >= 7 and (i - 1) % 3 == 2, i.e. layers 0, 3, 6, 7.
    const t = types({ arch: "llama", layers: 8, embd: 256, ff: 512, heads: 4, dtype: "q4_k_m" });
    expect(t.get("output.weight")).toBe("Q6_K");
    expect(t.get("token_embd.weight")).toBe("Q4_K");
    for (let l = 0; l < 8; l++) {
      const more = [0, 3, 6, 7].includes(l) ? "Q6_K" : "Q4_K";
      expect([t.get(`blk.${l}.attn_v.weight`), t.get(`blk.${l}.ffn_down.weight`)], `layer ${l}`).toEqual([more, more]);
      for (const p of ["attn_q", "attn_k", "attn_output", "ffn_gate", "ffn_up"]) expect(t.get(`blk.${l}.${p}.weight`)).toBe("Q4_K");
      expect(t.get(`blk.${l}.attn_norm.weight`)).toBe("F32");
    }
    expect(types({ arch: "qwen2", layers: 2, embd: 256, ff: 512, heads: 4, dtype: "q4_k_m", tied: true }).get("token_embd.weight")).toBe("Q6_K");
    // Rows that are not whole 256-value super-blocks fall back as llama-quant.cpp does: Q4_K -> Q5_0,
    // Q6_K -> Q8_0 (Qwen2.5-0.5B's width 896; its ffn_down rows of 4864 stay K-quants).
    const qwen = types({ arch: "qwen2", layers: 1, embd: 896, heads: 14, kvHeads: 2, ff: 4864, dtype: "q4_k_m", tied: true });
    expect([qwen.get("token_embd.weight"), qwen.get("blk.0.attn_q.weight"), qwen.get("blk.0.attn_v.weight"), qwen.get("blk.0.ffn_down.weight")]).toEqual(["Q8_0", "Q5_0", "Q8_0", "Q6_K"]);
    expect(types({ arch: "llama", layers: 1, embd: 96, ff: 512, heads: 4, dtype: "q5_k" }).get("blk.0.attn_q.weight")).toBe("Q5_1");
  });
});
