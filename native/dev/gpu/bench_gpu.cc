// Times the CUDA engine's training step (forward + backward into LoRA, the fused loss on every token)
// and the fused loss kernel alone, at given widths with random BF16 weights made on the device; prints
// key=value lines that scripts/gpu-check.sh puts beside PyTorch + PEFT's (scripts/gpu/torch_peer.py).
//
//   bench_gpu [--layers L] [--tokens T] [--hidden d] [--heads H] [--kv-heads KV] [--ff F] [--vocab V]
//             [--rank r] [--runs n]          defaults: Qwen2.5-7B's widths, T = 2048, LoRA r8 on all seven
//
// Results are timings, not checks: correctness is test_engine_gpu's and test_ops_gpu's.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "cuda/linear.h"
#include "cuda/loss.h"
#include "cuda/ops.h"
#include "cuda/runtime.h"
#include "spogw/engine/device_engine.h"
#include "spogw/engine/engine.h"

using namespace spogw;

namespace {

struct Args {
  int64_t layers = 28, tokens = 2048, hidden = 3584, heads = 28, kv_heads = 4, ff = 18944, vocab = 152064, rank = 8, runs = 3;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const int64_t v = std::atoll(argv[i + 1]);
    if (v < 1) throw Error("bench_gpu: " + k + " must be a positive whole number");
    if (k == "--layers") a.layers = v;
    else if (k == "--tokens") a.tokens = v;
    else if (k == "--hidden") a.hidden = v;
    else if (k == "--heads") a.heads = v;
    else if (k == "--kv-heads") a.kv_heads = v;
    else if (k == "--ff") a.ff = v;
    else if (k == "--vocab") a.vocab = v;
    else if (k == "--rank") a.rank = v;
    else if (k == "--runs") a.runs = v;
    else throw Error("bench_gpu: unknown option " + k);
  }
  return a;
}

