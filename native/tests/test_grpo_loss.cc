// Plain C++ checks of the fused GRPO loss kernel against its plain reference (grpo_loss_reference.cc),
// llm.c style: prints "OK"/"NOT OK" with the max difference per tensor, exits non-zero on failure.
// Also checks the CUDA kernel against the reference when the binary has CUDA and a device is present.
// Build with SPOGW_BUILD_TESTS=ON (node scripts/buildNative.mjs --tests) and run test_grpo_loss.
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "spogw/error.h"
#include "spogw/device_info.h"
#include "spogw/grpo_loss.h"

using namespace spogw;

namespace {

int g_failures = 0;

void check(const char* what, const float* got, const float* want, int64_t n, double tol) {
  double max_abs = 0.0, max_ref = 0.0;
  for (int64_t i = 0; i < n; i++) {
    max_abs = std::max(max_abs, std::fabs(double(got[i]) - double(want[i])));
    max_ref = std::max(max_ref, std::fabs(double(want[i])));
  }
  const double rel = max_abs / std::max(max_ref, 1e-30);
  const bool ok = std::isfinite(rel) && rel <= tol;
  std::printf("  %-7s %-28s max|diff| %.3e  relative to max|ref| %.3e\n", ok ? "OK" : "NOT OK", what, max_abs, rel);
  if (!ok) g_failures++;
}

void check_scalar(const char* what, double got, double want, double tol) {
  const double rel = std::fabs(got - want) / std::max(std::fabs(want), 1e-12);
  const bool ok = std::isfinite(rel) && rel <= tol;
  std::printf("  %-7s %-28s %.9g vs %.9g (relative %.2e)\n", ok ? "OK" : "NOT OK", what, got, want, rel);
  if (!ok) g_failures++;
}

struct Case {
  int64_t T, d, V, S;
  std::vector<float> hidden, lm_head, adv, w, old_logp, ref_logp;
  std::vector<int32_t> targets, starts;
  GrpoLossInputs inputs() const {
    GrpoLossInputs in;
    in.hidden = hidden.data(); in.lm_head = lm_head.data(); in.targets = targets.data();
    in.seq_starts = starts.data(); in.advantages = adv.data(); in.seq_weights = w.data();
    in.old_logp = old_logp.data(); in.ref_logp = ref_logp.data();
    in.T = T; in.d = d; in.V = V; in.S = S;
    return in;
  }
};

// Random case whose logits have a few large outliers per row (lmHead rows aligned with the token's
// hidden state), so the softmax is not flat; old/ref log-probs offset from the true ones so the ratio
// lands below, inside and above the clip range.
Case make_case(int64_t T, int64_t d, int64_t V, int64_t S, float temperature, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int64_t> vocab(0, V - 1);
  Case c{T, d, V, S, {}, {}, {}, {}, {}, {}, {}, {}};
  c.hidden.resize(static_cast<size_t>(T * d));
  c.lm_head.resize(static_cast<size_t>(V * d));
  for (auto& x : c.hidden) x = normal(rng);
  for (auto& x : c.lm_head) x = 0.3f * normal(rng) / std::sqrt(float(d));
  for (int64_t t = 0; t < T; t++) {
    for (int o = 0; o < 3; o++) {
      const int64_t j = vocab(rng);
      for (int64_t k = 0; k < d; k++) c.lm_head[size_t(j * d + k)] = 6.0f * c.hidden[size_t(t * d + k)] / float(d);
    }
  }
  c.targets.resize(static_cast<size_t>(T));
  for (auto& x : c.targets) x = int32_t(vocab(rng));
  c.starts.resize(static_cast<size_t>(S + 1));
  for (int64_t i = 0; i <= S; i++) c.starts[size_t(i)] = int32_t(i * T / S);
  c.adv = std::vector<float>(size_t(S));
  c.w = std::vector<float>(size_t(S));
  for (int64_t i = 0; i < S; i++) {
    c.adv[size_t(i)] = (i % 3 == 2) ? 0.0f : normal(rng);
    c.w[size_t(i)] = 1.0f / float(S * (c.starts[size_t(i + 1)] - c.starts[size_t(i)]));
  }
  std::vector<float> logp(static_cast<size_t>(T));
  selective_logprobs_reference(c.hidden.data(), c.lm_head.data(), c.targets.data(), T, d, V, temperature, logp.data());
  const float offsets[] = {-0.6f, -0.05f, 0.0f, 0.1f, 0.5f};
  c.old_logp.resize(static_cast<size_t>(T));
  c.ref_logp.resize(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; t++) {
    c.old_logp[size_t(t)] = logp[size_t(t)] + offsets[t % 5];
    c.ref_logp[size_t(t)] = logp[size_t(t)] + 0.3f * normal(rng);
  }
  return c;
}

void compare(const char* label, const Case& c, const GrpoLossConfig& cfg, int64_t tile_rows, bool cuda) {
  std::printf("%s: T=%lld d=%lld V=%lld S=%lld tile=%lld beta=%g T=%g kl=%s%s\n", label, (long long)c.T,
              (long long)c.d, (long long)c.V, (long long)c.S, (long long)tile_rows, cfg.beta, cfg.temperature,
              cfg.kl_mask == KlMask::kAll ? "all" : "advantage", cuda ? " [cuda]" : "");
  std::vector<float> logp_ref(static_cast<size_t>(c.T)), dh_ref(static_cast<size_t>(c.T * c.d)), logp(static_cast<size_t>(c.T)), dh(static_cast<size_t>(c.T * c.d));
  const GrpoLossSums want = grpo_loss_reference(c.inputs(), cfg, {logp_ref.data(), dh_ref.data()});
  GrpoLossSums got;
#ifdef SPOGW_WITH_CUDA
  if (cuda) got = grpo_loss_cuda(c.inputs(), cfg, {logp.data(), dh.data()}, tile_rows);
  else
#endif
    got = grpo_loss_fused(c.inputs(), cfg, {logp.data(), dh.data()}, tile_rows);
  check("logp", logp.data(), logp_ref.data(), c.T, 1e-5);
  check("dHidden", dh.data(), dh_ref.data(), c.T * c.d, 1e-4);
  check_scalar("loss", got.loss, want.loss, 1e-4);
  check_scalar("kl sum", got.kl_sum, want.kl_sum, 1e-4);
  if (got.clipped_low != want.clipped_low || got.clipped_high != want.clipped_high) {
    std::printf("  NOT OK  clip counts %lld/%lld vs %lld/%lld\n", (long long)got.clipped_low,
                (long long)got.clipped_high, (long long)want.clipped_low, (long long)want.clipped_high);
    g_failures++;
  }
}

void expect_error(const char* what, const GrpoLossInputs& in, const GrpoLossConfig& cfg, const char* needle) {
  std::vector<float> logp(static_cast<size_t>(std::max<int64_t>(in.T, 1))), dh(static_cast<size_t>(std::max<int64_t>(in.T * in.d, 1)));
  try {
    grpo_loss_fused(in, cfg, {logp.data(), dh.data()});
  } catch (const Error& e) {
    const bool ok = std::string(e.what()).find(needle) != std::string::npos;
    std::printf("  %-7s error for %s: %s\n", ok ? "OK" : "NOT OK", what, e.what());
    if (!ok) g_failures++;
    return;
  }
  std::printf("  NOT OK  no error for %s\n", what);
  g_failures++;
}

}  // namespace

