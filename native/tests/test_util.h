// The harness of the op tests (native/tests/test_ops_*.cc), llm.c style. Each comparison prints its
// name, the error it achieved and its tolerance, "OK" or "NOT OK"; a binary exits non-zero when any
// comparison failed. Forward outputs are compared with a float64 reference written in the test;
// gradients with central finite differences of that reference. An error is relative to the tensor's
// largest reference value: max |got - want| / max |want|. Each op header's tolerances are 3-5 times
// the largest error its cases reach, worst over the kernel variants of an AVX-512 BF16 machine
// (SPOGW_GGML_BUILD=avx512bf16|avx512|avx2, SPOGW_KERNELS=portable|blas), so that they fail a
// gradient off by 1% by four orders of magnitude and a forward off by a few float32 roundings.
//
// A test binary names its checks (run_checks); given a name as its argument it runs only that check,
// so CMake registers one ctest per name (it reads the `{"name", [` lines of run_checks' list).
// Nothing here knows the op under test: the op headers (tests/ops/*.h) take the implementation as a
// parameter, so a second backend (CUDA) is checked by the same references and tolerances.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "spogw/threads.h"

namespace spogw::test {

using Doubles = std::vector<double>;

inline int& failure_count() {
  static int n = 0;
  return n;
}

// Deterministic random inputs, drawn as float32 (what an op reads); the references widen them exactly.
struct Rng {
  std::mt19937_64 gen;
  explicit Rng(uint64_t seed) : gen(seed) {}
  std::vector<float> normal(int64_t n, double scale = 1.0) {
    std::normal_distribution<double> dist(0.0, scale);
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v) x = float(dist(gen));
    return v;
  }
  int64_t index(int64_t n) { return std::uniform_int_distribution<int64_t>(0, n - 1)(gen); }
};

template <class Floats>
Doubles widen(const Floats& v) {
  return Doubles(v.begin(), v.end());
}

inline double dot(const Doubles& a, const Doubles& b) {
  double s = 0.0;
  for (size_t i = 0; i < a.size(); i++) s += a[i] * b[i];
  return s;
}

// max |got - want| / max |want| over the entries where want is a number (NaN marks an entry that was
// not computed, see central_differences). Infinite when got holds a non-finite value.
inline double relative_error(const float* got, const Doubles& want) {
  double max_diff = 0.0, max_ref = 0.0;
  for (size_t i = 0; i < want.size(); i++) {
    if (std::isnan(want[i])) continue;
    if (!std::isfinite(got[i])) return std::numeric_limits<double>::infinity();
    max_diff = std::max(max_diff, std::fabs(double(got[i]) - want[i]));
    max_ref = std::max(max_ref, std::fabs(want[i]));
  }
  return max_diff / std::max(max_ref, 1e-300);
}

inline void report(bool ok, const std::string& what, const std::string& detail) {
  std::printf("  %-7s %-46s %s\n", ok ? "OK" : "NOT OK", what.c_str(), detail.c_str());
  if (!ok) failure_count()++;
}

template <class... Args>
std::string format(const char* fmt, Args... args) {
  char buf[200];
  std::snprintf(buf, sizeof buf, fmt, args...);
  return buf;
}

// A forward output against its float64 reference.
inline void expect_close(const std::string& what, const float* got, const Doubles& want, double tol) {
  const double err = relative_error(got, want);
  report(err <= tol, what, format("error %.2e  (tolerance %.0e)", err, tol));
}

// An exact result (a copy, a sum of one term).
inline void expect_equal(const std::string& what, const float* got, const Doubles& want) {
  const double err = relative_error(got, want);
  report(err == 0.0, what, format("error %.2e  (must be exactly 0)", err));
}

// A planted error: the gradient scaled by this must fail every gradient comparison, or the
// comparison could not tell a wrong gradient from a right one.
constexpr float kPlantedScale = 1.01f;

inline double planted_error(const float* got, const Doubles& want) {
  std::vector<float> planted(want.size());
  for (size_t i = 0; i < want.size(); i++) planted[i] = got[i] * kPlantedScale;
  return relative_error(planted.data(), want);
}

// A gradient against finite differences; also shows that the same gradient off by 1% fails here.
// Where the true gradient is exactly 0 (attention's dq and dk at T = 1), got must be exactly 0.
inline void expect_gradient(const std::string& what, const float* got, const Doubles& fd, double tol) {
  const double err = relative_error(got, fd);
  if (std::all_of(fd.begin(), fd.end(), [](double g) { return g == 0.0 || std::isnan(g); })) {
    report(err == 0.0, what, format("error %.2e  (the gradient is 0 here: must be exactly 0)", err));
    return;
  }
  const double planted = planted_error(got, fd);
  report(err <= tol && planted > tol, what,
         format("error %.2e  (tolerance %.0e; off by 1%%: %.1e, %s)", err, tol, planted, planted > tol ? "rejected" : "NOT rejected"));
}

