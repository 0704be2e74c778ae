"""Independent float64 PyTorch reference for the native engine (llama/qwen2 decoder + LoRA + ioGRPO-mKL).

Usage: engine_reference.py INPUT.safetensors OUTPUT.safetensors

INPUT holds the LoRA A/B pairs ("lora.<base name>.a"/".b") and either the model weights (row-major
[n_out, n_in]) or, with config "gguf", the path of the GGUF model, which gguf_weights.py reads and
dequantizes itself; its __metadata__ holds a JSON "config" with the batch. OUTPUT receives "logits.<i>"
for each sequence, "grad.<base name>.a"/".b" for each LoRA pair and "loss". Written from the formulas
in DESIGN.md ("Training math") and the llama/qwen2 architectures, not from the engine's code: it shares
nothing with it but the file layout.

Like llama.cpp, the product with a stored weight sees its input rounded to the weight's "vec dot" type
(F16, BF16; Q8_0 blocks for Q8_0/Q4_0/Q4_1/Q5_0/Q5_1 weights, Q8_K super-blocks for the K-quants), and
the gradient passes that rounding straight through; LoRA factors see the input as is. For Q4_1/Q5_1
weights llama.cpp's Q8_1 blocks carry s = F16(d * sum(q)) with the unrounded d, and the block's min
multiplies that s rather than the sum of the rounded inputs; the reference adds the same difference.
"""
import json
import struct
import sys

import numpy as np
import torch

from gguf_weights import read_gguf

torch.set_default_dtype(torch.float64)


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        arr = np.frombuffer(data[8 + n + b : 8 + n + end], dtype=np.float32).reshape(e["shape"])
        tensors[name] = torch.tensor(arr.astype(np.float64))
    return tensors, meta


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        a = np.ascontiguousarray(t.detach().numpy().astype(np.float32))
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        blobs.append(a.tobytes())
        off += a.nbytes
    h = json.dumps(header).encode()
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def round_q8_0(x):
    """Q8_0 blocks of 32 along the last axis: d = max|x| / 127 rounded to F16, q = round(x * 127 / max|x|)."""
    b = x.reshape(*x.shape[:-1], -1, 32)
    amax = b.abs().amax(-1, keepdim=True)
    d = (amax / 127).to(torch.float16).to(torch.float64)
    q = torch.round(b * torch.where(amax > 0, 127 / amax, torch.zeros_like(amax)))
    return (q * d).reshape(x.shape)


def round_q8_k(x):
    """Q8_K super-blocks of 256: iscale = -127 / (the value of largest magnitude), q = round(iscale x) <= 127."""
    b = x.reshape(*x.shape[:-1], -1, 256)
    mx = b.gather(-1, b.abs().argmax(-1, keepdim=True))
    iscale = torch.where(mx != 0, -127 / mx, torch.zeros_like(mx))
    q = torch.clamp(torch.round(iscale * b), max=127)
    return torch.where(mx != 0, q / iscale, torch.zeros_like(b)).reshape(x.shape)


INPUT_ROUNDING = {
    "F16": lambda x: x.to(torch.float16).to(torch.float64),
    "BF16": lambda x: x.to(torch.bfloat16).to(torch.float64),
    **{t: round_q8_0 for t in ("Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1")},
    **{t: round_q8_k for t in ("Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K")},
}


def q8_1_sums(x):
    """Q8_1's s per 32-value block: F16((max|x| / 127) * sum(q)), d unrounded."""
    b = x.reshape(*x.shape[:-1], -1, 32)
    amax = b.abs().amax(-1, keepdim=True)
    q = torch.round(b * torch.where(amax > 0, 127 / amax, torch.zeros_like(amax)))
    return ((amax / 127) * q.sum(-1, keepdim=True)).to(torch.float16).to(torch.float64)[..., 0]


def rounded_input(x, weight_type):
    """x as the product with a weight of this type sees it; the gradient passes straight through."""
    fn = INPUT_ROUNDING.get(weight_type)
    return x if fn is None else x + (fn(x.detach()) - x.detach())


def rmsnorm(x, w, eps):
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * w


