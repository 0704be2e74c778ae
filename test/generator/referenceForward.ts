// A plain float64 causal forward pass of a llama/qwen2 GGUF, written from the architectures'
// definitions rather than from llama.cpp: RMSNorm, RoPE (llama rotates adjacent pairs (2i, 2i+1),
// qwen2 rotates (i, i + headDim/2), as llama.cpp's ROPE_TYPE_NORM and ROPE_TYPE_NEOX do), grouped-query
// attention (query head h reads key/value head floor(h / (heads / kvHeads))), SwiGLU MLP, and
// output.weight or, when absent, token_embd as the output matrix.
import { GgufFile, metadataNumber, metadataString } from "../../src/gguf/index.js";

function matVec(w: Float32Array, x: Float64Array, nOut: number, nIn: number, bias?: Float32Array): Float64Array {
  const y = new Float64Array(nOut);
  for (let o = 0; o < nOut; o++) {
    let sum = bias ? bias[o]! : 0;
    for (let i = 0; i < nIn; i++) sum += w[o * nIn + i]! * x[i]!;
    y[o] = sum;
  }
  return y;
}

function rmsNorm(x: Float64Array, weight: Float32Array, eps: number): Float64Array {
  const meanSquare = x.reduce((s, v) => s + v * v, 0) / x.length;
  const scale = 1 / Math.sqrt(meanSquare + eps);
  return x.map((v, i) => v * scale * weight[i]!);
}

/** Rotates each head of `x` in place for position `pos`. */
function rope(x: Float64Array, heads: number, headDim: number, pos: number, base: number, neox: boolean): void {
  const half = headDim / 2;
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      const angle = pos * base ** (-(2 * i) / headDim);
      const [a, b] = neox ? [h * headDim + i, h * headDim + i + half] : [h * headDim + 2 * i, h * headDim + 2 * i + 1];
      const x0 = x[a]!;
      const x1 = x[b]!;
      x[a] = x0 * Math.cos(angle) - x1 * Math.sin(angle);
      x[b] = x0 * Math.sin(angle) + x1 * Math.cos(angle);
    }
  }
}

function softmax(logits: Float64Array): Float64Array {
  const max = Math.max(...logits);
  const exp = logits.map((l) => Math.exp(l - max));
  const total = exp.reduce((s, v) => s + v, 0);
  return exp.map((e) => e / total);
}

/** Entry p: softmax of the logits after tokens[0..p]; `rmsEps` replaces the file's RMSNorm epsilon. */
export function referenceDistributions(path: string, tokens: number[], overrides: { rmsEps?: number } = {}): Float64Array[] {
  const file = GgufFile.open(path);
  try {
    const md = file.metadata;
    const arch = metadataString(md, "general.architecture")!;
    const num = (key: string) => metadataNumber(md, `${arch}.${key}`)!;
    const [embd, layers, heads, ff, fileEps, base] = ["embedding_length", "block_count", "attention.head_count", "feed_forward_length",
      "attention.layer_norm_rms_epsilon", "rope.freq_base"].map(num) as [number, number, number, number, number, number];
    const eps = overrides.rmsEps ?? fileEps;
    const kvHeads = metadataNumber(md, `${arch}.attention.head_count_kv`) ?? heads;
    const headDim = embd / heads;
    const group = heads / kvHeads;
    const has = (name: string) => file.header.tensors.some((t) => t.name === name);
    const w = (name: string) => file.tensorFloat32(name);
    const bias = (name: string) => (has(name) ? w(name) : undefined);
    const embeddings = w("token_embd.weight");
    const vocab = embeddings.length / embd;

    let hidden = tokens.map((t) => Float64Array.from(embeddings.subarray(t * embd, (t + 1) * embd)));
    for (let n = 0; n < layers; n++) {
      const blk = (name: string) => `blk.${n}.${name}`;
      const keys: Float64Array[] = [];
      const values: Float64Array[] = [];
      hidden = hidden.map((h, pos) => {
        const x = rmsNorm(h, w(blk("attn_norm.weight")), eps);
        const q = matVec(w(blk("attn_q.weight")), x, heads * headDim, embd, bias(blk("attn_q.bias")));
        const k = matVec(w(blk("attn_k.weight")), x, kvHeads * headDim, embd, bias(blk("attn_k.bias")));
        values.push(matVec(w(blk("attn_v.weight")), x, kvHeads * headDim, embd, bias(blk("attn_v.bias"))));
        rope(q, heads, headDim, pos, base, arch === "qwen2");
        rope(k, kvHeads, headDim, pos, base, arch === "qwen2");
        keys.push(k);
        const attention = new Float64Array(heads * headDim);
        for (let head = 0; head < heads; head++) {
          const kv = Math.floor(head / group) * headDim;
          const scores = new Float64Array(pos + 1).map((_, s) => {
            let dot = 0;
            for (let d = 0; d < headDim; d++) dot += q[head * headDim + d]! * keys[s]![kv + d]!;
            return dot / Math.sqrt(headDim);
          });
          softmax(scores).forEach((weight, s) => {
            for (let d = 0; d < headDim; d++) attention[head * headDim + d]! += weight * values[s]![kv + d]!;
          });
        }
        const afterAttention = matVec(w(blk("attn_output.weight")), attention, embd, heads * headDim).map((v, i) => v + h[i]!);
        const y = rmsNorm(afterAttention, w(blk("ffn_norm.weight")), eps);
        const gate = matVec(w(blk("ffn_gate.weight")), y, ff, embd);
        const up = matVec(w(blk("ffn_up.weight")), y, ff, embd);
        const act = gate.map((g, i) => (g / (1 + Math.exp(-g))) * up[i]!);
        return matVec(w(blk("ffn_down.weight")), act, embd, ff).map((v, i) => v + afterAttention[i]!);
      });
    }
    const output = has("output.weight") ? w("output.weight") : embeddings;
    return hidden.map((h) => softmax(matVec(output, rmsNorm(h, w("output_norm.weight"), eps), vocab, embd)));
  } finally {
    file.close();
  }
}
