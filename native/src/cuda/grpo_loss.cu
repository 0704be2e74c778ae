// loss.h (device pointers, for the CUDA engine) and grpo_loss.h's CUDA entry points (host pointers,
// for the addon's grpoLoss/selectiveLogprobs), which copy their inputs to the device once per call.
// Errors (no device, out of memory, a failed launch) throw spogw::Error; nothing aborts.
#include <algorithm>
#include <string>
#include <vector>

#include "loss.h"
#include "ops.h"
#include "portable.cuh"
#include "spogw/grpo_row_math.h"

namespace spogw::gpu {

namespace {

constexpr int kRowThreads = 512;

struct TokenOut {
  float loss, kl, ratio;
  int clipped;  // 1: low, 2: high, 0: neither
};

// One block per row of the tile, in the CPU kernel's arithmetic: e_j = exp(z_j - max), their sum in
// float64, logp = (z_target - max) - log(sum). kBackward: the token math, then the dlogits
// g (onehot - e / sum) / T, written in place into Z (dtile == nullptr) or into dtile as F16/BF16 times
// 2^k, with k from |g / T| (every dlogit is at most that in magnitude), and 2^-k into row_scale.
template <bool kBackward>
__global__ void row_kernel(float* __restrict__ Z, int64_t V, int64_t t0, const int32_t* __restrict__ targets,
                           const int32_t* __restrict__ seq_of, const float* __restrict__ adv, const float* __restrict__ weight,
                           const float* __restrict__ old_logp, const float* __restrict__ ref_logp, GrpoTokenParams params, float inv_temp,
                           float* __restrict__ logp_out, TokenOut* __restrict__ token_out, uint16_t* __restrict__ dtile, bool dtile_bf16,
                           float* __restrict__ row_scale) {
  __shared__ float shared[32];
  __shared__ double shared_sum[32];
  __shared__ float scale_shared, target_add_shared;
  const int64_t t = t0 + blockIdx.x;
  float* z = Z + int64_t(blockIdx.x) * V;
  float mx = -INFINITY;
  for (int64_t j = threadIdx.x; j < V; j += blockDim.x) mx = fmaxf(mx, z[j]);
  mx = block_reduce<true>(mx, shared);
  float part = 0.0f;
  for (int64_t j = threadIdx.x; j < V; j += blockDim.x) part += expf(z[j] - mx);
  const double sum = block_sum_double(double(part), shared_sum);
  const int32_t target = targets[t];
  if (threadIdx.x == 0) {
    const float logp = (z[target] - mx) - float(log(sum));  // read before any thread overwrites z below
    logp_out[t] = logp;
    if (kBackward) {
      const int32_t s = seq_of[t];
      const GrpoToken tok = grpo_token(logp, old_logp[t], ref_logp[t], adv[s], weight[s], params);
      token_out[t] = TokenOut{tok.loss, tok.kl, tok.ratio, tok.clipped_low ? 1 : (tok.clipped_high ? 2 : 0)};
      const float g_over_t = tok.dloss_dlogp * inv_temp;
      int k = 0;
      const float mag = fabsf(g_over_t);
      if (dtile != nullptr && mag > 0.0f && mag <= 3.0e38f) {
        int e = 0;
        frexpf(mag, &e);
        k = 14 - e < -126 ? -126 : (14 - e > 126 ? 126 : 14 - e);
      }
      const float pow2 = ldexpf(1.0f, k);
      scale_shared = float(-double(g_over_t) / sum) * pow2;
      target_add_shared = g_over_t * pow2;
      if (dtile != nullptr) row_scale[blockIdx.x] = ldexpf(1.0f, -k);
    }
  }
  if (!kBackward) return;
  __syncthreads();
  const float scale = scale_shared, target_add = target_add_shared;
  uint16_t* dz = dtile == nullptr ? nullptr : dtile + int64_t(blockIdx.x) * V;
  for (int64_t j = threadIdx.x; j < V; j += blockDim.x) {
    const float v = __fmul_rn(expf(z[j] - mx), scale) + (j == target ? target_add : 0.0f);
    if (dz == nullptr) z[j] = v;
    else dz[j] = dtile_bf16 ? f32_to_bf16(v) : f32_to_f16(v);
  }
}

// Z [rows, V] = input lmHead^T * inv_temp for the rows [t0, t0 + rows) of hidden.
void logits_tile(const float* hidden, int64_t t0, int64_t rows, const DeviceWeight& head, float inv_temp, LossScratch& s) {
  const int64_t d = head.cols, V = head.rows;
  const void* in = product_input(hidden + t0 * d, rows, head, s.input);
  gemm(false, true, rows, V, d, inv_temp, in, d, head.ptr(), d, head.type, 0.0f, s.tile.get(), V);
}

}  // namespace

int64_t loss_tile_rows(int64_t T, int64_t V, DType head, int64_t requested) {
  if (requested > 0) return std::min(requested, T);
  const int64_t row_bytes = V * (4 + (head == DType::kF32 ? 0 : 2));
  return std::max<int64_t>(1, std::min(T, kGrpoCudaTileBudgetBytes / std::max<int64_t>(1, row_bytes)));
}

GrpoLossSums grpo_loss_device(const DeviceLossInputs& in, const DeviceWeight& lm_head, const GrpoLossConfig& cfg, float* logp, float* d_hidden,
                              LossScratch& s, int64_t tile_rows) {
  const int64_t T = in.T, d = lm_head.cols, V = lm_head.rows;
  const int64_t rows = loss_tile_rows(T, V, lm_head.type, tile_rows);
  const bool typed = lm_head.type != DType::kF32;
  s.tile.reserve(checked_mul(rows, V, "logits tile"), "the loss kernel's logits tile");
  if (typed) {
    s.dtile.reserve(rows * V, "the loss kernel's F16/BF16 dlogits tile");
    s.row_scale.reserve(rows, "dlogits scales");
    s.product.reserve(rows * d, "dHidden tile");
  }
  auto* tokens = reinterpret_cast<TokenOut*>(s.tokens.reserve(T * int64_t(sizeof(TokenOut)), "per-token results"));
  const float inv_temp = 1.0f / cfg.temperature;
  for (int64_t t0 = 0; t0 < T; t0 += rows) {
    const int64_t n = std::min(rows, T - t0);
    logits_tile(in.hidden, t0, n, lm_head, inv_temp, s);
    launch("grpo_row_kernel", row_kernel<true>, dim3(unsigned(n)), dim3(kRowThreads), 0, s.tile.get(), V, t0, in.targets, in.seq_of,
           in.advantages, in.seq_weights, in.old_logp, in.ref_logp, grpo_token_params(cfg), inv_temp, logp, tokens,
           typed ? s.dtile.get() : nullptr, lm_head.type == DType::kBF16, typed ? s.row_scale.get() : nullptr);
    if (!typed) {
      gemm(false, false, n, d, V, 1.0f, s.tile.get(), V, lm_head.ptr(), d, DType::kF32, 0.0f, d_hidden + t0 * d, d);
    } else {
      gemm(false, false, n, d, V, 1.0f, s.dtile.get(), V, lm_head.ptr(), d, lm_head.type, 0.0f, s.product.get(), d);
      add_rows_scaled(s.product.get(), s.row_scale.get(), n, d, d_hidden + t0 * d, false);
    }
  }
  std::vector<TokenOut> per_token(static_cast<size_t>(T));
  copy_to_host(per_token.data(), tokens, T * int64_t(sizeof(TokenOut)));
  GrpoLossSums sums;
  for (const TokenOut& tok : per_token) {
    sums.loss += tok.loss;
    sums.kl_sum += tok.kl;
    sums.ratio_sum += tok.ratio;
    sums.clipped_low += tok.clipped == 1;
    sums.clipped_high += tok.clipped == 2;
  }
  sums.tokens = T;
  return sums;
}

void selective_logprobs_device(const float* hidden, const int32_t* targets, int64_t T, const DeviceWeight& lm_head, float temperature,
                               float* logp, LossScratch& s, int64_t tile_rows) {
  const int64_t V = lm_head.rows;
  const int64_t rows = loss_tile_rows(T, V, DType::kF32, tile_rows);
  s.tile.reserve(checked_mul(rows, V, "logits tile"), "the log-prob kernel's logits tile");
  const float inv_temp = 1.0f / temperature;
  for (int64_t t0 = 0; t0 < T; t0 += rows) {
    const int64_t n = std::min(rows, T - t0);
    logits_tile(hidden, t0, n, lm_head, inv_temp, s);
    launch("logprob_row_kernel", row_kernel<false>, dim3(unsigned(n)), dim3(kRowThreads), 0, s.tile.get(), V, t0, targets,
           static_cast<const int32_t*>(nullptr), static_cast<const float*>(nullptr), static_cast<const float*>(nullptr),
           static_cast<const float*>(nullptr), static_cast<const float*>(nullptr), GrpoTokenParams{}, inv_temp, logp,
           static_cast<TokenOut*>(nullptr), static_cast<uint16_t*>(nullptr), false, static_cast<float*>(nullptr));
  }
}

void logits_to_host(const float* hidden, int64_t T, const DeviceWeight& lm_head, float* out, LossScratch& s) {
  const int64_t V = lm_head.rows;
  const int64_t rows = loss_tile_rows(T, V, DType::kF32, 0);
  s.tile.reserve(checked_mul(rows, V, "logits tile"), "the logits tile");
  for (int64_t t0 = 0; t0 < T; t0 += rows) {
    const int64_t n = std::min(rows, T - t0);
    logits_tile(hidden, t0, n, lm_head, 1.0f, s);
    copy_to_host(out + t0 * V, s.tile.get(), n * V * 4);
  }
}

namespace {

// The host-pointer entry points' F32 head: an lmHead array uploaded as it is.
DeviceWeight upload_f32_head(const float* lm_head, int64_t V, int64_t d) {
  DeviceWeight w;
  w.type = DType::kF32;
  w.rows = V;
  w.cols = d;
  w.data.resize(checked_mul(checked_mul(V, d, "lmHead"), 4, "lmHead"), "lmHead");
  w.data.upload(reinterpret_cast<const uint8_t*>(lm_head), V * d * 4);
  return w;
}

template <class T>
Buffer<T> upload(const T* host, int64_t n, const char* what) {
  Buffer<T> b(n, what);
  b.upload(host, n);
  return b;
}

}  // namespace

}  // namespace spogw::gpu

