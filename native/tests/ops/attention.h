// Causal grouped-query attention: out_h = softmax(q_h k_g^T / sqrt(hd), causal) v_g, query head h
// reading key/value head g = h / (H / KV); q/out [T, H*hd], k/v [T, KV*hd]. Forward against float64;
// dq, dk, dv against finite differences of the float64 forward.
#pragma once
#include "../test_util.h"
#include "spogw/engine/ops.h"

namespace spogw::test {

// Tolerances (test_util.h): measured errors beside them.
constexpr double kAttentionForwardTol = 1e-6;   // measured 2.2e-7
constexpr double kAttentionBackwardTol = 2e-6;  // measured 5.4e-7 (dq), 4.9e-7 (dk), 3.5e-7 (dv)

struct AttentionOps {
  std::function<void(const float* q, const float* k, const float* v, AttnShape s, float* out)> forward;
  // dq [T, H*hd], dk and dv [T, KV*hd], all overwritten.
  std::function<void(const float* dout, const float* q, const float* k, const float* v, AttnShape s, float* dq, float* dk,
                     float* dv)>
      backward;
};

// fd_samples: entries of each input checked by finite differences (0: all).
struct AttentionCase {
  AttnShape s;
  int64_t fd_samples;
  std::string label() const {
    return format("T=%lld H=%lld KV=%lld hd=%lld", (long long)s.T, (long long)s.H, (long long)s.KV, (long long)s.hd);
  }
};
// GQA with 3 query heads per KV head; T = 1; plain multi-head; a row longer than the forward's 64-wide
// padding; one head with hd = 16, where the scores take ggml's tinyBLAS path.
inline const std::vector<AttentionCase> kAttentionCases = {
    {{7, 6, 2, 10}, 0}, {{1, 3, 1, 6}, 0}, {{5, 4, 4, 14}, 0}, {{70, 3, 1, 10}, 300}, {{5, 1, 1, 16}, 0}};

inline Doubles attention_reference(const Doubles& q, const Doubles& k, const Doubles& v, AttnShape s) {
  const int64_t qd = s.H * s.hd, kvd = s.KV * s.hd;
  const double scale = 1.0 / std::sqrt(double(s.hd));
  Doubles out(size_t(s.T * qd), 0.0), p(size_t(s.T));
  for (int64_t h = 0; h < s.H; h++) {
    const int64_t g = h / (s.H / s.KV);
    for (int64_t t = 0; t < s.T; t++) {
      double mx = -INFINITY, sum = 0.0;
      for (int64_t j = 0; j <= t; j++) {
        double dotp = 0.0;
        for (int64_t i = 0; i < s.hd; i++) dotp += q[size_t(t * qd + h * s.hd + i)] * k[size_t(j * kvd + g * s.hd + i)];
        p[size_t(j)] = dotp * scale;
        mx = std::max(mx, p[size_t(j)]);
      }
      for (int64_t j = 0; j <= t; j++) sum += p[size_t(j)] = std::exp(p[size_t(j)] - mx);
      for (int64_t j = 0; j <= t; j++)
        for (int64_t i = 0; i < s.hd; i++) out[size_t(t * qd + h * s.hd + i)] += p[size_t(j)] / sum * v[size_t(j * kvd + g * s.hd + i)];
    }
  }
  return out;
}

// q scaled up so that the softmax rows are far from uniform.
struct AttentionInputs {
  std::vector<float> q, k, v;
  AttentionInputs(AttnShape s, Rng& rng)
      : q(rng.normal(s.T * s.H * s.hd, 2.0)), k(rng.normal(s.T * s.KV * s.hd)), v(rng.normal(s.T * s.KV * s.hd)) {}
};

inline void check_attention_forward(const AttentionOps& op) {
  Rng rng(41);
  for (const AttentionCase& c : kAttentionCases) {
    const AttentionInputs in(c.s, rng);
    std::vector<float> out(size_t(c.s.T * c.s.H * c.s.hd), NAN);
    op.forward(in.q.data(), in.k.data(), in.v.data(), c.s, out.data());
    expect_close(c.label() + ": out", out.data(), attention_reference(widen(in.q), widen(in.k), widen(in.v), c.s), kAttentionForwardTol);
  }
}

inline void check_attention_backward(const AttentionOps& op) {
  Rng rng(42);
  for (const AttentionCase& c : kAttentionCases) {
    const AttentionInputs in(c.s, rng);
    const std::vector<float> dout = rng.normal(c.s.T * c.s.H * c.s.hd);
    std::vector<float> dq(in.q.size(), NAN), dk(in.k.size(), NAN), dv(in.v.size(), NAN);
    op.backward(dout.data(), in.q.data(), in.k.data(), in.v.data(), c.s, dq.data(), dk.data(), dv.data());
    Doubles q = widen(in.q), k = widen(in.k), v = widen(in.v);
    const Doubles dy = widen(dout);
    const auto loss = [&] { return dot(dy, attention_reference(q, k, v, c.s)); };
    expect_gradient(c.label() + ": dq", dq.data(), central_differences(q, 1e-5, loss, c.fd_samples), kAttentionBackwardTol);
    expect_gradient(c.label() + ": dk", dk.data(), central_differences(k, 1e-5, loss, c.fd_samples), kAttentionBackwardTol);
    expect_gradient(c.label() + ": dv", dv.data(), central_differences(v, 1e-5, loss, c.fd_samples), kAttentionBackwardTol);
  }
}

}  // namespace spogw::test
