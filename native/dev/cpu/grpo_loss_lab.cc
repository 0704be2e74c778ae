// Kernel lab for the fused GRPO loss on the CPU: times the fused kernel at several tile sizes beside its
// two GEMMs alone (same tiles, and untiled over all T rows), so the tile choice in grpo_loss.cc can be
// justified with numbers. Not part of the build; compile against the core library:
//
//   node scripts/buildNative.mjs --cuda OFF --out native/build-loss
//   g++ -O2 -std=c++17 -march=native -Inative/include native/dev/cpu/grpo_loss_lab.cc native/build-loss/libspogw_core.a
//       /usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.a -lpthread -lm -o /tmp/grpo_loss_lab     (one line)
//   /tmp/grpo_loss_lab [T d V] [tile rows ...]        (defaults: 2048 896 151936, tiles 32 64 110 192)
//
// Like llm.c's dev/cuda kernels, every kernel is first checked against the float64 reference and the
// lab prints "results match" before it times anything; a kernel that does not match is not timed and
// the lab exits with status 1. The reference is O(T V d), so it runs on a sample of token rows: the
// first and last, the middle, and both sides of the first tile boundary of every tile size (each row's
// log-prob and dHidden depend only on that row). The loss sums are checked on a kernel call over the
// sampled rows alone. LAB_PLANT_ERROR=1 runs the fused kernel with beta off by 1%, to see the refusal.
// Timing: best of 2 interleaved rounds per variant, in process CPU time (LAB_THREADS=1 for a clean count).
#include <time.h>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "spogw/gemm.h"
#include "spogw/grpo_loss.h"
#include "spogw/threads.h"

using namespace spogw;

namespace {

// CPU time of the whole process (all threads), in ms: on a machine shared with other work it varies
// far less than wall time. Run with LAB_THREADS=1 so that no BLAS thread spins while it waits.
double now_ms() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) / 1e6;
}

// max |got - want| / max |want| over the sampled rows of a [T, width] output.
double row_error(const float* got, const std::vector<double>& want, const std::vector<int64_t>& rows, int64_t width) {
  double diff = 0.0, scale = 0.0;
  for (size_t i = 0; i < rows.size(); i++)
    for (int64_t k = 0; k < width; k++) {
      const double w = want[i * size_t(width) + size_t(k)];
      diff = std::max(diff, std::fabs(double(got[rows[i] * width + k]) - w));
      scale = std::max(scale, std::fabs(w));
    }
  return diff / std::max(scale, 1e-30);
}

double scalar_error(double got, double want) { return std::fabs(got - want) / std::max(std::fabs(want), 1e-12); }

