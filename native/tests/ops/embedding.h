// Token embedding: the forward is a gather of table rows, checked exactly against a float64 gather;
// the backward scatter-adds dy rows into the table gradient (accumulating), checked against finite
// differences of the gather. Training never calls the backward (the table is frozen, ops.h).
#pragma once
#include "../test_util.h"

namespace spogw::test {

// Tolerances (test_util.h): measured errors beside them.
// The forward is a copy: it must be exact.
constexpr double kEmbeddingBackwardTol = 5e-7;  // measured 1.3e-7 (float32 sums of a token's dy rows)

struct EmbeddingOps {
  std::function<void(const float* table, int64_t d, const int32_t* tokens, int64_t T, float* out)> forward;
  std::function<void(const float* dy, const int32_t* tokens, int64_t T, int64_t d, float* dtable)> backward;
};

struct EmbeddingCase {
  int64_t V, d, T;
  std::string label() const { return format("V=%lld d=%lld T=%lld", (long long)V, (long long)d, (long long)T); }
};
// The first case has fewer vocabulary rows than tokens, so tokens repeat often (their gradient rows
// add up); every case with T > 2 repeats one.
inline const std::vector<EmbeddingCase> kEmbeddingCases = {{11, 37, 23}, {7, 19, 1}, {300, 45, 9}};

// Tokens cover both ends of the vocabulary and repeat the first one.
inline std::vector<int32_t> embedding_tokens(const EmbeddingCase& c, Rng& rng) {
  std::vector<int32_t> tokens(size_t(c.T));
  for (int32_t& t : tokens) t = int32_t(rng.index(c.V));
  tokens[0] = int32_t(c.V - 1);
  if (c.T > 2) {
    tokens[1] = 0;
    tokens[2] = tokens[0];
  }
  return tokens;
}

inline Doubles embedding_reference(const Doubles& table, int64_t d, const std::vector<int32_t>& tokens) {
  Doubles out;
  for (int32_t t : tokens) out.insert(out.end(), table.begin() + t * d, table.begin() + (t + 1) * d);
  return out;
}

inline void check_embedding_forward(const EmbeddingOps& op) {
  Rng rng(11);
  for (const EmbeddingCase& c : kEmbeddingCases) {
    const std::vector<float> table = rng.normal(c.V * c.d);
    const std::vector<int32_t> tokens = embedding_tokens(c, rng);
    std::vector<float> out(size_t(c.T * c.d), NAN);
    op.forward(table.data(), c.d, tokens.data(), c.T, out.data());
    expect_equal(c.label() + ": out", out.data(), embedding_reference(widen(table), c.d, tokens));
  }
}

inline void check_embedding_backward(const EmbeddingOps& op) {
  Rng rng(12);
  for (const EmbeddingCase& c : kEmbeddingCases) {
    Doubles table = widen(rng.normal(c.V * c.d));
    const std::vector<int32_t> tokens = embedding_tokens(c, rng);
    const std::vector<float> dy = rng.normal(c.T * c.d), dtable0 = rng.normal(c.V * c.d);
    std::vector<float> dtable = dtable0;  // the backward accumulates
    op.backward(dy.data(), tokens.data(), c.T, c.d, dtable.data());
    const Doubles dyd = widen(dy);
    Doubles want = central_differences(table, 1e-3, [&] { return dot(dyd, embedding_reference(table, c.d, tokens)); });
    for (size_t i = 0; i < want.size(); i++) want[i] += dtable0[i];
    expect_gradient(c.label() + ": dtable (accumulated)", dtable.data(), want, kEmbeddingBackwardTol);
  }
}

}  // namespace spogw::test
