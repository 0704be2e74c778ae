// Fast CPU kernel for the fused log-prob + ioGRPO-mKL loss (see spogw/grpo_loss.h for the algorithm and
// shapes). Its input checks are in grpo_loss_validate.cc; the plain reference is in grpo_loss_reference.cc.
//
// Where the time goes (docs/benchmarks.md): the two products (4 T d V flop) dominate; both are our own
// kernels (lm_head_logits.h), split over threads by vocabulary chunks (logits) or by columns of dHidden
// (backward), and each packs lmHead once per tile, which is why tiles are large (grpo_loss.h). The row
// pass sweeps each row three times, 512 columns at a time (max; exp + sum, storing the exponentials in
// place; scale into dlogits) and measures under 1%. The log-prob kernel needs no tile: it keeps each
// chunk's logits only long enough to take its max and sum.
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
#include "spogw/lm_head_logits.h"
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

// Vocabulary columns per chunk: the unit of the row passes' log-sum-exp (each chunk's max and sum of
// exponentials, combined in float64 in chunk order) and of the work split over threads. Chunk
// boundaries are multiples of it from column 0 whatever the call, so a row's log-prob is the same bits
// in every call (with lm_head_logits' per-value contract, a row's result depends on that row alone).
constexpr int64_t kVocabChunk = 512;

int64_t vocab_chunks(int64_t V) { return (V + kVocabChunk - 1) / kVocabChunk; }

// One chunk's part of a row's log-sum-exp: its max m and sum_j exp(z_j - m) (float lanes, then a double).
struct ChunkStat {
  float max;
  double sum;
};

// With kStore, the exponentials exp(z_j - m) replace z (the backward then only rescales them).
template <bool kStore>
ChunkStat chunk_stat(float* z, int64_t w) {
  float lane[kLanes];
  for (int j = 0; j < kLanes; j++) lane[j] = -INFINITY;
  int64_t i = 0;
  for (; i + kLanes <= w; i += kLanes)
    for (int j = 0; j < kLanes; j++) lane[j] = z[i + j] > lane[j] ? z[i + j] : lane[j];
  float mx = -INFINITY;
  for (int j = 0; j < kLanes; j++) mx = lane[j] > mx ? lane[j] : mx;
  for (; i < w; i++) mx = z[i] > mx ? z[i] : mx;
  float part[kLanes] = {};
  i = 0;
  for (; i + kLanes <= w; i += kLanes)
    for (int j = 0; j < kLanes; j++) {
      const float ex = exp_nonpositive(z[i + j] - mx);
      if (kStore) z[i + j] = ex;
      part[j] += ex;
    }
  double sum = 0.0;
  for (int j = 0; j < kLanes; j++) sum += part[j];
  for (; i < w; i++) {
    const float ex = exp_nonpositive(z[i] - mx);
    if (kStore) z[i] = ex;
    sum += ex;
  }
  return {mx, sum};
}

// A row's log-sum-exp from its chunks: lse = max + log(sum), the chunks combined in order in float64.
struct RowLse {
  float max;
  double sum;
  float log_prob(float z_target) const { return (z_target - max) - float(std::log(sum)); }
};

RowLse combine_chunks(const ChunkStat* stats, int64_t chunks) {
  float mx = -INFINITY;
  for (int64_t c = 0; c < chunks; c++) mx = std::max(mx, stats[c].max);
  double sum = 0.0;
  for (int64_t c = 0; c < chunks; c++) sum += stats[c].sum * std::exp(double(stats[c].max) - double(mx));
  return {mx, sum};
}

// Calls fn(v0, v1, W) for the vocabulary in chunks of kVocabChunk rows, spread over threads, with W the
// float32 rows [v0, v1) of the output matrix: lm_head itself, or a block that rows->fill wrote (blocks
// of a whole number of chunks, filled on this thread, since fill may use parallel_for itself).
void for_each_vocab_chunk(const float* lm_head, const LmHeadRows* rows, int64_t d, int64_t V, std::vector<float>& block,
                          const std::function<void(int64_t v0, int64_t v1, const float* W)>& fn) {
  const auto run = [&](int64_t b0, int64_t b1, const float* W) {
    parallel_for((b1 - b0 + kVocabChunk - 1) / kVocabChunk, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; c++) {
        const int64_t v0 = b0 + c * kVocabChunk, v1 = std::min(b1, v0 + kVocabChunk);
        fn(v0, v1, W + (v0 - b0) * d);
      }
    });
  };
  if (rows == nullptr) return run(0, V, lm_head);
  const int64_t block_rows = std::max<int64_t>(1, rows->block_rows / kVocabChunk) * kVocabChunk;
  block.resize(size_t(std::min(V, block_rows) * d));
  for (int64_t b0 = 0; b0 < V; b0 += block_rows) {
    const int64_t b1 = std::min(V, b0 + block_rows);
    rows->fill(b0, b1, block.data());
    run(b0, b1, block.data());
  }
}