def rope(x, heads, hd, base, mode):
    # x: [T, heads*hd]. Angles p * base^(-2i/hd) for i < hd/2.
    T = x.shape[0]
    x = x.view(T, heads, hd)
    inv = base ** (-torch.arange(0, hd // 2, dtype=torch.float64) * 2.0 / hd)
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv[None, :]
    c, s = torch.cos(ang)[:, None, :], torch.sin(ang)[:, None, :]
    if mode == "norm":  # pairs (2i, 2i+1)
        x0, x1 = x[..., 0::2], x[..., 1::2]
        out = torch.stack([x0 * c - x1 * s, x0 * s + x1 * c], dim=-1).reshape(T, heads, hd)
    else:  # neox: pairs (i, i + hd/2)
        x0, x1 = x[..., : hd // 2], x[..., hd // 2 :]
        out = torch.cat([x0 * c - x1 * s, x0 * s + x1 * c], dim=-1)
    return out.reshape(T, heads * hd)


def forward(cfg, W, types, mins, lora, tokens):
    d, H, KV = cfg["d"], cfg["heads"], cfg["kvHeads"]
    hd = d // H
    s = cfg["alpha"] / cfg["rank"] if cfg["rank"] else 0.0
    # GGUF llama checkpoints rotate interleaved pairs; Hugging Face layouts (and qwen2) rotate halves.
    mode = cfg.get("ropeMode") or ("neox" if cfg["arch"] == "qwen2" else "norm")

    def lin(x, name, bias=None):
        xr = rounded_input(x, types.get(name))
        y = xr @ W[name].T
        if name in mins:  # Q4_1/Q5_1: min x s instead of min x sum(rounded inputs)
            sums = xr.detach().reshape(*xr.shape[:-1], -1, 32).sum(-1)
            y = y + (q8_1_sums(x.detach()) - sums) @ mins[name].T
        if bias is not None and bias in W:
            y = y + W[bias]
        if name in lora:
            a, b = lora[name]
            y = y + s * (x @ a.T) @ b.T
        return y

    T = len(tokens)
    x = W["token_embd.weight"][torch.tensor(tokens)]
    mask = torch.full((T, T), float("-inf")).triu(1)
    for l in range(cfg["layers"]):
        p = f"blk.{l}."
        n1 = rmsnorm(x, W[p + "attn_norm.weight"], cfg["eps"])
        q = rope(lin(n1, p + "attn_q.weight", p + "attn_q.bias"), H, hd, cfg["ropeBase"], mode)
        k = rope(lin(n1, p + "attn_k.weight", p + "attn_k.bias"), KV, hd, cfg["ropeBase"], mode)
        v = lin(n1, p + "attn_v.weight", p + "attn_v.bias")
        heads = []
        for h in range(H):
            g = h // (H // KV)
            qh, kg, vg = q[:, h * hd : (h + 1) * hd], k[:, g * hd : (g + 1) * hd], v[:, g * hd : (g + 1) * hd]
            att = torch.softmax(qh @ kg.T / np.sqrt(hd) + mask, dim=-1)
            heads.append(att @ vg)
        x = x + lin(torch.cat(heads, dim=-1), p + "attn_output.weight")
        n2 = rmsnorm(x, W[p + "ffn_norm.weight"], cfg["eps"])
        gate, up = lin(n2, p + "ffn_gate.weight"), lin(n2, p + "ffn_up.weight")
        x = x + lin(torch.nn.functional.silu(gate) * up, p + "ffn_down.weight")
    hn = rmsnorm(x, W["output_norm.weight"], cfg["eps"])
    return lin(hn, "output.weight" if "output.weight" in W else "token_embd.weight")


def main():
    inp, out = sys.argv[1], sys.argv[2]
    T_in, meta = read_safetensors(inp)
    cfg = json.loads(meta["config"])
    W = {k: v for k, v in T_in.items() if not k.startswith(("lora.", "batch."))}
    types, mins = {}, {}
    if "gguf" in cfg:
        for name, (values, type_name, block_mins) in read_gguf(cfg["gguf"]).items():
            W[name] = torch.tensor(values)
            types[name] = type_name
            if block_mins is not None:
                mins[name] = torch.tensor(block_mins)
    lora = {}
    for k in T_in:
        if k.startswith("lora.") and k.endswith(".a"):
            base = k[len("lora.") : -len(".a")]
            a = T_in[k].clone().requires_grad_(True)
            b = T_in[f"lora.{base}.b"].clone().requires_grad_(True)
            lora[base] = (a, b)
    results = {}
    total = torch.zeros(())
    for i, seq in enumerate(cfg["batch"]):
        tokens, start = seq["tokens"], seq["responseStart"]
        logits = forward(cfg, W, types, mins, lora, tokens)
        results[f"logits.{i}"] = logits
        logp_all = torch.log_softmax(logits / cfg["temperature"], dim=-1)
        tgt = torch.tensor(tokens[start:])
        logp = logp_all[start - 1 : len(tokens) - 1].gather(1, tgt[:, None])[:, 0]
        old = torch.tensor(seq["oldLogp"], dtype=torch.float64)
        ref = torch.tensor(seq["refLogp"], dtype=torch.float64)
        A = seq["advantage"]
        r = torch.exp(torch.clamp(logp - old, -20, 20))
        clipped = torch.clamp(r, 1 - cfg["epsilon"], 1 + cfg["epsilonHigh"])
        surr = torch.minimum(r * A, clipped * A)
        kl = torch.exp(torch.clamp(ref - logp, -20, 20)) - (ref - logp) - 1
        m = 1.0 if (cfg["klMask"] == "all" or A > 0) else 0.0
        total = total - seq["weight"] * (surr - cfg["beta"] * m * kl).sum()
    total.backward()
    results["loss"] = total.detach().reshape(1)
    for base, (a, b) in lora.items():
        results[f"grad.{base}.a"] = a.grad
        results[f"grad.{base}.b"] = b.grad
    write_safetensors(out, results)


if __name__ == "__main__":
    main()