int main() {
  GrpoLossConfig cfg;
  cfg.eps_low = 0.2f; cfg.eps_high = 0.28f; cfg.beta = 0.1f; cfg.temperature = 0.7f; cfg.kl_mask = KlMask::kAdvantage;
  compare("small", make_case(10, 16, 123, 4, cfg.temperature, 1), cfg, 3, false);
  cfg.kl_mask = KlMask::kAll; cfg.temperature = 1.0f;
  compare("tail tile", make_case(13, 24, 5000, 5, cfg.temperature, 2), cfg, 4, false);
  cfg.beta = 0.0f;
  compare("auto tile", make_case(6, 8, 1, 2, cfg.temperature, 3), cfg, 0, false);
  cfg.beta = 0.04f; cfg.kl_mask = KlMask::kAdvantage; cfg.temperature = 0.7f;
  compare("qwen vocab", make_case(3, 16, 151936, 2, cfg.temperature, 4), cfg, 2, false);
#ifdef SPOGW_WITH_CUDA
  if (cuda_info().deviceCount > 0) {
    compare("cuda small", make_case(10, 16, 123, 4, cfg.temperature, 1), cfg, 3, true);
    compare("cuda qwen vocab", make_case(9, 64, 151936, 3, cfg.temperature, 5), cfg, 4, true);
  } else {
    std::printf("cuda: skipped, no device (%s)\n", cuda_info().error.c_str());
  }
#endif

  std::printf("validation:\n");
  Case c = make_case(4, 4, 7, 2, 1.0f, 9);
  GrpoLossConfig ok_cfg;
  ok_cfg.eps_low = 0.2f; ok_cfg.eps_high = 0.2f; ok_cfg.beta = 0.0f; ok_cfg.temperature = 1.0f; ok_cfg.kl_mask = KlMask::kAdvantage;
  {
    Case bad = c; bad.targets[2] = 7;
    expect_error("target = V", bad.inputs(), ok_cfg, "targets[2]");
  }
  {
    Case bad = c; bad.starts[1] = 0;
    expect_error("empty response", bad.inputs(), ok_cfg, "response 0 is empty");
  }
  {
    Case bad = c; bad.starts[2] = 3;
    expect_error("seqStarts not ending at T", bad.inputs(), ok_cfg, "must end at T");
  }
  {
    Case bad = c; bad.lm_head[27] = NAN;
    expect_error("NaN in lmHead", bad.inputs(), ok_cfg, "lmHead[27]");
  }
  {
    GrpoLossConfig bad = ok_cfg; bad.temperature = 0.0f;
    expect_error("temperature 0", c.inputs(), bad, "temperature");
  }
  {
    GrpoLossConfig unset;  // no field has a default: each stays unset until given
    unset.eps_low = 0.2f; unset.eps_high = 0.2f; unset.beta = 0.1f; unset.temperature = 1.0f;
    expect_error("klMask not set", c.inputs(), unset, "klMask must be \"advantage\" or \"all\" (it is not set)");
    unset.kl_mask = KlMask::kAll; unset.beta = GrpoLossConfig().beta;
    expect_error("beta not set", c.inputs(), unset, "beta must be a finite number >= 0 (got nan)");
  }

  std::printf(g_failures == 0 ? "ALL OK\n" : "%d FAILURES\n", g_failures);
  return g_failures == 0 ? 0 : 1;
}