// Z [n, V] = alpha hidden [n, d] lmHead^T: lm_head_logits over vocabulary chunks, or the head's own
// product when it has one (LmHeadRows::logits).
void times_lm_head_t(const float* hidden, int64_t n, int64_t d, int64_t V, float alpha, const float* lm_head, const LmHeadRows* rows,
                     std::vector<float>& block, float* Z) {
  if (rows != nullptr && rows->logits) {
    rows->logits(hidden, n, Z);
    if (alpha != 1.0f)
      parallel_for(n * V, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; i++) Z[i] *= alpha;
      });
    return;
  }
  for_each_vocab_chunk(lm_head, rows, d, V, block, [&](int64_t v0, int64_t v1, const float* W) {
    lm_head_logits(hidden, n, d, W, v1 - v0, alpha, Z + v0, V);
  });
}

// dH [n, d] = G [n, V] lmHead: lm_head_backprop with the columns of dH split over threads, on lm_head
// itself or block by block of its rows (each block's chains continue the last one's).
void times_lm_head(const float* G, int64_t n, int64_t d, int64_t V, const float* lm_head, const LmHeadRows* rows, std::vector<float>& block,
                   float* dH) {
  const int64_t panels = (d + 31) / 32;
  const auto run = [&](int64_t b0, int64_t b1, const float* W) {
    parallel_for(panels, [&](int64_t p0, int64_t p1) {
      lm_head_backprop(G + b0, n, V, W, b1 - b0, d, p0 * 32, std::min(d, p1 * 32), b0 > 0, dH);
    });
  };
  if (rows == nullptr) return run(0, V, lm_head);
  block.resize(size_t(std::min(V, rows->block_rows) * d));
  for (int64_t b0 = 0; b0 < V; b0 += rows->block_rows) {
    const int64_t b1 = std::min(V, b0 + rows->block_rows);
    rows->fill(b0, b1, block.data());
    run(b0, b1, block.data());
  }
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
  const int64_t chunks = vocab_chunks(V);
  std::vector<ChunkStat> stats(size_t(rows * chunks));

  // Response index of every token, so rows can be processed in any order.
  std::vector<int32_t> seq_of(static_cast<size_t>(T));
  for (int64_t i = 0; i < in.S; i++)
    for (int64_t t = in.seq_starts[i]; t < in.seq_starts[i + 1]; t++) seq_of[size_t(t)] = int32_t(i);

  const GrpoTokenParams params = grpo_token_params(cfg);
  const float inv_temp = 1.0f / cfg.temperature;
  std::vector<float> lm_block;  // one block of lmHead rows when they come from in.lm_head_rows
  GrpoLossSums sums;
  for (int64_t t0 = 0; t0 < T; t0 += rows) {
    const int64_t n = std::min(rows, T - t0);
    float* Z = tile.get();
    // Z = hidden_tile lmHead^T / temperature: the temperature rides on the product's alpha.
    times_lm_head_t(in.hidden + t0 * d, n, d, V, inv_temp, in.lm_head, in.lm_head_rows, lm_block, Z);
    parallel_for(n, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; r++) {
        const int64_t t = t0 + r;
        float* z = Z + r * V;
        ChunkStat* stat = stats.data() + r * chunks;
        const int32_t target = in.targets[t];
        const float z_target = z[target];
        for (int64_t c = 0; c < chunks; c++)  // z now holds exp(z - chunk max), chunk by chunk
          stat[c] = chunk_stat<true>(z + c * kVocabChunk, std::min(kVocabChunk, V - c * kVocabChunk));
        const RowLse lse = combine_chunks(stat, chunks);
        const float logp = lse.log_prob(z_target);
        out.logp[t] = logp;
        const int32_t s = seq_of[size_t(t)];
        const GrpoToken tok = grpo_token(logp, in.old_logp[t], in.ref_logp[t], in.advantages[s],
                                         in.seq_weights[s], params);
        tokens[size_t(r)] = tok;
        // dlogits_raw = g (onehot - softmax) / T, written over the exponentials: softmax_j =
        // e_j exp(chunk max - max) / sum. Products below the smallest normal float are flushed to 0:
        // they cannot change dHidden in float32, and subnormal operands can slow the GEMM that reads
        // them by orders of magnitude on some CPUs.
        const float g_over_t = tok.dloss_dlogp * inv_temp;
        for (int64_t c = 0; c < chunks; c++) {
          const float scale = float(-double(g_over_t) * std::exp(double(stat[c].max) - double(lse.max)) / lse.sum);
          float* zc = z + c * kVocabChunk;
          const int64_t w = std::min(kVocabChunk, V - c * kVocabChunk);
          for (int64_t j = 0; j < w; j++) {
            const float v = zc[j] * scale;
            zc[j] = std::fabs(v) < FLT_MIN ? 0.0f : v;
          }
        }
        z[target] += g_over_t;
      }
    });
    // dHidden_tile = dlogits lmHead.
    times_lm_head(Z, n, d, V, in.lm_head, in.lm_head_rows, lm_block, out.d_hidden + t0 * d);
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

