#include "spogw/engine/ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "spogw/engine/ggml_numerics.h"
#include "spogw/engine/ggml_quants.h"
#include "spogw/error.h"
#include "spogw/gemm.h"
#include "spogw/threads.h"

namespace spogw {

// ------------------------------------------------------------------------------------------------
// Embedding

void embedding_forward(const float* table, int64_t d, const int32_t* tokens, int64_t T, float* out) {
  for (int64_t t = 0; t < T; t++) std::memcpy(out + t * d, table + int64_t(tokens[t]) * d, size_t(d) * sizeof(float));
}

// Threads split the columns, so a token repeated in the sequence is never written by two threads.
void embedding_backward(const float* dy, const int32_t* tokens, int64_t T, int64_t d, float* dtable) {
  parallel_for(d, [&](int64_t i0, int64_t i1) {
    for (int64_t t = 0; t < T; t++) {
      float* row = dtable + int64_t(tokens[t]) * d;
      for (int64_t i = i0; i < i1; i++) row[i] += dy[t * d + i];
    }
  });
}

// ------------------------------------------------------------------------------------------------
// RMSNorm

void rmsnorm_forward(const float* x, const float* w, int64_t T, int64_t d, float eps, float* y, float* rstd) {
  parallel_for(T, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; t++) {
      const float* xr = x + t * d;
      double ss = 0.0;
      // ggml rounds each square to float before the double sum.
      for (int64_t i = 0; i < d; i++) ss += double(xr[i] * xr[i]);
      const float rs = 1.0f / std::sqrt(float(ss / double(d)) + eps);
      rstd[t] = rs;
      float* yr = y + t * d;
      for (int64_t i = 0; i < d; i++) yr[i] = xr[i] * rs * w[i];
    }
  });
}

// With g = dy * w and n = x * rstd: dx = rstd * (g - n * mean(g * n)).
void rmsnorm_backward(const float* dy, const float* x, const float* w, const float* rstd, int64_t T, int64_t d, float* dx) {
  parallel_for(T, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; t++) {
      const float* dyr = dy + t * d;
      const float* xr = x + t * d;
      const float rs = rstd[t];
      double dot = 0.0;
      for (int64_t i = 0; i < d; i++) dot += double(dyr[i]) * w[i] * xr[i] * rs;
      const float mean = float(dot / double(d));
      float* dxr = dx + t * d;
      for (int64_t i = 0; i < d; i++) dxr[i] = rs * (dyr[i] * w[i] - xr[i] * rs * mean);
    }
  });
}

// ------------------------------------------------------------------------------------------------
// RoPE

void rope_table(RopeTable& table, int64_t T, int64_t n_rot, float base) {
  const int64_t half = n_rot / 2;
  if (table.T >= T && table.half == half && !table.cos.empty()) return;
  table.T = T;
  table.half = half;
  table.cos.resize(size_t(T * half));
  table.sin.resize(size_t(T * half));
  const float theta_scale = std::pow(base, -2.0f / float(n_rot));
  for (int64_t p = 0; p < T; p++) {
    float theta = float(p);
    for (int64_t i = 0; i < half; i++) {
      table.cos[size_t(p * half + i)] = std::cos(theta);
      table.sin[size_t(p * half + i)] = std::sin(theta);
      theta *= theta_scale;
    }
  }
}

namespace {

// Rotates each (first, second) pair of every head by +angle (sign = 1) or -angle (sign = -1).
void rope_apply(float* x, int64_t T, int64_t heads, int64_t hd, const RopeTable& tab, RopeMode mode, float sign,
                const int32_t* positions) {
  const int64_t half = tab.half;
  parallel_for(T, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; t++) {
      const int64_t p = positions ? positions[t] : t;
      const float* c = tab.cos.data() + p * half;
      const float* s = tab.sin.data() + p * half;
      for (int64_t h = 0; h < heads; h++) {
        float* v = x + t * heads * hd + h * hd;
        for (int64_t i = 0; i < half; i++) {
          const int64_t a = mode == RopeMode::kNorm ? 2 * i : i;
          const int64_t b = mode == RopeMode::kNorm ? 2 * i + 1 : i + half;
          const float x0 = v[a], x1 = v[b], sn = sign * s[i];
          // ggml's compiler fuses the first product of each line into an FMA (measured against
          // its rope kernel in native/dev/ggml); the same operations here give the same bits.
          v[a] = std::fma(x0, c[i], -(x1 * sn));
          v[b] = std::fma(x0, sn, x1 * c[i]);
        }
      }
    }
  });
}

