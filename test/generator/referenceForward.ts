// A plain float64 forward pass of a llama/qwen2 GGUF for one token at position 0, written from the
// architecture's definition (not from llama.cpp): at position 0 attention sees only the token itself,
// so each query head's output is its key/value head's v vector, and RoPE and q/k play no part.
import { GgufFile, metadataNumber, metadataString } from "../../src/gguf/index.js";

function matVec(w: Float32Array, x: Float64Array, nOut: number, nIn: number): Float64Array {
  const y = new Float64Array(nOut);
  for (let o = 0; o < nOut; o++) {
    let sum = 0;
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

/** softmax(logits) after the single token `token` at position 0. */
export function firstPositionDistribution(path: string, token: number): Float64Array {
  const file = GgufFile.open(path);
  try {
    const md = file.metadata;
    const arch = metadataString(md, "general.architecture")!;
    const embd = metadataNumber(md, `${arch}.embedding_length`)!;
    const layers = metadataNumber(md, `${arch}.block_count`)!;
    const heads = metadataNumber(md, `${arch}.attention.head_count`)!;
    const kvHeads = metadataNumber(md, `${arch}.attention.head_count_kv`) ?? heads;
    const ff = metadataNumber(md, `${arch}.feed_forward_length`)!;
    const eps = metadataNumber(md, `${arch}.attention.layer_norm_rms_epsilon`)!;
    const headDim = embd / heads;
    const has = (name: string) => file.header.tensors.some((t) => t.name === name);
    const w = (name: string) => file.tensorFloat32(name);
    const embeddings = w("token_embd.weight");
    const vocab = embeddings.length / embd;

    let h = Float64Array.from(embeddings.subarray(token * embd, (token + 1) * embd));
    for (let n = 0; n < layers; n++) {
      const x = rmsNorm(h, w(`blk.${n}.attn_norm.weight`), eps);
      const v = matVec(w(`blk.${n}.attn_v.weight`), x, kvHeads * headDim, embd);
      if (has(`blk.${n}.attn_v.bias`)) w(`blk.${n}.attn_v.bias`).forEach((b, i) => (v[i] = v[i]! + b));
      const attention = new Float64Array(heads * headDim);
      const group = heads / kvHeads; // query heads h*group .. share key/value head h
      for (let q = 0; q < heads; q++) attention.set(v.subarray(Math.floor(q / group) * headDim, (Math.floor(q / group) + 1) * headDim), q * headDim);
      const projected = matVec(w(`blk.${n}.attn_output.weight`), attention, embd, heads * headDim);
      h = h.map((value, i) => value + projected[i]!);

      const y = rmsNorm(h, w(`blk.${n}.ffn_norm.weight`), eps);
      const gate = matVec(w(`blk.${n}.ffn_gate.weight`), y, ff, embd);
      const up = matVec(w(`blk.${n}.ffn_up.weight`), y, ff, embd);
      const act = gate.map((g, i) => (g / (1 + Math.exp(-g))) * up[i]!);
      const down = matVec(w(`blk.${n}.ffn_down.weight`), act, embd, ff);
      h = h.map((value, i) => value + down[i]!);
    }
    const out = rmsNorm(h, w("output_norm.weight"), eps);
    const logits = matVec(has("output.weight") ? w("output.weight") : embeddings, out, vocab, embd);
    const max = Math.max(...logits);
    const exp = logits.map((l) => Math.exp(l - max));
    const total = exp.reduce((s, v) => s + v, 0);
    return exp.map((e) => e / total);
  } finally {
    file.close();
  }
}
