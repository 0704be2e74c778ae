// PEFT -> GGUF, the way `serve` loads a PEFT directory (vLLM's adapter format) into llama.cpp: the
// inverse of the PEFT export, exact (a permutation and a copy), and refusing what it cannot convert.
// (That the exported PEFT adapter means the same to Hugging Face as the GGUF one is peftExport.test.ts.)
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { makeRandomLoraAdapter, readGgufHeader, writeTinyModel, type LoraAdapter } from "../../src/gguf/index.js";
import { loraAdapterFromPeft, peftConfig, peftShapeOf, peftTensors, permuteRopeRows, unpermuteRopeRows } from "../../src/train/peft.js";

const work = mkdtempSync(join(tmpdir(), "spogw-peft-import-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function adapterFor(arch: "llama" | "qwen2"): Promise<{ adapter: LoraAdapter; header: ReturnType<typeof readGgufHeader> }> {
  const path = join(work, `${arch}.gguf`);
  await writeTinyModel(path, { arch, seed: 2, kvHeads: 2 });
  const header = readGgufHeader(path);
  return { adapter: makeRandomLoraAdapter(header, { rank: 4, alpha: 16, seed: 5 }), header };
}

describe("PEFT import", () => {
  it("permuteRopeRows undoes unpermuteRopeRows (and is not the identity)", () => {
    const rows = Float32Array.from({ length: 2 * 8 * 3 }, (_, i) => i);
    const hf = unpermuteRopeRows(rows, 3, 2, 8);
    expect(hf).not.toEqual(rows);
    expect(permuteRopeRows(hf, 3, 2, 8)).toEqual(rows);
  });

  for (const arch of ["llama", "qwen2"] as const) {
    it(`${arch}: export then import gives back every A and B bit for bit, with rank and alpha`, async () => {
      const { adapter, header } = await adapterFor(arch);
      const shape = peftShapeOf(header);
      const back = loraAdapterFromPeft(peftTensors(adapter, shape), peftConfig(adapter, "m"), shape, "test");
      expect([back.arch, back.rank, back.alpha]).toEqual([arch, 4, 16]);
      const byTarget = new Map(back.pairs.map((p) => [p.target, p]));
      expect(byTarget.size).toBe(adapter.pairs.length);
      for (const pair of adapter.pairs) {
        const imported = byTarget.get(pair.target)!;
        expect([imported.nIn, imported.nOut]).toEqual([pair.nIn, pair.nOut]);
        expect(Buffer.from(imported.a.buffer).equals(Buffer.from(pair.a.buffer))).toBe(true);
        expect(Buffer.from(imported.b.buffer).equals(Buffer.from(pair.b.buffer))).toBe(true);
      }
    });
  }

  it("refuses what PEFT would compute differently, and tensors that do not form LoRA pairs, naming the problem", async () => {
    const { adapter, header } = await adapterFor("qwen2");
    const shape = peftShapeOf(header);
    const tensors = peftTensors(adapter, shape);
    const config = peftConfig(adapter, "m");
    const refusal = (t: typeof tensors, c: Record<string, unknown>) => () => loraAdapterFromPeft(t, c, shape, "dir");
    expect(refusal(tensors, { ...config, use_rslora: true })).toThrow(/dir: cannot convert this PEFT adapter: use_rslora is true/);
    expect(refusal(tensors, { ...config, use_dora: true })).toThrow(/use_dora is true/);
    expect(refusal(tensors, { ...config, rank_pattern: { q_proj: 8 } })).toThrow(/rank_pattern is set/);
    expect(refusal(tensors, { ...config, bias: "all" })).toThrow(/bias is "all"/);
    expect(refusal(tensors, { ...config, peft_type: "IA3" })).toThrow(/peft_type is "IA3"/);
    expect(refusal(tensors, { ...config, r: 0 })).toThrow(/r must be a positive whole number/);
    expect(refusal(tensors, { ...config, r: 8 })).toThrow(/are not \[r, in\] and \[out, r\] with r = 8/);
    const [firstName] = tensors.keys();
    const oneMissing = new Map(tensors);
    oneMissing.delete(firstName!);
    expect(refusal(oneMissing, config)).toThrow(/has lora_B without lora_A/);
    const stranger = new Map(tensors).set("base_model.model.lm_head.lora_A.weight", { shape: [4, 64], data: new Float32Array(256) });
    expect(refusal(stranger, config)).toThrow(/tensor base_model\.model\.lm_head\.lora_A\.weight is not the lora_A\/lora_B weight/);
    expect(refusal(new Map(), config)).toThrow(/holds no LoRA tensors/);
  });
});