// The angle table must cover every row's position: checked once per call, O(T), before any work.
void check_rope_positions(int64_t T, const RopeTable& tab, const int32_t* positions) {
  for (int64_t t = 0; t < T; t++) {
    const int64_t p = positions ? positions[t] : t;
    if (p < 0 || p >= tab.T)
      throw Error("rope: row " + std::to_string(t) + " is at position " + std::to_string(p) + ", outside the angle table [0, " +
                  std::to_string(tab.T) + ")");
  }
}

}  // namespace

void rope_forward(float* x, int64_t T, int64_t heads, int64_t hd, const RopeTable& tab, RopeMode mode, const int32_t* positions) {
  check_rope_positions(T, tab, positions);
  rope_apply(x, T, heads, hd, tab, mode, 1.0f, positions);
}

void rope_backward(float* dx, int64_t T, int64_t heads, int64_t hd, const RopeTable& tab, RopeMode mode, const int32_t* positions) {
  check_rope_positions(T, tab, positions);
  rope_apply(dx, T, heads, hd, tab, mode, -1.0f, positions);
}

// ------------------------------------------------------------------------------------------------
// Attention
//
// The forward follows llama.cpp's non-flash path with an F32 KV cache, value for value: scores
// k_j . q_t by ggml_vec_dot_f32, times the scale; softmax with ggml_v_expf over 16-wide blocks and a
// double sum; out = P V by tinyBLAS over the (transposed) value cache. llama.cpp's rows run over the
// whole KV window (a multiple of 256 cells) with masked cells exp'ing to exactly 0, which adds nothing
// to any sum; here rows stop at the causal limit, padded with zeros to whole 64-float steps.

namespace {

int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

// P = softmax(q_h k_g^T * scale) with the causal mask (query row t, at position past + t, sees key
// columns 0..past + t); P is [T, ldp], zero beyond the causal limit.
void attention_probs(const float* q, const float* k, AttnShape s, int64_t h, float* P, int64_t ldp) {
  const int64_t g = h / (s.H / s.KV);
  const float scale = 1.0f / std::sqrt(float(s.hd));
  // With one head and a batch, q is contiguous and ggml hands the product to tinyBLAS.
  const bool tinyblas = s.H == 1 && s.batched() && s.hd % ggml::lanes() == 0;
  // Otherwise each score is one ggml_vec_dot_f32; with AVX-512 and hd % 64 == 0, 16 keys per step on
  // the keys transposed (the same bits: ggml_numerics.h). One call per pair was 11% of a shared-prompt
  // backward's CPU time (perf, bench update's shape).
  const bool keys16 = !tinyblas && ggml::keys_at_once(s.hd);
  const int64_t n = s.kv_rows(), ldkt = round_up(n, 16);
  AlignedFloats kt(keys16 ? size_t(s.hd * ldkt) : 0, 0.0f);
  if (keys16)
    for (int64_t j = 0; j < n; j++)
      for (int64_t e = 0; e < s.hd; e++) kt[size_t(e * ldkt + j)] = k[j * s.KV * s.hd + g * s.hd + e];
  // Row t costs O(past + t): rows are dealt from both ends so that contiguous chunks weigh the same.
  parallel_for(s.T, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i++) {
      const int64_t t = i % 2 == 0 ? i / 2 : s.T - 1 - i / 2;
      const int64_t last = s.past + t;
      float* row = P + t * ldp;
      const float* qt = q + t * s.H * s.hd + h * s.hd;
      float mx = -std::numeric_limits<float>::infinity();
      if (keys16) {
        ggml::dot_vec_f32_keys(qt, kt.data(), ldkt, last + 1, s.hd, row);
        for (int64_t j = 0; j <= last; j++) {
          row[j] *= scale;
          mx = std::max(mx, row[j]);
        }
      } else {
        for (int64_t j = 0; j <= last; j++) {
          const float* kj = k + j * s.KV * s.hd + g * s.hd;
          row[j] = (tinyblas ? ggml::dot_tinyblas(kj, qt, s.hd) : ggml::dot_vec_f32(kj, qt, s.hd)) * scale;
          mx = std::max(mx, row[j]);
        }
      }
      const double sum = ggml::exp_blocks(row, last + 1, mx);
      const float inv = float(1.0 / sum);
      for (int64_t j = 0; j <= last; j++) row[j] *= inv;
      std::fill(row + last + 1, row + ldp, 0.0f);
    }
  });
}

}  // namespace

