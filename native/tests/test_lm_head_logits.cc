// The output layer's own product (spogw/lm_head_logits.h) and what the engine builds on it:
//  - every value of both products (logits, and the backward's dH) is exactly one fma chain in order
//    (times alpha for the logits), on every instruction-set path
//    this CPU has (compared bit for bit with the chain written out here, and within float32 rounding
//    with a float64 product), for row and column counts on and off the kernels' tile sizes;
//  - the fused log-prob kernel gives a row the same bits whatever rows share its call, however the
//    call is tiled, and whether the output matrix comes as float32 or as blocks of rows (LmHeadRows);
//  - the loss kernel's log-probs are the log-prob kernel's, bit for bit (so the ratio is exactly 1
//    where the policy has not moved).
#include <cstring>
#include <tuple>

#include "spogw/grpo_loss.h"
#include "spogw/lm_head_logits.h"
#include "test_util.h"

using namespace spogw;
using namespace spogw::test;

namespace {

bool same_bits(const float* a, const float* b, int64_t n) { return std::memcmp(a, b, size_t(n) * sizeof(float)) == 0; }

int64_t differing(const float* a, const float* b, int64_t n) {
  int64_t k = 0;
  for (int64_t i = 0; i < n; i++) k += std::memcmp(a + i, b + i, sizeof(float)) != 0;
  return k;
}

void check_fma_chains() {
  const std::vector<std::pair<LogitsPath, const char*>> paths = {
      {LogitsPath::kAvx512, "avx512"}, {LogitsPath::kAvx2, "avx2"}, {LogitsPath::kPortable, "portable"}};
  Rng rng(11);
  for (const auto& [path, name] : paths) {
    if (!logits_path_available(path)) {
      std::printf("  (this CPU has no %s: that path is not run)\n", name);
      continue;
    }
    for (const int64_t d : {1, 37, 64})
      for (const int64_t n : {1, 5, 7, 13})
        for (const int64_t w : {1, 31, 32, 33, 70}) {
          const float alpha = 1.0f / 0.7f;
          const std::vector<float> H = rng.normal(n * d), W = rng.normal(w * d, 0.3);
          const int64_t ldz = w + 3;  // a stride wider than the block: nothing outside it is written
          std::vector<float> Z(size_t(n * ldz), -7.0f), chain(Z);
          Doubles exact(size_t(n * ldz), std::numeric_limits<double>::quiet_NaN());
          lm_head_logits(H.data(), n, d, W.data(), w, alpha, Z.data(), ldz, path);
          for (int64_t r = 0; r < n; r++)
            for (int64_t j = 0; j < w; j++) {
              float acc = 0.0f;
              double e = 0.0;
              for (int64_t k = 0; k < d; k++) {
                acc = std::fma(H[size_t(r * d + k)], W[size_t(j * d + k)], acc);
                e += double(H[size_t(r * d + k)]) * double(W[size_t(j * d + k)]);
              }
              chain[size_t(r * ldz + j)] = acc * alpha;
              exact[size_t(r * ldz + j)] = e * double(alpha);
            }
          const std::string what = format("%s d=%lld n=%lld w=%lld", name, (long long)d, (long long)n, (long long)w);
          const int64_t off = differing(Z.data(), chain.data(), n * ldz);
          report(off == 0, what + ": the fma chains, bit for bit", format("%lld values differ (padding included)", (long long)off));
          expect_close(what + ": vs float64", Z.data(), exact, 1e-5);
        }
  }
}

void check_backprop_chains() {
  const std::vector<std::pair<LogitsPath, const char*>> paths = {
      {LogitsPath::kAvx512, "avx512"}, {LogitsPath::kAvx2, "avx2"}, {LogitsPath::kPortable, "portable"}};
  Rng rng(12);
  for (const auto& [path, name] : paths) {
    if (!logits_path_available(path)) continue;
    // w = 600 spans three 256-row pieces; d = 70 ends in a partial column panel; [j0, j1) a middle slice.
    for (const int64_t n : {1, 7, 13})
      for (const auto& [d, j0, j1] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{{70, 0, 70}, {64, 32, 64}, {37, 5, 30}}) {
        const int64_t w = 600, ldg = w + 5;
        const std::vector<float> G = rng.normal(n * ldg), W = rng.normal(w * d, 0.3), start = rng.normal(n * d);
        for (const bool accumulate : {false, true}) {
          std::vector<float> dH = start, chain = start, split = start;
          Doubles exact(size_t(n * d), std::numeric_limits<double>::quiet_NaN());
          lm_head_backprop(G.data(), n, ldg, W.data(), w, d, j0, j1, accumulate, dH.data(), path);
          // The same product as two blocks of W rows (the second continuing the first's chains).
          lm_head_backprop(G.data(), n, ldg, W.data(), 250, d, j0, j1, accumulate, split.data(), path);
          lm_head_backprop(G.data() + 250, n, ldg, W.data() + 250 * d, w - 250, d, j0, j1, true, split.data(), path);
          for (int64_t r = 0; r < n; r++)
            for (int64_t j = j0; j < j1; j++) {
              float acc = accumulate ? start[size_t(r * d + j)] : 0.0f;
              double e = accumulate ? double(start[size_t(r * d + j)]) : 0.0;
              for (int64_t v = 0; v < w; v++) {
                acc = std::fma(G[size_t(r * ldg + v)], W[size_t(v * d + j)], acc);
                e += double(G[size_t(r * ldg + v)]) * double(W[size_t(v * d + j)]);
              }
              chain[size_t(r * d + j)] = acc;
              exact[size_t(r * d + j)] = e;
            }
          const std::string what = format("%s n=%lld d=%lld columns [%lld, %lld)%s", name, (long long)n, (long long)d, (long long)j0,
                                          (long long)j1, accumulate ? " accumulating" : "");
          const int64_t off = differing(dH.data(), chain.data(), n * d), off_split = differing(split.data(), chain.data(), n * d);
          report(off == 0 && off_split == 0, what + ": the fma chains, bit for bit",
                 format("%lld values differ in one call, %lld in two blocks (other columns included)", (long long)off, (long long)off_split));
          expect_close(what + ": vs float64", dH.data(), exact, 1e-5);
        }
      }
  }
}

// A small model-sized case: V spans several 512-column chunks and ends in a partial one.
struct LogprobCase {
  int64_t T = 13, d = 40, V = 1100;
  float temperature = 0.8f;
  std::vector<float> hidden, lm_head;
  std::vector<int32_t> targets;
  explicit LogprobCase(Rng& rng) : hidden(rng.normal(T * d)), lm_head(rng.normal(V * d, 0.4)) {
    for (int64_t t = 0; t < T; t++) targets.push_back(int32_t(rng.index(V)));
    targets[0] = 0;                   // the first column of the first chunk
    targets[1] = int32_t(V - 1);      // the last column of the partial chunk
    targets[2] = 511;                 // both sides of a chunk boundary
    targets[3] = 512;
  }
};

void check_row_independence() {
  Rng rng(5);
  const LogprobCase c(rng);
  std::vector<float> all(size_t(c.T)), alone(size_t(c.T)), tiled(size_t(c.T)), blocks(size_t(c.T));
  selective_logprobs(c.hidden.data(), c.lm_head.data(), c.targets.data(), c.T, c.d, c.V, c.temperature, all.data());
  for (int64_t t = 0; t < c.T; t++)
    selective_logprobs(c.hidden.data() + t * c.d, c.lm_head.data(), c.targets.data() + t, 1, c.d, c.V, c.temperature, alone.data() + t);
  selective_logprobs(c.hidden.data(), c.lm_head.data(), c.targets.data(), c.T, c.d, c.V, c.temperature, tiled.data(), 4);
  LmHeadRows rows;
  rows.block_rows = 700;  // not a whole number of chunks: the kernel rounds blocks down to one
  rows.fill = [&](int64_t r0, int64_t r1, float* out) {
    std::memcpy(out, c.lm_head.data() + r0 * c.d, size_t((r1 - r0) * c.d) * sizeof(float));
  };
  selective_logprobs_unchecked(c.hidden.data(), rows, c.targets.data(), c.T, c.d, c.V, c.temperature, blocks.data());
  report(same_bits(all.data(), alone.data(), c.T), "13 rows in one call = each row alone", "bit for bit");
  report(same_bits(all.data(), tiled.data(), c.T), "13 rows in one call = in calls of 4 rows", "bit for bit");
  report(same_bits(all.data(), blocks.data(), c.T), "float32 matrix = blocks of rows (LmHeadRows)", "bit for bit");
  Doubles want(size_t(c.T));
  std::vector<float> ref(size_t(c.T));
  selective_logprobs_reference(c.hidden.data(), c.lm_head.data(), c.targets.data(), c.T, c.d, c.V, c.temperature, ref.data());
  for (int64_t t = 0; t < c.T; t++) want[size_t(t)] = ref[size_t(t)];
  expect_close("log-probs vs the reference kernel", all.data(), want, 1e-5);
}

void check_loss_logprobs() {
  Rng rng(9);
  const LogprobCase c(rng);
  std::vector<float> selective(size_t(c.T)), loss_logp(size_t(c.T)), d_hidden(size_t(c.T * c.d));
  selective_logprobs(c.hidden.data(), c.lm_head.data(), c.targets.data(), c.T, c.d, c.V, c.temperature, selective.data());
  const std::vector<int32_t> seq_starts = {0, 6, int32_t(c.T)};
  const std::vector<float> advantages = {0.5f, -0.5f}, weights = {1.0f, 1.0f};
  GrpoLossInputs in;
  in.hidden = c.hidden.data();
  in.lm_head = c.lm_head.data();
  in.targets = c.targets.data();
  in.seq_starts = seq_starts.data();
  in.advantages = advantages.data();
  in.seq_weights = weights.data();
  in.old_logp = selective.data();
  in.ref_logp = selective.data();
  in.T = c.T;
  in.d = c.d;
  in.V = c.V;
  in.S = 2;
  GrpoLossConfig cfg;
  cfg.eps_low = 0.2f;
  cfg.eps_high = 0.2f;
  cfg.beta = 0.04f;
  cfg.temperature = c.temperature;
  cfg.kl_mask = KlMask::kAdvantage;
  const GrpoLossSums sums = grpo_loss_fused(in, cfg, {loss_logp.data(), d_hidden.data()}, 5);
  report(same_bits(selective.data(), loss_logp.data(), c.T), "loss kernel log-probs = log-prob kernel's", "bit for bit");
  report(sums.ratio_sum == double(c.T), "ratio exactly 1 at old = current", format("sum of ratios %.9g over %lld tokens", sums.ratio_sum, (long long)c.T));
}

}  // namespace

int main(int argc, char** argv) {
  return run_checks(argc, argv, {
      {"lm head logits fma chains", [] { check_fma_chains(); }},
      {"lm head backprop fma chains", [] { check_backprop_chains(); }},
      {"logprobs row independence", [] { check_row_independence(); }},
      {"loss logprobs equal logprob kernel", [] { check_loss_logprobs(); }},
  });
}