namespace spogw {

const char* grpo_cuda_gemm_name() {
  thread_local std::string name;
  name = gpu::gemm_backend();
  return name.c_str();
}

GrpoLossSums grpo_loss_cuda(const GrpoLossInputs& in, const GrpoLossConfig& cfg, const GrpoLossOutputs& out, int64_t tile_rows) {
  using namespace gpu;
  grpo_loss_validate(in, cfg, out);
  require_device("grpoLoss");
  const int64_t T = in.T, d = in.d, S = in.S;
  std::vector<int32_t> seq_of(static_cast<size_t>(T));
  for (int64_t i = 0; i < S; i++)
    for (int64_t t = in.seq_starts[i]; t < in.seq_starts[i + 1]; t++) seq_of[size_t(t)] = int32_t(i);
  const DeviceWeight head = upload_f32_head(in.lm_head, in.V, d);
  Buffer<float> hidden = upload(in.hidden, T * d, "hidden"), adv = upload(in.advantages, S, "advantages"),
                weights = upload(in.seq_weights, S, "seqWeights"), old_lp = upload(in.old_logp, T, "oldLogp"),
                ref_lp = upload(in.ref_logp, T, "refLogp");
  Buffer<int32_t> targets = upload(in.targets, T, "targets"), seq = upload(seq_of.data(), T, "sequence index");
  Buffer<float> logp(T, "logp"), d_hidden(T * d, "dHidden");
  DeviceLossInputs din{hidden.get(), targets.get(), seq.get(), adv.get(), weights.get(), old_lp.get(), ref_lp.get(), T, S};
  LossScratch scratch;
  const GrpoLossSums sums = grpo_loss_device(din, head, cfg, logp.get(), d_hidden.get(), scratch, tile_rows);
  logp.download(out.logp, T);
  d_hidden.download(out.d_hidden, T * d);
  return sums;
}

void selective_logprobs_cuda(const float* hidden_h, const float* lm_head_h, const int32_t* targets_h, int64_t T, int64_t d, int64_t V,
                             float temperature, float* out, int64_t tile_rows) {
  using namespace gpu;
  selective_logprobs_validate(hidden_h, lm_head_h, targets_h, T, d, V, temperature, out);
  require_device("selectiveLogprobs");
  const DeviceWeight head = upload_f32_head(lm_head_h, V, d);
  Buffer<float> hidden = upload(hidden_h, T * d, "hidden"), logp(T, "logp");
  Buffer<int32_t> targets = upload(targets_h, T, "targets");
  LossScratch scratch;
  selective_logprobs_device(hidden.get(), targets.get(), T, head, temperature, logp.get(), scratch, tile_rows);
  logp.download(out, T);
}

}  // namespace spogw
