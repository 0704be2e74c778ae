"""PyTorch peer for `spogw-native bench engine`: a Qwen2-shaped decoder (RMSNorm, RoPE, GQA attention
with q/k/v biases, SwiGLU, tied output) in float32 on the CPU, frozen base weights and LoRA (rank r,
alpha 2r) on all seven projections, timed for forward+backward of a per-token log-prob loss, and for
forward only. Weights are random: only shapes, threads and LoRA matter for the timing.

Usage: torch_engine_peer.py --layers L --tokens T --hidden d --heads H --kv-heads KV --ff F --vocab V
                            --rank r --threads N --runs K    (prints one JSON line)
"""
import argparse
import json
import math
import time

import torch

p = argparse.ArgumentParser()
for name in ["layers", "tokens", "hidden", "heads", "kv-heads", "ff", "vocab", "rank", "threads", "runs"]:
    p.add_argument(f"--{name}", type=int, required=True)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
d, H, KV, F, V, r = a.hidden, a.heads, a.kv_heads, a.ff, a.vocab, a.rank
hd = d // H


class LoraLinear(torch.nn.Module):
    def __init__(self, n_in, n_out, bias=False):
        super().__init__()
        self.w = torch.nn.Parameter(torch.randn(n_out, n_in) / math.sqrt(n_in), requires_grad=False)
        self.b = torch.nn.Parameter(torch.randn(n_out) * 0.1, requires_grad=False) if bias else None
        self.lora_a = torch.nn.Parameter(torch.randn(r, n_in) / math.sqrt(n_in))
        self.lora_b = torch.nn.Parameter(torch.randn(n_out, r) * 0.01)

    def forward(self, x):
        y = torch.nn.functional.linear(x, self.w, self.b)
        return y + 2.0 * (x @ self.lora_a.T) @ self.lora_b.T


def rms(x, w):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * w


def rope(x, cos, sin):  # x [T, h, hd], neox pairs
    x0, x1 = x[..., : hd // 2], x[..., hd // 2 :]
    return torch.cat([x0 * cos - x1 * sin, x0 * sin + x1 * cos], dim=-1)


class Layer(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.n1 = torch.nn.Parameter(torch.ones(d), requires_grad=False)
        self.n2 = torch.nn.Parameter(torch.ones(d), requires_grad=False)
        self.q, self.k, self.v = LoraLinear(d, H * hd, True), LoraLinear(d, KV * hd, True), LoraLinear(d, KV * hd, True)
        self.o = LoraLinear(H * hd, d)
        self.gate, self.up, self.down = LoraLinear(d, F), LoraLinear(d, F), LoraLinear(F, d)

    def forward(self, x, cos, sin, mask):
        T = x.shape[0]
        h = rms(x, self.n1)
        q = rope(self.q(h).view(T, H, hd), cos, sin).transpose(0, 1)
        k = rope(self.k(h).view(T, KV, hd), cos, sin).transpose(0, 1).repeat_interleave(H // KV, 0)
        v = self.v(h).view(T, KV, hd).transpose(0, 1).repeat_interleave(H // KV, 0)
        att = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(hd) + mask, dim=-1) @ v
        x = x + self.o(att.transpose(0, 1).reshape(T, H * hd))
        h = rms(x, self.n2)
        return x + self.down(torch.nn.functional.silu(self.gate(h)) * self.up(h))


embed = torch.randn(V, d) * 0.3
layers = torch.nn.ModuleList([Layer() for _ in range(a.layers)])
norm = torch.ones(d)
T = a.tokens
tokens = torch.randint(0, V, (T,))
inv = 1e6 ** (-torch.arange(0, hd // 2).float() * 2 / hd)
ang = torch.arange(T).float()[:, None] * inv[None, :]
cos, sin = torch.cos(ang)[:, None, :], torch.sin(ang)[:, None, :]
mask = torch.full((T, T), float("-inf")).triu(1)


def step(backward):
    x = embed[tokens]
    for layer in layers:
        x = layer(x, cos, sin, mask)
    logits = rms(x, norm) @ embed.T  # the full [T, V] logits, as a plain implementation does
    logp = torch.log_softmax(logits[:-1], dim=-1).gather(1, tokens[1:, None]).sum()
    if backward:
        (-logp).backward()
        for prm in layers.parameters():
            prm.grad = None


def timed(backward):
    step(backward)  # warm-up
    times = []
    for _ in range(a.runs):
        t0 = time.perf_counter()
        if backward:
            step(True)
        else:
            with torch.no_grad():
                step(False)
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "fwd_bwd_s": timed(True), "fwd_s": timed(False)}
print(json.dumps(out))