void attention_forward(const float* q, const float* k, const float* v, AttnShape s, float* out, AlignedFloats& scratch) {
  const int64_t n = s.kv_rows(), ldp = round_up(n, 64);
  scratch.resize(size_t((s.T + s.hd) * ldp));
  float* P = scratch.data();  // every row written in full by attention_probs
  float* Vt = P + s.T * ldp;  // the value cache as llama.cpp stores it: [hd, positions], zero-padded
  for (int64_t i = 0; i < s.hd; i++) std::fill(Vt + i * ldp + n, Vt + (i + 1) * ldp, 0.0f);
  for (int64_t h = 0; h < s.H; h++) {
    const int64_t g = h / (s.H / s.KV);
    if (h % (s.H / s.KV) == 0)
      for (int64_t j = 0; j < n; j++)
        for (int64_t i = 0; i < s.hd; i++) Vt[i * ldp + j] = v[j * s.KV * s.hd + g * s.hd + i];
    attention_probs(q, k, s, h, P, ldp);
    ggml::mul_mat_causal(Vt, s.hd, ldp, P, s.T, ldp, s.past, s.batched(), out + h * s.hd, s.H * s.hd);
  }
}

// With P the probabilities and dP = dout_h v_g^T: dS = P * (dP - rowsum(dP * P)), dq_h = dS k_g * scale,
// dk_g += dS^T q_h * scale, dv_g += P^T dout_h. P and dP are [T, past + T].
void attention_backward(const float* dout, const float* q, const float* k, const float* v, AttnShape s, float* dq,
                        float* dk, float* dv, AlignedFloats& scratch) {
  const int64_t n = s.kv_rows();
  scratch.resize(size_t(2 * s.T * n));
  float* P = scratch.data();
  float* dP = P + s.T * n;
  const float scale = 1.0f / std::sqrt(float(s.hd));
  std::fill(dk, dk + n * s.KV * s.hd, 0.0f);
  std::fill(dv, dv + n * s.KV * s.hd, 0.0f);
  for (int64_t h = 0; h < s.H; h++) {
    const int64_t g = h / (s.H / s.KV);
    attention_probs(q, k, s, h, P, n);
    gemm(false, true, s.T, n, s.hd, 1.0f, dout + h * s.hd, s.H * s.hd, v + g * s.hd, s.KV * s.hd, 0.0f, dP, n);
    gemm(true, false, n, s.hd, s.T, 1.0f, P, n, dout + h * s.hd, s.H * s.hd, 1.0f, dv + g * s.hd, s.KV * s.hd);
    parallel_for(s.T, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; t++) {
        const int64_t last = s.past + t;
        float* pr = P + t * n;
        float* dpr = dP + t * n;
        double dot = 0.0;
        for (int64_t j = 0; j <= last; j++) dot += double(pr[j]) * dpr[j];
        for (int64_t j = 0; j <= last; j++) dpr[j] = pr[j] * (dpr[j] - float(dot));
        for (int64_t j = last + 1; j < n; j++) dpr[j] = 0.0f;
      }
    });
    gemm(false, false, s.T, s.hd, n, scale, dP, n, k + g * s.hd, s.KV * s.hd, 0.0f, dq + h * s.hd, s.H * s.hd);
    gemm(true, false, n, s.hd, s.T, scale, dP, n, q + h * s.hd, s.H * s.hd, 1.0f, dk + g * s.hd, s.KV * s.hd);
  }
}

// ------------------------------------------------------------------------------------------------
// Tree attention (group_layout.h)

namespace {

// Response r's keys or values as its item has them: the prompt's P rows, then the response's own.
void gather_item_rows(const float* x, const GroupLayout& g, const GroupResponse& r, int64_t width, std::vector<float>& out) {
  out.resize(size_t((g.prompt_rows + r.length) * width));
  std::memcpy(out.data(), x, size_t(g.prompt_rows * width) * sizeof(float));
  std::memcpy(out.data() + g.prompt_rows * width, x + r.row * width, size_t(r.length * width) * sizeof(float));
}

// The prompt's rows as a piece of the group's first item: the paths of a sequence of P + n_0 rows.
AttnShape prompt_shape(const GroupLayout& g, AttnHeads a) {
  AttnShape s{g.prompt_rows, a.H, a.KV, a.hd};
  if (!g.responses.empty()) s.item_rows = g.prompt_rows + g.responses.front().length;
  return s;
}

AttnShape response_shape(const GroupLayout& g, const GroupResponse& r, AttnHeads a) {
  AttnShape s{r.length, a.H, a.KV, a.hd};
  s.past = g.prompt_rows;
  return s;
}

}  // namespace

