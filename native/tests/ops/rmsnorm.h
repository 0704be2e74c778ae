// RMSNorm y = x / sqrt(mean(x^2) + eps) * w per row (the weight w is frozen: the backward gives dx).
// Forward (y and the saved rstd) against float64; dx against finite differences of the float64 y.
#pragma once
#include "../test_util.h"

namespace spogw::test {

// Tolerances (test_util.h): measured errors beside them.
constexpr double kRmsnormForwardTol = 5e-7;   // measured 1.1e-7 (y), 7.5e-8 (rstd)
constexpr double kRmsnormBackwardTol = 5e-7;  // measured 1.1e-7

struct RmsnormOps {
  std::function<void(const float* x, const float* w, int64_t T, int64_t d, float eps, float* y, float* rstd)> forward;
  std::function<void(const float* dy, const float* x, const float* w, const float* rstd, int64_t T, int64_t d, float* dx)>
      backward;
};

// scale: the size of x. At 0.01, mean(x^2) = 1e-4 and eps = 1e-5 moves rstd by 5%, so eps is checked too.
struct RmsnormCase {
  int64_t T, d;
  double scale;
  std::string label() const { return format("T=%lld d=%lld |x|~%g", (long long)T, (long long)d, scale); }
};
inline const std::vector<RmsnormCase> kRmsnormCases = {{5, 37, 1.0}, {1, 37, 1.0}, {4, 19, 0.01}, {9, 301, 3.0}};
constexpr float kRmsEps = 1e-5f;

inline void rmsnorm_reference(const Doubles& x, const Doubles& w, int64_t T, int64_t d, double eps, Doubles& y, Doubles& rstd) {
  y.assign(size_t(T * d), 0.0);
  rstd.assign(size_t(T), 0.0);
  for (int64_t t = 0; t < T; t++) {
    double ss = 0.0;
    for (int64_t i = 0; i < d; i++) ss += x[size_t(t * d + i)] * x[size_t(t * d + i)];
    rstd[size_t(t)] = 1.0 / std::sqrt(ss / double(d) + eps);
    for (int64_t i = 0; i < d; i++) y[size_t(t * d + i)] = x[size_t(t * d + i)] * rstd[size_t(t)] * w[size_t(i)];
  }
}

inline void check_rmsnorm_forward(const RmsnormOps& op) {
  Rng rng(21);
  for (const RmsnormCase& c : kRmsnormCases) {
    const std::vector<float> x = rng.normal(c.T * c.d, c.scale), w = rng.normal(c.d);
    std::vector<float> y(size_t(c.T * c.d), NAN), rstd(size_t(c.T), NAN);
    op.forward(x.data(), w.data(), c.T, c.d, kRmsEps, y.data(), rstd.data());
    Doubles want_y, want_rstd;
    rmsnorm_reference(widen(x), widen(w), c.T, c.d, kRmsEps, want_y, want_rstd);
    expect_close(c.label() + ": y", y.data(), want_y, kRmsnormForwardTol);
    expect_close(c.label() + ": rstd", rstd.data(), want_rstd, kRmsnormForwardTol);
  }
}

inline void check_rmsnorm_backward(const RmsnormOps& op) {
  Rng rng(22);
  for (const RmsnormCase& c : kRmsnormCases) {
    const std::vector<float> x = rng.normal(c.T * c.d, c.scale), w = rng.normal(c.d), dy = rng.normal(c.T * c.d);
    std::vector<float> y(size_t(c.T * c.d)), rstd(size_t(c.T)), dx(size_t(c.T * c.d), NAN);
    op.forward(x.data(), w.data(), c.T, c.d, kRmsEps, y.data(), rstd.data());
    op.backward(dy.data(), x.data(), w.data(), rstd.data(), c.T, c.d, dx.data());
    Doubles xd = widen(x), wd = widen(w), dyd = widen(dy), yr, rr;
    const Doubles fd = central_differences(xd, 1e-5 * c.scale, [&] {
      rmsnorm_reference(xd, wd, c.T, c.d, kRmsEps, yr, rr);
      return dot(dyd, yr);
    });
    expect_gradient(c.label() + ": dx", dx.data(), fd, kRmsnormBackwardTol);
  }
}

}  // namespace spogw::test
