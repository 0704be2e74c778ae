// A PEFT export is what a Hugging Face user loads: module names, shapes and adapter_config.json, and,
// for llama, q/k rows in Hugging Face's rotary layout. Checked end to end: an HF-layout model (q/k
// weights un-permuted, half-split RoPE) with the exported PEFT adapter, run by the independent PyTorch
// reference, gives the same logits as the engine on the GGUF model with its adapter.
import { readFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { writeTinyModel } from "../../src/gguf/index.js";
import { Engine, readSafetensors } from "../../src/train/index.js";
import { unpermuteRopeRows } from "../../src/train/peft.js";
import { FLOAT_BASE_TOLERANCE, readModelTensors, relativeError, runTorchReference } from "../helpers/torchReference.js";

const work = mkdtempSync(join(tmpdir(), "spogw-peft-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const HF_TO_GGUF: Record<string, string> = {
  "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
  "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down",
};

describe("PEFT export", () => {
  it("writes adapter_config.json and HF-named tensors that reproduce the engine's logits on an HF-layout llama", async () => {
    const modelPath = join(work, "llama.gguf");
    const cfg = await writeTinyModel(modelPath, { arch: "llama", seed: 8, kvHeads: 2, layers: 2 });
    const engine = await Engine.load(modelPath);
    try {
      engine.initLora({ rank: 4, alpha: 8, init: "random", seed: 9 });
      const tokens = [1, 70, 71, 72, 140, 141, 142, 143, 30];
      const logits = await engine.logits(Int32Array.from(tokens));
      const dir = join(work, "peft");
      await engine.saveLora(dir, { format: "peft" });

      const config = JSON.parse(readFileSync(join(dir, "adapter_config.json"), "utf8")) as Record<string, unknown>;
      expect(config).toMatchObject({ peft_type: "LORA", r: 4, lora_alpha: 8, task_type: "CAUSAL_LM", bias: "none" });
      expect(config.target_modules).toEqual(["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]);
      const { tensors } = readSafetensors(join(dir, "adapter_model.safetensors"));
      expect(tensors.size).toBe(cfg.layers * 7 * 2);

      // Rebuild the adapter in GGUF naming from the PEFT file, and the model in HF layout.
      const hd = cfg.embd / cfg.heads;
      const pairs = new Map<string, { a?: Float32Array; b?: Float32Array; nIn: number; nOut: number }>();
      for (const [name, t] of tensors) {
        const m = /^base_model\.model\.model\.layers\.(\d+)\.(\w+\.\w+)\.lora_([AB])\.weight$/.exec(name);
        expect(m, name).not.toBeNull();
        const target = `blk.${m![1]}.${HF_TO_GGUF[m![2]!]}.weight`;
        const pair = pairs.get(target) ?? { nIn: 0, nOut: 0 };
        if (m![3] === "A") Object.assign(pair, { a: t.data, nIn: t.shape[1]! });
        else Object.assign(pair, { b: t.data, nOut: t.shape[0]! });
        pairs.set(target, pair);
      }
      const adapter = { arch: "llama", rank: 4, alpha: 8, pairs: [...pairs].map(([target, p]) => ({ target, nIn: p.nIn, nOut: p.nOut, a: p.a!, b: p.b! })) };
      const hfModel = readModelTensors(modelPath);
      for (const [name, t] of hfModel) {
        const proj = /^blk\.\d+\.(attn_q|attn_k)\.weight$/.exec(name)?.[1];
        if (proj) hfModel.set(name, { shape: t.shape, data: unpermuteRopeRows(t.data, cfg.embd, proj === "attn_q" ? cfg.heads : cfg.kvHeads, hd) });
      }
      const ref = runTorchReference(hfModel, adapter, {
        arch: "llama", d: cfg.embd, heads: cfg.heads, kvHeads: cfg.kvHeads, layers: cfg.layers, eps: 1e-5, ropeBase: 10_000,
        epsilon: 0.2, epsilonHigh: 0.2, beta: 0, temperature: 1, klMask: "advantage", ropeMode: "neox",
      }, [{ tokens, responseStart: 1, advantage: 0, weight: 0, oldLogp: new Array(tokens.length - 1).fill(0), refLogp: new Array(tokens.length - 1).fill(0) }]);
      expect(relativeError(logits, ref.get("logits.0")!.data)).toBeLessThan(FLOAT_BASE_TOLERANCE.logits);
    } finally {
      engine.dispose();
    }
  });
});