void tree_attention_forward(const float* q, const float* k, const float* v, const GroupLayout& g, AttnHeads a, float* out,
                            TreeAttnScratch& scratch) {
  const int64_t qd = a.H * a.hd, kvd = a.KV * a.hd;
  attention_forward(q, k, v, prompt_shape(g, a), out, scratch.attn);
  for (const GroupResponse& r : g.responses) {
    gather_item_rows(k, g, r, kvd, scratch.k);
    gather_item_rows(v, g, r, kvd, scratch.v);
    attention_forward(q + r.row * qd, scratch.k.data(), scratch.v.data(), response_shape(g, r, a), out + r.row * qd, scratch.attn);
  }
}

void tree_attention_backward(const float* dout, const float* q, const float* k, const float* v, const GroupLayout& g, AttnHeads a,
                             float* dq, float* dk, float* dv, TreeAttnScratch& scratch) {
  const int64_t qd = a.H * a.hd, kvd = a.KV * a.hd, P = g.prompt_rows;
  attention_backward(dout, q, k, v, prompt_shape(g, a), dq, dk, dv, scratch.attn);
  for (const GroupResponse& r : g.responses) {
    gather_item_rows(k, g, r, kvd, scratch.k);
    gather_item_rows(v, g, r, kvd, scratch.v);
    const int64_t n = (P + r.length) * kvd;
    scratch.dk.resize(size_t(n));
    scratch.dv.resize(size_t(n));
    attention_backward(dout + r.row * qd, q + r.row * qd, scratch.k.data(), scratch.v.data(), response_shape(g, r, a), dq + r.row * qd,
                       scratch.dk.data(), scratch.dv.data(), scratch.attn);
    for (int64_t i = 0; i < P * kvd; i++) {
      dk[i] += scratch.dk[size_t(i)];
      dv[i] += scratch.dv[size_t(i)];
    }
    std::memcpy(dk + r.row * kvd, scratch.dk.data() + P * kvd, size_t(r.length * kvd) * sizeof(float));
    std::memcpy(dv + r.row * kvd, scratch.dv.data() + P * kvd, size_t(r.length * kvd) * sizeof(float));
  }
}

// ------------------------------------------------------------------------------------------------
// SwiGLU

void swiglu_forward(const float* gate, const float* up, int64_t T, int64_t F, float* out) {
  parallel_for(T, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; t++) ggml::swiglu_row(gate + t * F, up + t * F, F, out + t * F);
  });
}

// d silu(g) / dg = sigmoid(g) * (1 + g * (1 - sigmoid(g))).
void swiglu_backward(const float* dout, const float* gate, const float* up, int64_t n, float* dgate, float* dup) {
  parallel_for(n, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i++) {
      const float g = gate[i];
      const float sg = 1.0f / (1.0f + std::exp(-g));
      dup[i] = dout[i] * g * sg;
      dgate[i] = dout[i] * up[i] * sg * (1.0f + g * (1.0f - sg));
    }
  });
}

// ------------------------------------------------------------------------------------------------
// Linear + LoRA

void frozen_matmul(const float* x, int64_t T, int64_t n_in, int64_t n_out, const FrozenWeight& W, float* y, std::vector<float>& scratch) {
  if (!W.quant.empty()) {
    // Q4_0 .. Q6_K: activations quantized to the weight's vec-dot type, then llama.cpp's kernel path.
    ggml::QuantizedActs acts;
    ggml::quantize_acts(x, T, n_in, ggml::act_quant_for(W.quant.type), acts);
    ggml::mul_mat_quant(W.quant, ggml::quant_path(W.quant.type, n_out), acts, y, n_out);
    return;
  }
  switch (W.rounding) {
    case InputRounding::kNone:
      ggml::mul_mat(W.data(), n_out, n_in, x, T, ggml::DotType::kF32, y, n_out);
      return;
    case InputRounding::kF16:
    case InputRounding::kBF16:
      scratch.resize(size_t(T * n_in));
      round_inputs(x, T, n_in, W.rounding, scratch.data());
      ggml::mul_mat(W.data(), n_out, n_in, scratch.data(), T, W.rounding == InputRounding::kF16 ? ggml::DotType::kF16 : ggml::DotType::kBF16,
                    y, n_out);
      return;
    case InputRounding::kQ8_0: {
      const int64_t n = T * n_in;
      std::vector<int8_t> q(static_cast<size_t>(n));
      std::vector<float> d(size_t(n / 32));
      ggml::quantize_q8_0(x, n, q.data(), d.data());
      ggml::mul_mat_q8_0({W.q8.data(), W.q8_scale.data()}, n_out, n_in, {q.data(), d.data()}, T, y, n_out);
      return;
    }
    case InputRounding::kQ8_K:
      throw Error("internal: a Q8_K-rounded weight without blocks");
  }
}

