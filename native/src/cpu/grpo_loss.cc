// Fast CPU kernel for the fused log-prob + ioGRPO-mKL loss (see spogw/grpo_loss.h for the algorithm and
// shapes). Its input checks are in grpo_loss_validate.cc; the plain reference is in grpo_loss_reference.cc.
//
// Where the time goes (docs/benchmarks.md): the two GEMMs (4 T d V flop) dominate. Tiling costs about
// 20 / rows of their time, because BLAS streams and repacks all of lmHead once per tile and GEMM (the
// reason for the tile budget in grpo_loss.h). The row pass sweeps each row three times (max; exp + sum,
// storing the exponentials in place; scale into dlogits); a row of V floats stays in L2 across the
// sweeps, and the pass measures under 1%. Row passes use parallel_for; the GEMMs use BLAS's own threads
// and are never called from inside parallel_for.
#include "spogw/grpo_loss.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "spogw/error.h"
#include "spogw/gemm.h"
#include "spogw/threads.h"

namespace spogw {

namespace {

constexpr int kLanes = 16;  // one AVX-512 register of floats; the loops below are written per lane so
                            // that g++ vectorises them without -ffast-math

// exp(x) for x <= 0 (the row max is subtracted first), written as branch-free arithmetic so that it
// vectorises: x = n ln2 + r with |r| <= ln2 / 2, exp(r) by its Taylor series to r^7 (truncation error
// below 6e-9 relative), times 2^n assembled in the exponent bits. Inputs below -87 are clamped there
// (exp = 1.6e-38), far below anything that changes a float32 sum of at least 1.
inline float exp_nonpositive(float x) {
  x = x < -87.0f ? -87.0f : x;
  const float log2e = 1.44269504088896341f;
  const float ln2_hi = 0.693145751953125f, ln2_lo = 1.42860682030941723e-6f;
  const float shifter = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer in the low bits
  const float t = x * log2e + shifter;
  const float n = t - shifter;
  const float r = (x - n * ln2_hi) - n * ln2_lo;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  int32_t ni;
  std::memcpy(&ni, &t, sizeof ni);  // low mantissa bits of t hold n (two's complement)
  ni = (ni - 0x4B400000) + 127;     // 0x4B400000 = bits of the shifter; n + bias
  int32_t bits = ni << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

float row_max(const float* z, int64_t n) {
  float lane[kLanes];
  for (int j = 0; j < kLanes; j++) lane[j] = -INFINITY;
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; j++) lane[j] = z[i + j] > lane[j] ? z[i + j] : lane[j];
  float m = -INFINITY;
  for (int j = 0; j < kLanes; j++) m = lane[j] > m ? lane[j] : m;
  for (; i < n; i++) m = z[i] > m ? z[i] : m;
  return m;
}

// sum_j exp(z_j - mx) with float lanes, flushed into a double every block so that the float partial
// sums stay short (V = 151936 in one float accumulator would lose ~1e-5 relative). With `store`, the
// exponentials replace z (the backward then only rescales them).
template <bool kStore>
double row_sum_exp(float* z, int64_t n, float mx) {
  constexpr int64_t kBlock = 2048;
  double total = 0.0;
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t e = std::min(n, b + kBlock);
    float lane[kLanes] = {};
    int64_t i = b;
    for (; i + kLanes <= e; i += kLanes) {
      for (int j = 0; j < kLanes; j++) {
        const float ex = exp_nonpositive(z[i + j] - mx);
        if (kStore) z[i + j] = ex;
        lane[j] += ex;
      }
    }
    double part = 0.0;
    for (int j = 0; j < kLanes; j++) part += lane[j];
    for (; i < e; i++) {
      const float ex = exp_nonpositive(z[i] - mx);
      if (kStore) z[i] = ex;
      part += ex;
    }
    total += part;
  }
  return total;
}

// The [rows x V] scratch tile, uninitialised (the GEMM overwrites it). Running out of memory is an
// error the caller can act on (a smaller tile), not a crash.
std::unique_ptr<float[]> alloc_tile(const char* fn, int64_t rows, int64_t V) {
  const int64_t n = checked_mul(rows, V, "logits tile");
  try {
    return std::unique_ptr<float[]>(new float[size_t(n)]);
  } catch (const std::bad_alloc&) {
    throw Error(std::string(fn) + ": cannot allocate the " + std::to_string(n * 4 / (1 << 20)) + " MiB logits tile (" +
                std::to_string(rows) + " rows x " + std::to_string(V) + "); pass a smaller tileRows");
  }
}

}  // namespace

GrpoLossSums grpo_loss_fused(const GrpoLossInputs& in, const GrpoLossConfig& cfg,
                             const GrpoLossOutputs& out, int64_t tile_rows) {
  grpo_loss_validate(in, cfg, out);
  return grpo_loss_fused_unchecked(in, cfg, out, tile_rows);
}