// d loss / d x_i by central differences: x_i is moved by +-h in place (loss() reads x), the step taken
// is the one the float64 sum x_i + h actually made. samples = 0: every entry; else that many entries
// chosen at random, the others NaN (skipped by the comparisons).
inline Doubles central_differences(Doubles& x, double h, const std::function<double()>& loss, int64_t samples = 0,
                                   uint64_t seed = 7) {
  const int64_t n = int64_t(x.size());
  Doubles grad(x.size(), std::numeric_limits<double>::quiet_NaN());
  std::vector<int64_t> at;
  if (samples <= 0 || samples >= n) {
    for (int64_t i = 0; i < n; i++) at.push_back(i);
  } else {
    Rng rng(seed);
    for (int64_t s = 0; s < samples; s++) at.push_back(rng.index(n));
  }
  for (int64_t i : at) {
    const double x0 = x[size_t(i)];
    const double up = x0 + h, down = x0 - h;
    x[size_t(i)] = up;
    const double f_up = loss();
    x[size_t(i)] = down;
    const double f_down = loss();
    x[size_t(i)] = x0;
    grad[size_t(i)] = (f_up - f_down) / (up - down);
  }
  return grad;
}

// The harness checks itself before any op: on f(x) = sum_i c_i sin(x_i) x_{i+1}, whose gradient is
// known, finite differences must agree with it to float64 precision (this bounds their own error),
// the float32 gradient must pass the op tolerance, and the same gradient scaled by 1.01 must fail it.
inline void harness_self_check() {
  std::printf("harness self-check\n");
  Rng rng(2024);
  const int64_t n = 29;
  Doubles x = widen(rng.normal(n)), c = widen(rng.normal(n));
  const auto f = [&] {
    double s = 0.0;
    for (int64_t i = 0; i + 1 < n; i++) s += c[size_t(i)] * std::sin(x[size_t(i)]) * x[size_t(i + 1)];
    return s;
  };
  Doubles exact(size_t(n), 0.0);
  for (int64_t i = 0; i + 1 < n; i++) {
    exact[size_t(i)] += c[size_t(i)] * std::cos(x[size_t(i)]) * x[size_t(i + 1)];
    exact[size_t(i + 1)] += c[size_t(i)] * std::sin(x[size_t(i)]);
  }
  const Doubles fd = central_differences(x, 1e-5, f);
  double fd_err = 0.0, max_ref = 0.0;
  for (int64_t i = 0; i < n; i++) {
    fd_err = std::max(fd_err, std::fabs(fd[size_t(i)] - exact[size_t(i)]));
    max_ref = std::max(max_ref, std::fabs(exact[size_t(i)]));
  }
  fd_err /= max_ref;
  const double fd_tol = 1e-9;
  report(fd_err <= fd_tol, "finite differences vs the exact gradient", format("error %.2e  (tolerance %.0e)", fd_err, fd_tol));
  std::vector<float> right(exact.begin(), exact.end()), wrong(right);
  for (float& g : wrong) g *= kPlantedScale;
  const double tol = 1e-6;
  const double right_err = relative_error(right.data(), fd), wrong_err = relative_error(wrong.data(), fd);
  report(right_err <= tol, "the float32 gradient passes", format("error %.2e  (tolerance %.0e)", right_err, tol));
  report(wrong_err > tol, "the gradient scaled by 1.01 fails", format("error %.2e  (tolerance %.0e)", wrong_err, tol));
}

struct NamedCheck {
  std::string name;
  std::function<void()> run;
};

// Runs the harness self-check, then every check, or only the one named by argv[1]. Two threads, set
// explicitly, so that the ops' parallel loops split their work.
inline int run_checks(int argc, char** argv, const std::vector<NamedCheck>& checks) {
  set_threads(2);
  harness_self_check();
  bool ran = false;
  for (const NamedCheck& c : checks) {
    if (argc > 1 && c.name != argv[1]) continue;
    ran = true;
    std::printf("%s\n", c.name.c_str());
    try {
      c.run();
    } catch (const std::exception& e) {
      report(false, c.name, std::string("threw: ") + e.what());
    }
  }
  if (!ran) {
    std::printf("no check named '%s'; this binary has:", argc > 1 ? argv[1] : "");
    for (const NamedCheck& c : checks) std::printf(" '%s'", c.name.c_str());
    std::printf("\n");
    return 2;
  }
  const int failed = failure_count();
  std::printf(failed == 0 ? "ALL OK\n" : "%d FAILURES\n", failed);
  return failed == 0 ? 0 : 1;
}

}  // namespace spogw::test
