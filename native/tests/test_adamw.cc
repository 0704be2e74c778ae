// AdamW with global-norm clipping (spogw/engine/adamw.h) against a float64 reimplementation of the
// formula it cites, written the way PyTorch's torch.optim.AdamW and torch.nn.utils.clip_grad_norm_
// compute it (decay first, step size lr / (1 - beta1^t), denominator sqrt(v) / sqrt(1 - beta2^t) +
// eps), so the two arrangements check each other. Several steps over tensors of odd sizes, clipping on
// for some steps and off for others; each step's parameter change off by 1% must fail the comparison.
// Then the error paths. Harness: tests/test_util.h.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "spogw/engine/adamw.h"
#include "spogw/error.h"
#include "test_util.h"

using namespace spogw;
using namespace spogw::test;

namespace {

// One tensor in both precisions.
struct Param {
  std::vector<float> p, g, m, v;
  Doubles p64, m64, v64;
};

struct Settings {
  double lr, wd, b1, b2, eps, max_norm;
};

// The float64 reference: clip_grad_norm_ then one AdamW step, as PyTorch orders it. The settings are
// the float32 values the optimizer is given (0.999f is 0.99900001: 1 - beta2 differs by 1.3e-5).
double reference_step(std::vector<Param>& params, int step, const Settings& given) {
  const auto f32 = [](double x) { return double(float(x)); };
  const Settings s{f32(given.lr), f32(given.wd), f32(given.b1), f32(given.b2), f32(given.eps), f32(given.max_norm)};
  double sq = 0.0;
  for (const Param& x : params)
    for (float g : x.g) sq += double(g) * double(g);
  const double norm = std::sqrt(sq);
  const double clip = s.max_norm > 0 ? std::min(1.0, s.max_norm / (norm + 1e-6)) : 1.0;
  const double bc1 = 1.0 - std::pow(s.b1, step), bc2 = 1.0 - std::pow(s.b2, step);
  for (Param& x : params) {
    for (size_t i = 0; i < x.p64.size(); i++) {
      const double g = double(x.g[i]) * clip;
      x.p64[i] *= 1.0 - s.lr * s.wd;
      x.m64[i] = s.b1 * x.m64[i] + (1.0 - s.b1) * g;
      x.v64[i] = s.b2 * x.v64[i] + (1.0 - s.b2) * g * g;
      x.p64[i] -= (s.lr / bc1) * x.m64[i] / (std::sqrt(x.v64[i]) / std::sqrt(bc2) + s.eps);
    }
  }
  return norm;
}

AdamWConfig config_of(const Settings& s) {
  AdamWConfig c;
  c.lr = float(s.lr);
  c.weight_decay = float(s.wd);
  c.beta1 = float(s.b1);
  c.beta2 = float(s.b2);
  c.eps = float(s.eps);
  c.max_grad_norm = float(s.max_norm);
  return c;
}

std::vector<AdamWTensor> views(std::vector<Param>& params) {
  std::vector<AdamWTensor> out;
  for (Param& x : params) out.push_back({x.p.data(), x.g.data(), x.m.data(), x.v.data(), int64_t(x.p.size())});
  return out;
}

std::vector<Param> make_params(const std::vector<int64_t>& sizes, Rng& rng) {
  std::vector<Param> params;
  for (int64_t n : sizes) {
    Param x;
    x.p = rng.normal(n, 0.5);
    x.g.assign(size_t(n), 0.0f);
    x.m.assign(size_t(n), 0.0f);
    x.v.assign(size_t(n), 0.0f);
    x.p64 = widen(x.p);
    x.m64.assign(size_t(n), 0.0);
    x.v64.assign(size_t(n), 0.0);
    params.push_back(std::move(x));
  }
  return params;
}

// Fresh gradients of a chosen global norm, so that each step's clipping is known in advance.
void set_gradients(std::vector<Param>& params, double norm, Rng& rng) {
  double sq = 0.0;
  for (Param& x : params) {
    x.g = rng.normal(int64_t(x.g.size()));
    for (float g : x.g) sq += double(g) * g;
  }
  const float scale = float(norm / std::sqrt(sq));
  for (Param& x : params)
    for (float& g : x.g) g *= scale;
}

// Every tensor's entries end to end (their sizes are odd, so the loops' tails are covered).
template <class Vec, class Field>
Vec concat(const std::vector<Param>& params, Field field) {
  Vec out;
  for (const Param& x : params) out.insert(out.end(), (x.*field).begin(), (x.*field).end());
  return out;
}

constexpr double kTol = 2e-6;  // about 15 times the largest error reached (1.6e-7, float32 arithmetic)

void check_steps(const Settings& s, const std::vector<double>& grad_norms) {
  std::printf("  lr=%g wd=%g betas=(%g, %g) eps=%g maxGradNorm=%g\n", s.lr, s.wd, s.b1, s.b2, s.eps, s.max_norm);
  Rng rng(7);
  std::vector<Param> params = make_params({1, 7, 13, 64}, rng);
  for (size_t k = 0; k < grad_norms.size(); k++) {
    const int step = int(k) + 1;
    const std::string at = "step " + std::to_string(step) + " ";
    set_gradients(params, grad_norms[k], rng);
    const std::vector<float> before = concat<std::vector<float>>(params, &Param::p);
    const double want_norm = reference_step(params, step, s);
    const double got_norm = adamw_step(views(params), step, config_of(s));
    report(std::fabs(got_norm - want_norm) <= 1e-6 * want_norm, at + "gradient norm",
           format("%.9g vs %.9g (%s)", got_norm, want_norm, s.max_norm > 0 && want_norm > s.max_norm ? "clipped" : "not clipped"));
    const std::vector<float> p = concat<std::vector<float>>(params, &Param::p);
    const Doubles p64 = concat<Doubles>(params, &Param::p64);
    expect_close(at + "parameters", p.data(), p64, kTol);
    expect_close(at + "first moment", concat<std::vector<float>>(params, &Param::m).data(), concat<Doubles>(params, &Param::m64), kTol);
    expect_close(at + "second moment", concat<std::vector<float>>(params, &Param::v).data(), concat<Doubles>(params, &Param::v64), kTol);
    std::vector<float> planted(p.size());
    for (size_t i = 0; i < p.size(); i++) planted[i] = before[i] + kPlantedScale * (p[i] - before[i]);
    const double planted_err = relative_error(planted.data(), p64);
    report(planted_err > kTol, at + "the step off by 1% fails", format("error %.2e  (tolerance %.0e)", planted_err, kTol));
    const std::vector<float> g = concat<std::vector<float>>(params, &Param::g);
    report(std::all_of(g.begin(), g.end(), [](float x) { return x == 0.0f; }), at + "gradients zeroed", "");
  }
}

template <typename Fn>
void expect_error(const char* what, Fn fn, const char* needle) {
  try {
    fn();
  } catch (const Error& e) {
    report(std::string(e.what()).find(needle) != std::string::npos, std::string("error for ") + what, e.what());
    return;
  }
  report(false, std::string("error for ") + what, "no error");
}

void check_errors() {
  const Settings ok{1e-2, 0.0, 0.9, 0.999, 1e-8, 1.0};
  Rng rng(3);
  std::vector<Param> params = make_params({5, 3}, rng);
  set_gradients(params, 1.0, rng);
  params[1].g[2] = NAN;
  const std::vector<float> before = params[0].p;
  expect_error("a NaN gradient", [&] { adamw_step(views(params), 1, config_of(ok)); }, "gradient norm is not finite");
  const std::vector<float> g = concat<std::vector<float>>(params, &Param::g);
  const bool cleared = std::all_of(g.begin(), g.end(), [](float x) { return x == 0.0f; });
  report(cleared && params[0].p == before && params[0].m == std::vector<float>(5, 0.0f), "after it: gradients cleared, nothing else changed", "");
  expect_error("step 0", [&] { adamw_step(views(params), 0, config_of(ok)); }, "step number must be >= 1");
  AdamWConfig unset = config_of(ok);
  unset.eps = AdamWConfig().eps;  // a field never set stays NaN
  expect_error("an unset eps", [&] { check_adamw_config(unset); }, "eps must be a finite number > 0 (got nan)");
  AdamWConfig bad = config_of(ok);
  bad.lr = -1.0f;
  expect_error("a negative lr", [&] { check_adamw_config(bad); }, "lr must be a finite number >= 0 (got -1)");
  bad = config_of(ok);
  bad.beta2 = 1.0f;
  expect_error("beta2 = 1", [&] { check_adamw_config(bad); }, "beta2 must be in [0, 1) (got 1)");
  bad = config_of(ok);
  bad.max_grad_norm = -0.5f;
  expect_error("a negative maxGradNorm", [&] { check_adamw_config(bad); }, "maxGradNorm must be");
}

}  // namespace

int main(int argc, char** argv) {
  return run_checks(argc, argv, {
      // Clipping on: the norms of steps 1, 3 and 4 are above maxGradNorm, the others below.
      {"adamw clipped steps", [] { check_steps({1e-2, 0.1, 0.9, 0.999, 1e-8, 0.5}, {3.0, 0.2, 1.7, 40.0, 0.05}); }},
      // Clipping off (maxGradNorm 0), no weight decay, other betas, an eps large enough to matter.
      {"adamw without clipping", [] { check_steps({3e-3, 0.0, 0.8, 0.95, 1e-3, 0.0}, {0.7, 5.0, 0.01}); }},
      {"adamw clip factor", [] {
        report(clip_factor(2.0, 1.0f) == float(1.0 / (2.0 + 1e-6)), "norm above max: max / (norm + 1e-6)", "");
        report(clip_factor(0.5, 1.0f) == 1.0f, "norm below max: 1", "");
        report(clip_factor(100.0, 0.0f) == 1.0f, "maxGradNorm 0: no clipping", "");
      }},
      {"adamw errors", [] { check_errors(); }},
  });
}