namespace {

// Rows per pass of the log-prob kernel: bounds its scratch (each thread's [rows x kVocabChunk] logits,
// 2 MiB, and the rows' chunk stats) whatever T is; rows are independent, so the split changes no bits.
constexpr int64_t kLogprobRows = 1024;

void selective_logprobs_chunked(const float* hidden, const float* lm_head, const LmHeadRows* lm_rows, const int32_t* targets,
                                int64_t T, int64_t d, int64_t V, float temperature, float* out, int64_t tile_rows) {
  const float inv_temp = 1.0f / temperature;
  const int64_t chunks = vocab_chunks(V);
  std::vector<float> lm_block;
  const bool own_product = lm_rows != nullptr && lm_rows->logits;
  // The head's own product (LmHeadRows::logits) writes whole rows: those go through a [rows x V] tile.
  const int64_t rows = tile_rows > 0 ? std::min(tile_rows, T) : own_product ? grpo_tile_rows(T, V, kGrpoTileBudgetBytes) : std::min(T, kLogprobRows);
  std::unique_ptr<float[]> tile = own_product ? alloc_tile("selectiveLogprobs", rows, V) : nullptr;
  std::vector<ChunkStat> stats(size_t(rows * chunks));
  std::vector<float> z_target(static_cast<size_t>(rows));
  for (int64_t t0 = 0; t0 < T; t0 += rows) {
    const int64_t n = std::min(rows, T - t0);
    const float* H = hidden + t0 * d;
    const int32_t* tg = targets + t0;
    if (own_product) {
      times_lm_head_t(H, n, d, V, inv_temp, lm_head, lm_rows, lm_block, tile.get());
      parallel_for(n, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; r++) {
          float* z = tile.get() + r * V;
          z_target[size_t(r)] = z[tg[r]];
          for (int64_t c = 0; c < chunks; c++)
            stats[size_t(r * chunks + c)] = chunk_stat<false>(z + c * kVocabChunk, std::min(kVocabChunk, V - c * kVocabChunk));
        }
      });
    } else {
      for_each_vocab_chunk(lm_head, lm_rows, d, V, lm_block, [&](int64_t v0, int64_t v1, const float* W) {
        thread_local std::vector<float> zc;  // this chunk's logits for the n rows
        zc.resize(size_t(n * kVocabChunk));
        lm_head_logits(H, n, d, W, v1 - v0, inv_temp, zc.data(), kVocabChunk);
        for (int64_t r = 0; r < n; r++) {
          float* z = zc.data() + r * kVocabChunk;
          if (tg[r] >= v0 && tg[r] < v1) z_target[size_t(r)] = z[tg[r] - v0];
          stats[size_t(r * chunks + v0 / kVocabChunk)] = chunk_stat<false>(z, v1 - v0);
        }
      });
    }
    for (int64_t r = 0; r < n; r++) out[t0 + r] = combine_chunks(stats.data() + r * chunks, chunks).log_prob(z_target[size_t(r)]);
  }
}

}  // namespace

void selective_logprobs_unchecked(const float* hidden, const float* lm_head, const int32_t* targets, int64_t T,
                                  int64_t d, int64_t V, float temperature, float* out, int64_t tile_rows) {
  selective_logprobs_chunked(hidden, lm_head, nullptr, targets, T, d, V, temperature, out, tile_rows);
}

void selective_logprobs_unchecked(const float* hidden, const LmHeadRows& lm_head, const int32_t* targets, int64_t T,
                                  int64_t d, int64_t V, float temperature, float* out, int64_t tile_rows) {
  selective_logprobs_chunked(hidden, nullptr, &lm_head, targets, T, d, V, temperature, out, tile_rows);
}

void grpo_loss_gemms_only(const float* hidden, const float* lm_head, int64_t T, int64_t d, int64_t V,
                          float* d_hidden, int64_t tile_rows) {
  if (T < 1 || d < 1 || V < 1) throw Error("grpo_loss_gemms_only: T, d and V must be >= 1");
  const int64_t rows = tile_rows > 0 ? std::min(tile_rows, T) : grpo_tile_rows(T, V, kGrpoTileBudgetBytes);
  std::unique_ptr<float[]> tile = alloc_tile("grpo_loss_gemms_only", rows, V);
  std::vector<float> unused;  // the block buffer of an LmHeadRows head
  for (int64_t t0 = 0; t0 < T; t0 += rows) {
    const int64_t n = std::min(rows, T - t0);
    times_lm_head_t(hidden + t0 * d, n, d, V, 1.0f, lm_head, nullptr, unused, tile.get());
    times_lm_head(tile.get(), n, d, V, lm_head, nullptr, unused, d_hidden + t0 * d);
  }
}

}  // namespace spogw
