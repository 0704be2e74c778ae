// Rotary position embedding, in place on [T, heads * hd] rows at positions 0..T-1, rotating all hd
// dimensions (n_rot = hd, as every supported model has), in both layouts: norm rotates the pairs
// (2i, 2i+1), neox the pairs (i, i + hd/2), by the angle p * base^(-2i / hd). Forward against float64
// trigonometry; the backward (the inverse rotation of dy) against finite differences of the forward.
#pragma once
#include "../test_util.h"
#include "spogw/engine/model.h"

namespace spogw::test {

// Tolerances (test_util.h): measured errors beside them.
// The op builds its angles in float32 by repeated multiplication, as llama.cpp does, so an angle is
// off by up to ~1e-7 of itself: the longest case (T = 45) has the largest error.
constexpr double kRopeForwardTol = 2e-6;   // measured 4.9e-7 (neox), 2.0e-7 (norm)
constexpr double kRopeBackwardTol = 1e-6;  // measured 2.0e-7

struct RopeOps {
  // x [T, heads * hd] in place; the op owns its angle table.
  using Fn = std::function<void(float* x, int64_t T, int64_t heads, int64_t hd, float base, RopeMode mode)>;
  Fn forward, backward;
};

struct RopeCase {
  int64_t T, heads, hd;
  float base;
  std::string label() const {
    return format("T=%lld heads=%lld hd=%lld base=%g", (long long)T, (long long)heads, (long long)hd, double(base));
  }
};
inline const std::vector<RopeCase> kRopeCases = {{7, 3, 10, 10000.0f}, {1, 2, 6, 10000.0f}, {45, 2, 14, 1000000.0f}};

inline const char* rope_mode_name(RopeMode mode) { return mode == RopeMode::kNorm ? "norm" : "neox"; }

// Row t at position positions[t] (empty: t).
inline Doubles rope_reference(const Doubles& x, const RopeCase& c, RopeMode mode, const std::vector<int32_t>& positions = {}) {
  Doubles y = x;
  const int64_t half = c.hd / 2;
  for (int64_t t = 0; t < c.T; t++)
    for (int64_t h = 0; h < c.heads; h++)
      for (int64_t i = 0; i < half; i++) {
        const double p = positions.empty() ? double(t) : double(positions[size_t(t)]);
        const double angle = p * std::pow(double(c.base), -2.0 * double(i) / double(c.hd));
        const int64_t row = (t * c.heads + h) * c.hd;
        const int64_t a = row + (mode == RopeMode::kNorm ? 2 * i : i), b = row + (mode == RopeMode::kNorm ? 2 * i + 1 : i + half);
        y[size_t(a)] = x[size_t(a)] * std::cos(angle) - x[size_t(b)] * std::sin(angle);
        y[size_t(b)] = x[size_t(a)] * std::sin(angle) + x[size_t(b)] * std::cos(angle);
      }
  return y;
}

inline void check_rope_forward(const RopeOps& op, RopeMode mode) {
  Rng rng(31);
  for (const RopeCase& c : kRopeCases) {
    std::vector<float> x = rng.normal(c.T * c.heads * c.hd);
    const Doubles want = rope_reference(widen(x), c, mode);
    op.forward(x.data(), c.T, c.heads, c.hd, c.base, mode);
    expect_close(c.label() + ": y", x.data(), want, kRopeForwardTol);
  }
}

inline void check_rope_backward(const RopeOps& op, RopeMode mode) {
  Rng rng(32);
  for (const RopeCase& c : kRopeCases) {
    Doubles x = widen(rng.normal(c.T * c.heads * c.hd));
    std::vector<float> dx = rng.normal(c.T * c.heads * c.hd);  // dy, turned into dx in place
    const Doubles dy = widen(dx);
    op.backward(dx.data(), c.T, c.heads, c.hd, c.base, mode);
    const Doubles fd = central_differences(x, 1e-5, [&] { return dot(dy, rope_reference(x, c, mode)); });
    expect_gradient(c.label() + ": dx", dx.data(), fd, kRopeBackwardTol);
  }
}

// Rows at given positions, as a packed shared-prompt group has them (group_layout.h: a prompt of 5,
// then responses at positions 5.. of lengths 3, 1 and 2). The op owns a table for positions up to
// table_T - 1 (> every position here).
struct RopeAtOps {
  using Fn = std::function<void(float* x, int64_t T, const int32_t* positions, int64_t table_T, int64_t heads, int64_t hd, float base,
                                RopeMode mode)>;
  Fn forward, backward;
};
inline const std::vector<int32_t> kRopePositions = {0, 1, 2, 3, 4, 5, 6, 7, 5, 5, 6};

// Forward against float64, and each row bit for bit as the same row at the same position of a plain
// sequence (what keeps a group's rows equal to its items').
inline void check_rope_at_positions(const RopeAtOps& at, const RopeOps& plain, RopeMode mode) {
  Rng rng(33);
  const RopeCase c{int64_t(kRopePositions.size()), 3, 10, 10000.0f};
  const int64_t w = c.heads * c.hd, table_T = 9;
  std::vector<float> x = rng.normal(c.T * w);
  // The plain sequence: row p holds the packed row at position p (the last one at that position).
  std::vector<float> seq(size_t(table_T * w));
  for (int64_t t = 0; t < c.T; t++) std::copy_n(x.begin() + t * w, w, seq.begin() + kRopePositions[size_t(t)] * w);
  const Doubles want = rope_reference(widen(x), c, mode, kRopePositions);
  std::vector<float> y = x;
  at.forward(y.data(), c.T, kRopePositions.data(), table_T, c.heads, c.hd, c.base, mode);
  expect_close(c.label() + " at positions: y", y.data(), want, kRopeForwardTol);
  plain.forward(seq.data(), table_T, c.heads, c.hd, c.base, mode);
  std::vector<float> alone(y.size());
  for (int64_t t = 0; t < c.T; t++) std::copy_n(seq.begin() + kRopePositions[size_t(t)] * w, w, alone.begin() + t * w);
  // Only the last row at each position was placed in seq: compare those rows.
  Doubles last(y.size(), std::numeric_limits<double>::quiet_NaN());
  for (int64_t t = 0; t < c.T; t++) {
    const bool is_last = std::find(kRopePositions.begin() + t + 1, kRopePositions.end(), kRopePositions[size_t(t)]) == kRopePositions.end();
    if (is_last)
      for (int64_t i = 0; i < w; i++) last[size_t(t * w + i)] = alone[size_t(t * w + i)];
  }
  expect_equal(c.label() + " at positions: rows as in a plain sequence", y.data(), last);

  Doubles xd = widen(x);
  std::vector<float> dx = rng.normal(c.T * w);
  const Doubles dy = widen(dx);
  at.backward(dx.data(), c.T, kRopePositions.data(), table_T, c.heads, c.hd, c.base, mode);
  const Doubles fd = central_differences(xd, 1e-5, [&] { return dot(dy, rope_reference(xd, c, mode, kRopePositions)); });
  expect_gradient(c.label() + " at positions: dx", dx.data(), fd, kRopeBackwardTol);
}

}  // namespace spogw::test
