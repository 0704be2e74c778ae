#!/usr/bin/env python3
"""The PyTorch side of scripts/gpu-check.sh's timings, printed as key=value lines beside bench_gpu's.

  engine: a Qwen2ForCausalLM from a Qwen2Config of the given widths (Qwen2.5-7B's by default) with random
          BF16 weights (no download), sdpa attention, PEFT LoRA r8 alpha 16 on the seven projections;
          forward + backward of a per-token log-prob loss over T tokens, timed with CUDA events after a
          warm-up; peak memory from torch.cuda.max_memory_allocated.
  loss:   the unfused path: log_softmax(hidden @ lm_head.T / temperature) gathered at the targets, a
          GRPO-style weighted sum, backward into hidden; time and peak memory beyond its inputs.

--check only imports what the run needs and prints what is missing (the dry run on a CPU machine).
"""
import argparse
import sys


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--layers", type=int, default=28)
    p.add_argument("--tokens", type=int, default=2048)
    p.add_argument("--hidden", type=int, default=3584)
    p.add_argument("--heads", type=int, default=28)
    p.add_argument("--kv-heads", type=int, default=4)
    p.add_argument("--ff", type=int, default=18944)
    p.add_argument("--vocab", type=int, default=152064)
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--check", action="store_true")
    a = p.parse_args()

    missing = []
    for mod in ("torch", "transformers", "peft"):
        try:
            __import__(mod)
        except Exception as e:  # noqa: BLE001 - report any import failure by name
            missing.append(f"{mod} ({type(e).__name__}: {e})")
    if missing:
        print("torch_peer_missing=" + "; ".join(missing))
        return 2 if not a.check else 0
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import Qwen2Config, Qwen2ForCausalLM

    if a.check:
        print(f"torch_peer_ready=torch {torch.__version__}, cuda available: {torch.cuda.is_available()}")
        return 0
    if not torch.cuda.is_available():
        print("torch_peer_missing=no CUDA device for PyTorch")
        return 2

    dev = torch.device("cuda")
    torch.manual_seed(0)

    def median_ms(fn):
        fn()
        torch.cuda.synchronize()
        times = []
        for _ in range(a.runs):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(end))
        times.sort()
        return times[len(times) // 2]

    # ---- engine: forward + backward into LoRA
    cfg = Qwen2Config(
        vocab_size=a.vocab, hidden_size=a.hidden, intermediate_size=a.ff, num_hidden_layers=a.layers,
        num_attention_heads=a.heads, num_key_value_heads=a.kv_heads, max_position_embeddings=max(32768, a.tokens),
        tie_word_embeddings=False, attn_implementation="sdpa", torch_dtype=torch.bfloat16,
    )
    # Built in BF16 directly on the device (a float32 model first would take 30 GB at 7B).
    torch.set_default_dtype(torch.bfloat16)
    with torch.device(dev):
        model = Qwen2ForCausalLM(cfg)
    torch.set_default_dtype(torch.float32)
    lora = LoraConfig(r=a.rank, lora_alpha=2 * a.rank, lora_dropout=0.0,
                      target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    model = get_peft_model(model, lora)
    model.train()
    ids = (torch.arange(a.tokens, device=dev) * 7919 % a.vocab).unsqueeze(0)

    def step():
        logits = model(input_ids=ids).logits[0, :-1].float()
        logp = torch.log_softmax(logits, dim=-1).gather(1, ids[0, 1:].unsqueeze(1)).squeeze(1)
        (-logp.mean()).backward()
        model.zero_grad(set_to_none=True)

    torch.cuda.reset_peak_memory_stats()
    ms = median_ms(step)
    print(f"torch_device={torch.cuda.get_device_name(0)}")
    print(f"torch_engine_fwd_bwd_s={ms / 1000:.4f}")
    print(f"torch_engine_fwd_bwd_tokens_per_s={a.tokens / (ms / 1000):.1f}")
    print(f"torch_engine_peak_bytes={torch.cuda.max_memory_allocated()}")
    del model
    torch.cuda.empty_cache()

    # ---- loss: the unfused log-softmax path
    T, d, V = a.tokens, a.hidden, a.vocab
    hidden = (torch.rand(T, d, device=dev) * 2 - 1).requires_grad_(True)
    head = ((torch.rand(V, d, device=dev) * 2 - 1) / d ** 0.5).to(torch.bfloat16)
    targets = torch.arange(T, device=dev) * 7919 % V
    old = torch.full((T,), -3.0, device=dev)

    def loss_step():
        logits = (hidden.to(torch.bfloat16) @ head.T).float()
        logp = torch.log_softmax(logits, dim=-1).gather(1, targets.unsqueeze(1)).squeeze(1)
        ratio = torch.exp(logp - old)
        loss = -(torch.minimum(ratio, ratio.clamp(0.8, 1.2))).sum() / T
        loss.backward()
        hidden.grad = None

    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    ms = median_ms(loss_step)
    print(f"torch_loss_s={ms / 1000:.5f}")
    print(f"torch_loss_workspace_bytes={torch.cuda.max_memory_allocated() - base}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
