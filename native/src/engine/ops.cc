#include "spogw/engine/ops.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "spogw/gemm.h"
#include "spogw/threads.h"

namespace spogw {

// ------------------------------------------------------------------------------------------------
// RMSNorm

void rmsnorm_forward(const float* x, const float* w, int64_t T, int64_t d, float eps, float* y, float* rstd) {
  parallel_for(T, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; t++) {
      const float* xr = x + t * d;
      double ss = 0.0;
      for (int64_t i = 0; i < d; i++) ss += double(xr[i]) * xr[i];
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
void rope_apply(float* x, int64_t T, int64_t heads, int64_t hd, const RopeTable& tab, RopeMode mode, float sign) {
  const int64_t half = tab.half;
  parallel_for(T, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; t++) {
      const float* c = tab.cos.data() + t * half;
      const float* s = tab.sin.data() + t * half;
      for (int64_t h = 0; h < heads; h++) {
        float* v = x + t * heads * hd + h * hd;
        for (int64_t i = 0; i < half; i++) {
          const int64_t a = mode == RopeMode::kNorm ? 2 * i : i;
          const int64_t b = mode == RopeMode::kNorm ? 2 * i + 1 : i + half;
          const float x0 = v[a], x1 = v[b], sn = sign * s[i];
          v[a] = x0 * c[i] - x1 * sn;
          v[b] = x0 * sn + x1 * c[i];
        }
      }
    }
  });
}

}  // namespace

void rope_forward(float* x, int64_t T, int64_t heads, int64_t hd, const RopeTable& tab, RopeMode mode) {
  rope_apply(x, T, heads, hd, tab, mode, 1.0f);
}

void rope_backward(float* dx, int64_t T, int64_t heads, int64_t hd, const RopeTable& tab, RopeMode mode) {
  rope_apply(dx, T, heads, hd, tab, mode, -1.0f);
}

// ------------------------------------------------------------------------------------------------
// Attention

namespace {

// P = softmax(q_h k_g^T * scale) with the causal mask (row t sees columns 0..t); P is [T, T].
void attention_probs(const float* q, const float* k, AttnShape s, int64_t h, float* P) {
  const int64_t g = h / (s.H / s.KV);
  const float scale = 1.0f / std::sqrt(float(s.hd));
  gemm(false, true, s.T, s.T, s.hd, scale, q + h * s.hd, s.H * s.hd, k + g * s.hd, s.KV * s.hd, 0.0f, P, s.T);
  parallel_for(s.T, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; t++) {
      float* row = P + t * s.T;
      float mx = -std::numeric_limits<float>::infinity();
      for (int64_t j = 0; j <= t; j++) mx = std::max(mx, row[j]);
      double sum = 0.0;
      for (int64_t j = 0; j <= t; j++) {
        row[j] = std::exp(row[j] - mx);
        sum += row[j];
      }
      const float inv = float(1.0 / sum);
      for (int64_t j = 0; j <= t; j++) row[j] *= inv;
      for (int64_t j = t + 1; j < s.T; j++) row[j] = 0.0f;
    }
  });
}

}  // namespace

void attention_forward(const float* q, const float* k, const float* v, AttnShape s, float* out, std::vector<float>& scratch) {
  scratch.resize(size_t(s.T * s.T));
  float* P = scratch.data();
  for (int64_t h = 0; h < s.H; h++) {
    const int64_t g = h / (s.H / s.KV);
    attention_probs(q, k, s, h, P);
    gemm(false, false, s.T, s.hd, s.T, 1.0f, P, s.T, v + g * s.hd, s.KV * s.hd, 0.0f, out + h * s.hd, s.H * s.hd);
  }
}

