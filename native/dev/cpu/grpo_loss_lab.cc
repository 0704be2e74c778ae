// Kernel lab for the fused GRPO loss on the CPU: times the fused kernel at several tile sizes beside its
// two GEMMs alone (same tiles, and untiled over all T rows), so the tile choice in grpo_loss.cc can be
// justified with numbers. Not part of the build; compile against the core library:
//
//   node scripts/buildNative.mjs --cuda OFF --out native/build-loss
//   g++ -O2 -std=c++17 -march=native -Inative/include native/dev/cpu/grpo_loss_lab.cc \
//       native/build-loss/libspogw_core.a /usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.a \
//       -lpthread -lm -o /tmp/grpo_loss_lab
//   /tmp/grpo_loss_lab [T d V] [tile rows ...]        (defaults: 2048 896 151936, tiles 32 64 110 192)
// Best of 2 interleaved rounds per variant, in process CPU time (LAB_THREADS=1 for a clean count).
#include <time.h>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "spogw/gemm.h"
#include "spogw/grpo_loss.h"
#include "spogw/threads.h"

using namespace spogw;

// CPU time of the whole process (all threads), in ms: on a machine shared with other work it varies
// far less than wall time. Run with LAB_THREADS=1 so that no BLAS thread spins while it waits.
static double now_ms() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) / 1e6;
}

int main(int argc, char** argv) {
  const int64_t T = argc > 3 ? atoll(argv[1]) : 2048, d = argc > 3 ? atoll(argv[2]) : 896,
                V = argc > 3 ? atoll(argv[3]) : 151936;
  std::vector<int64_t> tiles;
  for (int i = 4; i < argc; i++) tiles.push_back(atoll(argv[i]));
  if (tiles.empty()) tiles = {32, 64, 110, 192};
  set_threads(getenv("LAB_THREADS") ? atoi(getenv("LAB_THREADS")) : hardware_threads());
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> hidden(static_cast<size_t>(T * d)), lm_head(static_cast<size_t>(V * d)), old_logp(static_cast<size_t>(T), -12.0f),
      ref_logp(static_cast<size_t>(T), -12.0f), logp(static_cast<size_t>(T)), dh(static_cast<size_t>(T * d));
  for (auto& x : hidden) x = normal(rng);
  for (auto& x : lm_head) x = 0.05f * normal(rng);
  std::vector<int32_t> targets(static_cast<size_t>(T)), starts = {0, int32_t(T)};
  for (auto& x : targets) x = int32_t(rng() % uint32_t(V));
  const float adv = 1.0f, w = 1.0f / float(T);
  GrpoLossInputs in;
  in.hidden = hidden.data(); in.lm_head = lm_head.data(); in.targets = targets.data();
  in.seq_starts = starts.data(); in.advantages = &adv; in.seq_weights = &w;
  in.old_logp = old_logp.data(); in.ref_logp = ref_logp.data();
  in.T = T; in.d = d; in.V = V; in.S = 1;
  GrpoLossConfig cfg;
  cfg.beta = 0.1f;
  const double gflop = 4.0 * double(T) * double(d) * double(V) / 1e9;
  std::printf("T=%lld d=%lld V=%lld, %.1f GFLOP per call, %d threads, BLAS core %s\n", (long long)T,
              (long long)d, (long long)V, gflop, threads(), blas_core());
  {
    const double t0 = now_ms();
    grpo_loss_validate(in, cfg);
    std::printf("input validation        %9.1f ms\n", now_ms() - t0);
  }
  // Interleaved rounds (untiled GEMMs, then per tile size the GEMMs alone and the fused kernel), so
  // that load from other processes falls on every variant alike; the best time of each is printed.
  const int rounds = 2;
  std::vector<double> best(1 + 2 * tiles.size(), 1e300);
  std::vector<float> logits(size_t(T * V));
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
      grpo_loss_fused(in, cfg, {logp.data(), dh.data()}, tiles[i]);
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
