// Tree attention over a packed shared-prompt group (engine/group_layout.h): the prompt's rows causal
// within the prompt, each response's rows over the prompt and their own rows. Checked three ways:
// every output row equals, bit for bit, the same row of its item computed alone by the plain causal
// attention op (what makes a group's log-probs those of its items; with OpenBLAS products,
// SPOGW_KERNELS=blas, a row's bits depend on the product's shape, so there only within the forward
// tolerance: measured 2.1e-7); the forward against float64
// per-item attention; dq, dk, dv against finite differences of that float64 forward, so the prompt
// rows' dK/dV must hold the sum over the prompt's queries and every response's.
#pragma once
#include "../test_util.h"
#include "attention.h"
#include "spogw/engine/group_layout.h"
#include "spogw/engine/ops.h"

namespace spogw::test {

// Tolerances (test_util.h): measured errors beside them.
constexpr double kTreeAttentionForwardTol = 2e-6;   // measured 5.2e-7
constexpr double kTreeAttentionBackwardTol = 1e-6;  // measured 2.5e-7 (dq), 2.5e-7 (dk), 3.3e-7 (dv)

struct TreeAttentionOps {
  std::function<void(const float* q, const float* k, const float* v, const GroupLayout& g, AttnHeads a, float* out)> forward;
  // dq [rows, H*hd], dk and dv [rows, KV*hd], all overwritten.
  std::function<void(const float* dout, const float* q, const float* k, const float* v, const GroupLayout& g, AttnHeads a, float* dq,
                     float* dk, float* dv)>
      backward;
  // The plain causal op the tree's rows must reproduce (attention.h's forward): bit for bit when
  // `exact`, else within kTreeAttentionForwardTol.
  std::function<void(const float* q, const float* k, const float* v, AttnShape s, float* out)> plain_forward;
  bool exact = true;
};

struct TreeAttentionCase {
  int64_t prompt;
  std::vector<int64_t> responses;  // each response's length
  AttnHeads a;
  int64_t fd_samples;  // entries of each input checked by finite differences (0: all)
  std::string label() const {
    std::string lens;
    for (const int64_t n : responses) lens += (lens.empty() ? "" : ",") + std::to_string(n);
    return format("P=%lld n=[%s] H=%lld KV=%lld hd=%lld", (long long)prompt, lens.c_str(), (long long)a.H, (long long)a.KV, (long long)a.hd);
  }
  // The group plan_groups makes of items sharing a prompt (the tokens only decide the grouping).
  GroupLayout layout() const {
    std::vector<std::vector<int32_t>> seqs;
    for (const int64_t n : responses) seqs.emplace_back(size_t(prompt + n), 1);
    std::vector<GroupItem> items;
    for (const auto& s : seqs) items.push_back({s.data(), int64_t(s.size()), prompt});
    return plan_groups(items).at(0);
  }
};
// GQA with responses of lengths 3, 1, 4; a one-token prompt with one-token responses; a prompt and a
// response past the forward's 64-wide padding; one head with hd = 16 (the scores' tinyBLAS path).
inline const std::vector<TreeAttentionCase> kTreeAttentionCases = {
    {5, {3, 1, 4}, {6, 2, 10}, 0},
    {1, {1, 2, 1}, {3, 1, 6}, 0},
    {70, {3, 66}, {3, 1, 10}, 300},
    {4, {5, 1}, {1, 1, 16}, 0},
};

// One item's rows of a packed [rows, width] buffer: the prompt's, then its response's.
template <class V>
V item_rows(const V& x, int64_t width, int64_t prompt, const GroupResponse& r) {
  V out(x.begin(), x.begin() + prompt * width);
  out.insert(out.end(), x.begin() + r.row * width, x.begin() + (r.row + r.length) * width);
  return out;
}

// float64: the prompt's rows by causal attention over the prompt, each response's rows as the last
// rows of its item's causal attention.
inline Doubles tree_attention_reference(const Doubles& q, const Doubles& k, const Doubles& v, const GroupLayout& g, AttnHeads a) {
  const int64_t qd = a.H * a.hd, kvd = a.KV * a.hd, P = g.prompt_rows;
  Doubles out = attention_reference(q, k, v, AttnShape{P, a.H, a.KV, a.hd});
  out.resize(size_t(g.rows() * qd));
  for (const GroupResponse& r : g.responses) {
    const Doubles o = attention_reference(item_rows(q, qd, P, r), item_rows(k, kvd, P, r), item_rows(v, kvd, P, r),
                                          AttnShape{P + r.length, a.H, a.KV, a.hd});
    std::copy(o.begin() + P * qd, o.end(), out.begin() + r.row * qd);
  }
  return out;
}

struct TreeAttentionInputs {
  std::vector<float> q, k, v;
  TreeAttentionInputs(int64_t rows, AttnHeads a, Rng& rng)
      : q(rng.normal(rows * a.H * a.hd, 2.0)), k(rng.normal(rows * a.KV * a.hd)), v(rng.normal(rows * a.KV * a.hd)) {}
};

inline void check_tree_attention_forward(const TreeAttentionOps& op) {
  Rng rng(43);
  for (const TreeAttentionCase& c : kTreeAttentionCases) {
    const GroupLayout g = c.layout();
    const int64_t qd = c.a.H * c.a.hd, kvd = c.a.KV * c.a.hd, P = g.prompt_rows;
    const TreeAttentionInputs in(g.rows(), c.a, rng);
    std::vector<float> out(size_t(g.rows() * qd), NAN);
    op.forward(in.q.data(), in.k.data(), in.v.data(), g, c.a, out.data());
    expect_close(c.label() + ": out", out.data(), tree_attention_reference(widen(in.q), widen(in.k), widen(in.v), g, c.a),
                 kTreeAttentionForwardTol);
    for (size_t i = 0; i < g.responses.size(); i++) {
      const GroupResponse& r = g.responses[i];
      const std::vector<float> iq = item_rows(in.q, qd, P, r), ik = item_rows(in.k, kvd, P, r), iv = item_rows(in.v, kvd, P, r);
      std::vector<float> alone(iq.size(), NAN);
      op.plain_forward(iq.data(), ik.data(), iv.data(), AttnShape{P + r.length, c.a.H, c.a.KV, c.a.hd}, alone.data());
      const std::vector<float> packed = item_rows(out, qd, P, r);
      const std::string what = c.label() + format(": item %zu's rows as computed alone", i);
      if (op.exact)
        expect_equal(what, packed.data(), widen(alone));
      else
        expect_close(what, packed.data(), widen(alone), kTreeAttentionForwardTol);
    }
  }
}

inline void check_tree_attention_backward(const TreeAttentionOps& op) {
  Rng rng(44);
  for (const TreeAttentionCase& c : kTreeAttentionCases) {
    const GroupLayout g = c.layout();
    const TreeAttentionInputs in(g.rows(), c.a, rng);
    const std::vector<float> dout = rng.normal(g.rows() * c.a.H * c.a.hd);
    std::vector<float> dq(in.q.size(), NAN), dk(in.k.size(), NAN), dv(in.v.size(), NAN);
    op.backward(dout.data(), in.q.data(), in.k.data(), in.v.data(), g, c.a, dq.data(), dk.data(), dv.data());
    Doubles q = widen(in.q), k = widen(in.k), v = widen(in.v);
    const Doubles dy = widen(dout);
    const auto loss = [&] { return dot(dy, tree_attention_reference(q, k, v, g, c.a)); };
    expect_gradient(c.label() + ": dq", dq.data(), central_differences(q, 1e-5, loss, c.fd_samples), kTreeAttentionBackwardTol);
    expect_gradient(c.label() + ": dk", dk.data(), central_differences(k, 1e-5, loss, c.fd_samples), kTreeAttentionBackwardTol);
    expect_gradient(c.label() + ": dv", dv.data(), central_differences(v, 1e-5, loss, c.fd_samples), kTreeAttentionBackwardTol);
  }
}

}  // namespace spogw::test