void linear_forward(const float* x, int64_t T, int64_t n_in, int64_t n_out, const FrozenWeight& W, const float* bias,
                    const LoraRef& lora, float* y, float* xa, std::vector<float>& scratch) {
  frozen_matmul(x, T, n_in, n_out, W, y, scratch);
  // llama.cpp's build_lora_mm: y = W x + scale * (B (A x)), then the bias.
  if (lora.active()) {
    ggml::mul_mat(lora.A, lora.r, n_in, x, T, ggml::DotType::kF32, xa, lora.r);
    scratch.resize(size_t(T * n_out));
    float* ab = scratch.data();
    ggml::mul_mat(lora.B, n_out, lora.r, xa, T, ggml::DotType::kF32, ab, n_out);
    for (int64_t i = 0; i < T * n_out; i++) y[i] += ab[i] * lora.scale;
  }
  if (bias) {
    parallel_for(T, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; t++)
        for (int64_t o = 0; o < n_out; o++) y[t * n_out + o] += bias[o];
    });
  }
}

namespace {

// Rows of a frozen weight dequantised per block of the input gradient's product: about this many bytes
// of float32 scratch, whatever the matrix size.
constexpr int64_t kDequantBlockBytes = int64_t(8) << 20;

}  // namespace

void frozen_input_grad(const float* dy, int64_t T, int64_t n_in, int64_t n_out, const FrozenWeight& W, float* dx, bool accumulate,
                       std::vector<float>& scratch) {
  if (W.data() != nullptr) {
    gemm(false, false, T, n_in, n_out, 1.0f, dy, n_out, W.data(), n_in, accumulate ? 1.0f : 0.0f, dx, n_in);
    return;
  }
  // dx = dy W one block of W's rows at a time: dx += dy[:, r0:r1] W[r0:r1, :].
  const int64_t block = std::max<int64_t>(1, std::min(n_out, kDequantBlockBytes / int64_t(sizeof(float)) / n_in));
  scratch.resize(size_t(block * n_in));
  for (int64_t r0 = 0; r0 < n_out; r0 += block) {
    const int64_t r1 = std::min(n_out, r0 + block);
    W.dequantize_rows(r0, r1, scratch.data());
    gemm(false, false, T, n_in, r1 - r0, 1.0f, dy + r0, n_out, scratch.data(), n_in, accumulate || r0 > 0 ? 1.0f : 0.0f, dx, n_in);
  }
}

void linear_backward(const float* dy, const float* x, const float* xa, int64_t T, int64_t n_in, int64_t n_out,
                     const FrozenWeight& W, const LoraRef& lora, float* dx, bool accumulate_dx, std::vector<float>& tmp) {
  frozen_input_grad(dy, T, n_in, n_out, W, dx, accumulate_dx, tmp);
  if (!lora.active()) return;
  tmp.resize(size_t(T * lora.r));
  float* dyB = tmp.data();  // dy B: [T, r]
  gemm(false, false, T, lora.r, n_out, 1.0f, dy, n_out, lora.B, lora.r, 0.0f, dyB, lora.r);
  gemm(false, false, T, n_in, lora.r, lora.scale, dyB, lora.r, lora.A, n_in, 1.0f, dx, n_in);
  if (lora.gB) gemm(true, false, n_out, lora.r, T, lora.scale, dy, n_out, xa, lora.r, 1.0f, lora.gB, lora.r);
  if (lora.gA) gemm(true, false, lora.r, n_in, T, lora.scale, dyB, lora.r, x, n_in, 1.0f, lora.gA, n_in);
}

}  // namespace spogw