GrpoLossSums grpo_loss_fused_unchecked(const GrpoLossInputs& in, const GrpoLossConfig& cfg,
                                       const GrpoLossOutputs& out, int64_t tile_rows) {
  const int64_t T = in.T, d = in.d, V = in.V;
  const int64_t rows = tile_rows > 0 ? std::min(tile_rows, T) : grpo_tile_rows(T, V, kGrpoTileBudgetBytes);
  std::unique_ptr<float[]> tile = alloc_tile("grpoLoss", rows, V);
  std::vector<GrpoToken> tokens(static_cast<size_t>(rows));

  // Response index of every token, so rows can be processed in any order.
  std::vector<int32_t> seq_of(static_cast<size_t>(T));
  for (int64_t i = 0; i < in.S; i++)
    for (int64_t t = in.seq_starts[i]; t < in.seq_starts[i + 1]; t++) seq_of[size_t(t)] = int32_t(i);

  const GrpoTokenParams params = grpo_token_params(cfg);
  const float inv_temp = 1.0f / cfg.temperature;
  GrpoLossSums sums;
  for (int64_t t0 = 0; t0 < T; t0 += rows) {
    const int64_t n = std::min(rows, T - t0);
    float* Z = tile.get();
    // Z = hidden_tile lmHead^T / temperature: the temperature rides on the GEMM's alpha.
    gemm(false, true, n, V, d, inv_temp, in.hidden + t0 * d, d, in.lm_head, d, 0.0f, Z, V);
    parallel_for(n, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; r++) {
        const int64_t t = t0 + r;
        float* z = Z + r * V;
        const int32_t target = in.targets[t];
        const float z_target = z[target];
        const float mx = row_max(z, V);
        const double sum = row_sum_exp<true>(z, V, mx);  // z now holds exp(z - mx)
        const float lse_shift = float(std::log(sum));     // lse = mx + lse_shift
        const float logp = (z_target - mx) - lse_shift;
        out.logp[t] = logp;
        const int32_t s = seq_of[size_t(t)];
        const GrpoToken tok = grpo_token(logp, in.old_logp[t], in.ref_logp[t], in.advantages[s],
                                         in.seq_weights[s], params);
        tokens[size_t(r)] = tok;
        // dlogits_raw = g (onehot - e / sum) / T, written over the exponentials. Products below the
        // smallest normal float are flushed to 0: they cannot change dHidden in float32, and subnormal
        // operands can slow the GEMM that reads them by orders of magnitude on some CPUs.
        const float g_over_t = tok.dloss_dlogp * inv_temp;
        const float scale = float(-double(g_over_t) / sum);
        for (int64_t j = 0; j < V; j++) {
          const float v = z[j] * scale;
          z[j] = std::fabs(v) < FLT_MIN ? 0.0f : v;
        }
        z[target] += g_over_t;
      }
    });
    // dHidden_tile = dlogits lmHead.
    gemm(false, false, n, d, V, 1.0f, Z, V, in.lm_head, d, 0.0f, out.d_hidden + t0 * d, d);
    for (int64_t r = 0; r < n; r++) {  // in token order, so the sums do not depend on threads
      const GrpoToken& tok = tokens[size_t(r)];
      sums.loss += tok.loss;
      sums.kl_sum += tok.kl;
      sums.ratio_sum += tok.ratio;
      sums.clipped_low += tok.clipped_low;
      sums.clipped_high += tok.clipped_high;
    }
  }
  sums.tokens = T;
  return sums;
}

void selective_logprobs(const float* hidden, const float* lm_head, const int32_t* targets, int64_t T,
                        int64_t d, int64_t V, float temperature, float* out, int64_t tile_rows) {
  selective_logprobs_validate(hidden, lm_head, targets, T, d, V, temperature, out);
  selective_logprobs_unchecked(hidden, lm_head, targets, T, d, V, temperature, out, tile_rows);
}

void selective_logprobs_unchecked(const float* hidden, const float* lm_head, const int32_t* targets, int64_t T,
                                  int64_t d, int64_t V, float temperature, float* out, int64_t tile_rows) {
  const int64_t rows = tile_rows > 0 ? std::min(tile_rows, T) : grpo_tile_rows(T, V, kGrpoTileBudgetBytes);
  std::unique_ptr<float[]> tile = alloc_tile("selectiveLogprobs", rows, V);
  const float inv_temp = 1.0f / temperature;
  for (int64_t t0 = 0; t0 < T; t0 += rows) {
    const int64_t n = std::min(rows, T - t0);
    float* Z = tile.get();
    gemm(false, true, n, V, d, inv_temp, hidden + t0 * d, d, lm_head, d, 0.0f, Z, V);
    parallel_for(n, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; r++) {
        float* z = Z + r * V;
        const float mx = row_max(z, V);
        const double sum = row_sum_exp<false>(z, V, mx);
        out[t0 + r] = (z[targets[t0 + r]] - mx) - float(std::log(sum));
      }
    });
  }
}

void grpo_loss_gemms_only(const float* hidden, const float* lm_head, int64_t T, int64_t d, int64_t V,
                          float* d_hidden, int64_t tile_rows) {
  if (T < 1 || d < 1 || V < 1) throw Error("grpo_loss_gemms_only: T, d and V must be >= 1");
  const int64_t rows = tile_rows > 0 ? std::min(tile_rows, T) : grpo_tile_rows(T, V, kGrpoTileBudgetBytes);
  std::unique_ptr<float[]> tile = alloc_tile("grpo_loss_gemms_only", rows, V);
  for (int64_t t0 = 0; t0 < T; t0 += rows) {
    const int64_t n = std::min(rows, T - t0);
    gemm(false, true, n, V, d, 1.0f, hidden + t0 * d, d, lm_head, d, 0.0f, tile.get(), V);
    gemm(false, false, n, d, V, 1.0f, tile.get(), V, lm_head, d, 0.0f, d_hidden + t0 * d, d);
  }
}

}  // namespace spogw