// With P the probabilities and dP = dout_h v_g^T: dS = P * (dP - rowsum(dP * P)), dq_h = dS k_g * scale,
// dk_g += dS^T q_h * scale, dv_g += P^T dout_h.
void attention_backward(const float* dout, const float* q, const float* k, const float* v, AttnShape s, float* dq,
                        float* dk, float* dv, std::vector<float>& scratch) {
  scratch.resize(size_t(2 * s.T * s.T));
  float* P = scratch.data();
  float* dP = P + s.T * s.T;
  const float scale = 1.0f / std::sqrt(float(s.hd));
  std::fill(dk, dk + s.T * s.KV * s.hd, 0.0f);
  std::fill(dv, dv + s.T * s.KV * s.hd, 0.0f);
  for (int64_t h = 0; h < s.H; h++) {
    const int64_t g = h / (s.H / s.KV);
    attention_probs(q, k, s, h, P);
    gemm(false, true, s.T, s.T, s.hd, 1.0f, dout + h * s.hd, s.H * s.hd, v + g * s.hd, s.KV * s.hd, 0.0f, dP, s.T);
    gemm(true, false, s.T, s.hd, s.T, 1.0f, P, s.T, dout + h * s.hd, s.H * s.hd, 1.0f, dv + g * s.hd, s.KV * s.hd);
    parallel_for(s.T, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; t++) {
        float* pr = P + t * s.T;
        float* dpr = dP + t * s.T;
        double dot = 0.0;
        for (int64_t j = 0; j <= t; j++) dot += double(pr[j]) * dpr[j];
        for (int64_t j = 0; j <= t; j++) dpr[j] = pr[j] * (dpr[j] - float(dot));
        for (int64_t j = t + 1; j < s.T; j++) dpr[j] = 0.0f;
      }
    });
    gemm(false, false, s.T, s.hd, s.T, scale, dP, s.T, k + g * s.hd, s.KV * s.hd, 0.0f, dq + h * s.hd, s.H * s.hd);
    gemm(true, false, s.T, s.hd, s.T, scale, dP, s.T, q + h * s.hd, s.H * s.hd, 1.0f, dk + g * s.hd, s.KV * s.hd);
  }
}

// ------------------------------------------------------------------------------------------------
// SwiGLU

void swiglu_forward(const float* gate, const float* up, int64_t n, float* out) {
  parallel_for(n, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i++) {
      const float g = gate[i];
      out[i] = g / (1.0f + std::exp(-g)) * up[i];
    }
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

void linear_forward(const float* x, int64_t T, int64_t n_in, int64_t n_out, const float* W, const float* bias,
                    const LoraRef& lora, InputRounding rounding, float* y, float* xa, std::vector<float>& scratch) {
  const float* xin = x;
  if (rounding != InputRounding::kNone) {
    scratch.resize(size_t(T * n_in));
    round_inputs(x, T, n_in, rounding, scratch.data());
    xin = scratch.data();
  }
  gemm(false, true, T, n_out, n_in, 1.0f, xin, n_in, W, n_in, 0.0f, y, n_out);
  if (bias) {
    parallel_for(T, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; t++)
        for (int64_t o = 0; o < n_out; o++) y[t * n_out + o] += bias[o];
    });
  }
  if (lora.active()) {
    gemm(false, true, T, lora.r, n_in, 1.0f, x, n_in, lora.A, n_in, 0.0f, xa, lora.r);
    gemm(false, true, T, n_out, lora.r, lora.scale, xa, lora.r, lora.B, lora.r, 1.0f, y, n_out);
  }
}

void linear_backward(const float* dy, const float* x, const float* xa, int64_t T, int64_t n_in, int64_t n_out,
                     const float* W, const LoraRef& lora, float* dx, bool accumulate_dx, std::vector<float>& tmp) {
  gemm(false, false, T, n_in, n_out, 1.0f, dy, n_out, W, n_in, accumulate_dx ? 1.0f : 0.0f, dx, n_in);
  if (!lora.active()) return;
  tmp.resize(size_t(T * lora.r));
  float* dyB = tmp.data();  // dy B: [T, r]
  gemm(false, false, T, lora.r, n_out, 1.0f, dy, n_out, lora.B, lora.r, 0.0f, dyB, lora.r);
  gemm(false, false, T, n_in, lora.r, lora.scale, dyB, lora.r, lora.A, n_in, 1.0f, dx, n_in);
  if (lora.gB) gemm(true, false, n_out, lora.r, T, lora.scale, dy, n_out, xa, lora.r, 1.0f, lora.gB, lora.r);
  if (lora.gA) gemm(true, false, lora.r, n_in, T, lora.scale, dyB, lora.r, x, n_in, 1.0f, lora.gA, n_in);
}

}  // namespace spogw