template <class Fn>
double median_seconds(int64_t runs, Fn&& fn) {
  fn();  // warm-up: cuBLAS heuristics, workspace allocation
  std::vector<double> t;
  for (int64_t i = 0; i < runs; i++) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// A qwen2 model of the given widths whose matrices the device engine makes (random_weights_seed).
std::unique_ptr<Model> synthetic_model(const Args& a) {
  auto m = std::make_unique<Model>();
  ModelConfig& c = m->config;
  c.arch = "qwen2";
  c.vocab = a.vocab;
  c.d = a.hidden;
  c.layers = a.layers;
  c.heads = a.heads;
  c.kv_heads = a.kv_heads;
  c.head_dim = a.hidden / a.heads;
  c.n_rot = c.head_dim;
  c.ff = a.ff;
  c.context = std::max<int64_t>(32768, a.tokens);
  c.rope_theta = 1e6f;
  c.rms_eps = 1e-6f;
  c.rope = RopeMode::kNeox;
  m->weights.output_norm.assign(size_t(c.d), 1.0f);
  m->weights.layers.resize(size_t(c.layers));
  for (LayerWeights& l : m->weights.layers) {
    l.attn_norm.assign(size_t(c.d), 1.0f);
    l.ffn_norm.assign(size_t(c.d), 1.0f);
    l.bq.assign(size_t(c.heads * c.head_dim), 0.01f);
    l.bk.assign(size_t(c.kv_heads * c.head_dim), 0.01f);
    l.bv.assign(size_t(c.kv_heads * c.head_dim), 0.01f);
  }
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Args a = parse(argc, argv);
    std::string why;
    if (!gpu::device_usable(&why)) {
      std::printf("bench_gpu: no usable CUDA device (%s)\n", why.c_str());
      return 2;
    }
    GrpoLossConfig cfg;
    cfg.eps_low = 0.2f;
    cfg.eps_high = 0.2f;
    cfg.beta = 0.1f;
    cfg.temperature = 1.0f;
    cfg.kl_mask = KlMask::kAdvantage;

    // ---- the training step
    Engine host(synthetic_model(a));
    std::vector<std::string> targets;
    for (int64_t l = 0; l < a.layers; l++)
      for (int p = 0; p < kProjCount; p++) targets.push_back("blk." + std::to_string(l) + "." + proj_name(Proj(p)) + ".weight");
    host.init_lora(a.rank, 2.0f * float(a.rank), targets, true, 1);
    DeviceEngineOptions options;
    options.random_weights_seed = 1;
    std::unique_ptr<DeviceEngine> dev = make_cuda_engine(host, options);
    std::vector<int32_t> tokens(size_t(a.tokens));
    for (int64_t i = 0; i < a.tokens; i++) tokens[size_t(i)] = int32_t((i * 7919) % a.vocab);
    std::vector<float> logp(size_t(a.tokens - 1));
    dev->token_logprobs(tokens.data(), a.tokens, 1, 1.0f, logp.data());
    const std::vector<SequenceItem> batch{SequenceItem{tokens.data(), a.tokens, 1, 1.0f, 1.0f / float(a.tokens - 1), logp.data(), logp.data()}};
    gpu::reset_peak();
    const double step = median_seconds(a.runs, [&] { dev->backward(batch, cfg); });
    const DeviceEngineStatus st = dev->status();
    std::printf("device=%s\nproducts=%s\n", st.device.c_str(), st.products.c_str());
    std::printf("engine_tokens=%lld\nengine_fwd_bwd_s=%.4f\nengine_fwd_bwd_tokens_per_s=%.1f\n", (long long)a.tokens, step, double(a.tokens) / step);
    std::printf("engine_weight_bytes=%lld\nengine_peak_bytes=%lld\ndevice_total_bytes=%lld\n", (long long)st.weight_bytes, (long long)st.peak_bytes,
                (long long)st.total_bytes);
    const double fwd = median_seconds(a.runs, [&] { dev->token_logprobs(tokens.data(), a.tokens, 1, 1.0f, logp.data()); });
    std::printf("engine_fwd_s=%.4f\n", fwd);
    dev.reset();

    // ---- the fused loss alone: [T, d] hidden states, a BF16 [V, d] head
    const int64_t T = a.tokens, d = a.hidden, V = a.vocab;
    gpu::DeviceWeight head = gpu::random_weight(V, d, gpu::DType::kBF16, 1.0f / std::sqrt(float(d)), 99, "lm head");
    gpu::Buffer<float> hidden(T * d, "hidden"), lp(T, "logp"), dh(T * d, "dHidden"), adv(1, "adv"), w(1, "weight");
    gpu::fill_uniform(hidden.get(), gpu::DType::kF32, T * d, 1.0f, 5);
    std::vector<int32_t> seq(size_t(T), 0);
    std::vector<float> ones(1, 1.0f), old(size_t(T), -3.0f);
    gpu::Buffer<int32_t> dtok(T, "targets"), dseq(T, "seq");
    dtok.upload(tokens.data(), T);
    dseq.upload(seq.data(), T);
    adv.upload(ones.data(), 1);
    w.upload(ones.data(), 1);
    gpu::Buffer<float> dold(T, "old"), dref(T, "ref");
    dold.upload(old.data(), T);
    dref.upload(old.data(), T);
    gpu::LossScratch scratch;
    const gpu::DeviceLossInputs in{hidden.get(), dtok.get(), dseq.get(), adv.get(), w.get(), dold.get(), dref.get(), T, 1};
    const int64_t before = gpu::allocated_bytes();
    gpu::reset_peak();
    const double loss_s = median_seconds(a.runs, [&] {
      gpu::grpo_loss_device(in, head, cfg, lp.get(), dh.get(), scratch);
      gpu::synchronize("loss");
    });
    std::printf("loss_s=%.5f\nloss_workspace_bytes=%lld\n", loss_s, (long long)(gpu::peak_allocated_bytes() - before));
    return 0;
  } catch (const std::exception& e) {
    std::printf("bench_gpu: %s\n", e.what());
    return 1;
  }
}
