// PEFT adapter layout (adapter_model.safetensors + adapter_config.json) for Hugging Face, vLLM and
// PEFT users. GGUF projection names map to HF module names; for the llama architecture the GGUF
// converter permutes the rows of q/k weights (interleaved rotary pairs), so LoRA B rows of attn_q and
// attn_k are permuted back to HF's half-split order here. qwen2 GGUFs keep HF's order.
import type { LoraAdapter } from "../gguf/index.js";

const HF_MODULES: Record<string, string> = {
  attn_q: "self_attn.q_proj",
  attn_k: "self_attn.k_proj",
  attn_v: "self_attn.v_proj",
  attn_output: "self_attn.o_proj",
  ffn_gate: "mlp.gate_proj",
  ffn_up: "mlp.up_proj",
  ffn_down: "mlp.down_proj",
};

export interface PeftModelShape {
  arch: string;
  heads: number;
  kvHeads: number;
  headDim: number;
}

/**
 * GGUF row order -> HF row order for a llama q/k projection with `heads` heads of size hd: GGUF row
 * h*hd + 2j + s holds HF row h*hd + s*hd/2 + j (s in {0, 1}, j < hd/2).
 */
export function unpermuteRopeRows(b: Float32Array, rank: number, heads: number, hd: number): Float32Array {
  const out = new Float32Array(b.length);
  for (let h = 0; h < heads; h++) {
    for (let j = 0; j < hd / 2; j++) {
      for (let s = 0; s < 2; s++) {
        const from = h * hd + 2 * j + s;
        const to = h * hd + s * (hd / 2) + j;
        out.set(b.subarray(from * rank, (from + 1) * rank), to * rank);
      }
    }
  }
  return out;
}

export function peftTensors(adapter: LoraAdapter, shape: PeftModelShape): Map<string, { shape: number[]; data: Float32Array }> {
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const pair of adapter.pairs) {
    const m = /^blk\.(\d+)\.(\w+)\.weight$/.exec(pair.target);
    const module = m ? HF_MODULES[m[2]!] : undefined;
    if (!m || !module) throw new Error(`LoRA target ${pair.target} has no Hugging Face module name`);
    const prefix = `base_model.model.model.layers.${m[1]}.${module}`;
    let b = pair.b;
    if (shape.arch === "llama" && (m[2] === "attn_q" || m[2] === "attn_k")) {
      b = unpermuteRopeRows(b, adapter.rank, m[2] === "attn_q" ? shape.heads : shape.kvHeads, shape.headDim);
    }
    tensors.set(`${prefix}.lora_A.weight`, { shape: [adapter.rank, pair.nIn], data: pair.a });
    tensors.set(`${prefix}.lora_B.weight`, { shape: [pair.nOut, adapter.rank], data: b });
  }
  return tensors;
}

export function peftConfig(adapter: LoraAdapter, baseModel: string): Record<string, unknown> {
  const modules = new Set<string>();
  for (const pair of adapter.pairs) {
    const proj = /^blk\.\d+\.(\w+)\.weight$/.exec(pair.target)?.[1];
    const hf = proj ? HF_MODULES[proj] : undefined;
    if (hf) modules.add(hf.split(".")[1]!);
  }
  return {
    peft_type: "LORA",
    task_type: "CAUSAL_LM",
    base_model_name_or_path: baseModel,
    r: adapter.rank,
    lora_alpha: adapter.alpha,
    lora_dropout: 0,
    bias: "none",
    fan_in_fan_out: false,
    inference_mode: true,
    target_modules: [...modules].sort(),
  };
}