// Prints one kernel's verdict; returns whether it matched.
bool verdict(const std::string& kernel, const std::vector<std::pair<const char*, std::pair<double, double>>>& errors) {
  bool ok = true;
  std::string detail;
  for (const auto& [name, e] : errors) {
    const bool fine = std::isfinite(e.first) && e.first <= e.second;
    ok = ok && fine;
    char buf[96];
    std::snprintf(buf, sizeof buf, "%s%s %.1e%s", detail.empty() ? "" : ", ", name, e.first, fine ? "" : " (TOO LARGE)");
    detail += buf;
  }
  std::printf("%-32s %s  (%s)\n", kernel.c_str(), ok ? "results match" : "MISMATCH     ", detail.c_str());
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t T = argc > 3 ? atoll(argv[1]) : 2048, d = argc > 3 ? atoll(argv[2]) : 896,
                V = argc > 3 ? atoll(argv[3]) : 151936;
  std::vector<int64_t> tiles;
  for (int i = 4; i < argc; i++) tiles.push_back(atoll(argv[i]));
  if (tiles.empty()) tiles = {32, 64, 110, 192};
  if (T < 1 || d < 1 || V < 1) {
    std::fprintf(stderr, "T, d and V must be >= 1\n");
    return 2;
  }
  set_threads(getenv("LAB_THREADS") ? atoi(getenv("LAB_THREADS")) : hardware_threads());
  const bool plant_error = getenv("LAB_PLANT_ERROR") && std::string(getenv("LAB_PLANT_ERROR")) == "1";
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> hidden(static_cast<size_t>(T * d)), lm_head(static_cast<size_t>(V * d)), old_logp(static_cast<size_t>(T)),
      ref_logp(static_cast<size_t>(T)), logp(static_cast<size_t>(T)), dh(static_cast<size_t>(T * d));
  for (auto& x : hidden) x = normal(rng);
  for (auto& x : lm_head) x = 0.05f * normal(rng);
  // Around log(1 / V), so ratios fall below, inside and above the clip range and the KL term is not 0.
  for (auto& x : old_logp) x = -12.0f + 0.5f * normal(rng);
  for (auto& x : ref_logp) x = -12.0f + 0.5f * normal(rng);
  std::vector<int32_t> targets(static_cast<size_t>(T)), starts = {0, int32_t(T)};
  for (auto& x : targets) x = int32_t(rng() % uint32_t(V));
  const float adv = 1.0f, w = 1.0f / float(T);
  GrpoLossInputs in;
  in.hidden = hidden.data(); in.lm_head = lm_head.data(); in.targets = targets.data();
  in.seq_starts = starts.data(); in.advantages = &adv; in.seq_weights = &w;
  in.old_logp = old_logp.data(); in.ref_logp = ref_logp.data();
  in.T = T; in.d = d; in.V = V; in.S = 1;
  GrpoLossConfig cfg;
  cfg.eps_low = 0.2f; cfg.eps_high = 0.28f; cfg.beta = 0.1f; cfg.temperature = 0.7f; cfg.kl_mask = KlMask::kAdvantage;
  GrpoLossConfig kernel_cfg = cfg;  // what the fused kernel is run with
  if (plant_error) kernel_cfg.beta *= 1.01f;
  const double gflop = 4.0 * double(T) * double(d) * double(V) / 1e9;
  std::printf("T=%lld d=%lld V=%lld, %.1f GFLOP per call, %d threads, BLAS core %s%s\n", (long long)T,
              (long long)d, (long long)V, gflop, threads(), blas_core(),
              plant_error ? "; LAB_PLANT_ERROR=1: the fused kernel runs with beta off by 1%" : "");
  {
    const double t0 = now_ms();
    grpo_loss_validate(in, cfg, {logp.data(), dh.data()});
    std::printf("input validation        %9.1f ms\n", now_ms() - t0);
  }

  // ---- the reference on the sampled rows ----------------------------------------------------------
  std::set<int64_t> sample_set = {0, T / 2, T - 1};
  for (int64_t tile : tiles)
    for (int64_t r : {tile - 1, tile})
      if (r >= 0 && r < T) sample_set.insert(r);
  const std::vector<int64_t> rows(sample_set.begin(), sample_set.end());
  const int64_t n = int64_t(rows.size());
  std::vector<float> sub_hidden(static_cast<size_t>(n * d)), sub_old(static_cast<size_t>(n)), sub_ref(static_cast<size_t>(n));
  std::vector<int32_t> sub_targets(static_cast<size_t>(n)), sub_starts = {0, int32_t(n)};
  for (int64_t i = 0; i < n; i++) {
    std::copy_n(&hidden[size_t(rows[size_t(i)] * d)], d, &sub_hidden[size_t(i * d)]);
    sub_targets[size_t(i)] = targets[size_t(rows[size_t(i)])];
    sub_old[size_t(i)] = old_logp[size_t(rows[size_t(i)])];
    sub_ref[size_t(i)] = ref_logp[size_t(rows[size_t(i)])];
  }
  GrpoLossInputs sub = in;
  sub.hidden = sub_hidden.data(); sub.targets = sub_targets.data(); sub.seq_starts = sub_starts.data();
  sub.old_logp = sub_old.data(); sub.ref_logp = sub_ref.data(); sub.T = n;
  std::vector<float> ref_logp_rows(static_cast<size_t>(n)), ref_dh_rows(static_cast<size_t>(n * d));
  const double t_ref = now_ms();
  const GrpoLossSums ref_sums = grpo_loss_reference(sub, cfg, {ref_logp_rows.data(), ref_dh_rows.data()});
  const std::vector<double> want_logp(ref_logp_rows.begin(), ref_logp_rows.end()), want_dh(ref_dh_rows.begin(), ref_dh_rows.end());
  // The GEMM pair alone: dh = (hidden lmHead^T) lmHead, in float64.
  std::vector<double> want_gemms(size_t(n * d), 0.0);
  for (int64_t i = 0; i < n; i++) {
    const float* h = &sub_hidden[size_t(i * d)];
    for (int64_t j = 0; j < V; j++) {
      const float* wj = &lm_head[size_t(j * d)];
      double z = 0.0;
      for (int64_t k = 0; k < d; k++) z += double(h[k]) * double(wj[k]);
      for (int64_t k = 0; k < d; k++) want_gemms[size_t(i * d + k)] += z * double(wj[k]);
    }
  }
  std::printf("float64 reference on %lld sampled rows: %.0f ms\n\n", (long long)n, now_ms() - t_ref);

  // ---- every kernel against it, before any timing ------------------------------------------------
  // Tolerances as native/tests/test_grpo_loss.cc (float32 GEMMs over V = 151936 against float64).
  const double kLogpTol = 1e-5, kGradTol = 1e-4, kSumTol = 1e-4;
  bool all_match = true;
  std::vector<float> logits(size_t(T * V));
  gemm(false, true, T, V, d, 1.0f, hidden.data(), d, lm_head.data(), d, 0.0f, logits.data(), V);
  gemm(false, false, T, d, V, 1.0f, logits.data(), V, lm_head.data(), d, 0.0f, dh.data(), d);
  all_match &= verdict("two GEMMs, untiled", {{"dHidden", {row_error(dh.data(), want_gemms, rows, d), kGradTol}}});
  for (int64_t tile : tiles) {
    grpo_loss_gemms_only(hidden.data(), lm_head.data(), T, d, V, dh.data(), tile);
    all_match &= verdict("two GEMMs, tile " + std::to_string(tile),
                         {{"dHidden", {row_error(dh.data(), want_gemms, rows, d), kGradTol}}});
    grpo_loss_fused(in, kernel_cfg, {logp.data(), dh.data()}, tile);
    std::vector<float> sub_logp(static_cast<size_t>(n)), sub_dh(static_cast<size_t>(n * d));
    const GrpoLossSums sums = grpo_loss_fused(sub, kernel_cfg, {sub_logp.data(), sub_dh.data()}, std::min(tile, n));
    all_match &= verdict("fused kernel, tile " + std::to_string(tile),
                         {{"logp", {row_error(logp.data(), want_logp, rows, 1), kLogpTol}},
                          {"dHidden", {row_error(dh.data(), want_dh, rows, d), kGradTol}},
                          {"loss", {scalar_error(sums.loss, ref_sums.loss), kSumTol}},
                          {"kl sum", {scalar_error(sums.kl_sum, ref_sums.kl_sum), kSumTol}}});
  }
  if (!all_match) {
    std::printf("\nrefusing to time: a kernel does not match the reference\n");
    return 1;
  }

  // ---- timing ----------------------------------------------------------------------------------
  // Interleaved rounds (untiled GEMMs, then per tile size the GEMMs alone and the fused kernel), so
  // that load from other processes falls on every variant alike; the best time of each is printed.
  std::printf("\n");
  const int rounds = 2;
  std::vector<double> best(1 + 2 * tiles.size(), 1e300);
  for (int round = 0; round < rounds; round++) {
    double t0 = now_ms();
    gemm(false, true, T, V, d, 1.0f, hidden.data(), d, lm_head.data(), d, 0.0f, logits.data(), V);
    gemm(false, false, T, d, V, 1.0f, logits.data(), V, lm_head.data(), d, 0.0f, dh.data(), d);
    best[0] = std::min(best[0], now_ms() - t0);
    for (size_t i = 0; i < tiles.size(); i++) {
      t0 = now_ms();
      grpo_loss_gemms_only(hidden.data(), lm_head.data(), T, d, V, dh.data(), tiles[i]);
      best[1 + 2 * i] = std::min(best[1 + 2 * i], now_ms() - t0);
      t0 = now_ms();
      grpo_loss_fused(in, kernel_cfg, {logp.data(), dh.data()}, tiles[i]);
      best[2 + 2 * i] = std::min(best[2 + 2 * i], now_ms() - t0);
    }
  }
  std::printf("two GEMMs, untiled      %9.1f ms  %7.1f GFLOP/s\n", best[0], gflop / best[0] * 1e3);
  for (size_t i = 0; i < tiles.size(); i++) {
    const double g = best[1 + 2 * i], f = best[2 + 2 * i];
    std::printf("tile %4lld rows: GEMMs %9.1f ms  fused %9.1f ms  %7.1f GFLOP/s  fused vs untiled GEMMs %5.1f%%\n",
                (long long)tiles[i], g, f, gflop / f * 1e3, 100.0 * best[0] / f);
  }
  return 0;
}
