// Plain C++ checks of AdamW with global-norm clipping (spogw/engine/adamw.h) against a float64
// reimplementation of the formula it cites, written the way PyTorch's torch.optim.AdamW and
// torch.nn.utils.clip_grad_norm_ compute it (decay first, step size lr / (1 - beta1^t), denominator
// sqrt(v) / sqrt(1 - beta2^t) + eps), so the two arrangements check each other. Several steps over
// tensors of odd sizes, with clipping on for some steps and off for others; then the error paths.
// llm.c style: "OK"/"NOT OK" per check, exit code non-zero on any failure.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "spogw/engine/adamw.h"
#include "spogw/error.h"

using namespace spogw;

namespace {

int g_failures = 0;

void report(bool ok, const std::string& what, const std::string& detail) {
  std::printf("  %-7s %-46s %s\n", ok ? "OK" : "NOT OK", what.c_str(), detail.c_str());
  if (!ok) g_failures++;
}

// max |got - want| over the tensor, divided by max |want| when `relative`, against `tol`.
void check_close(const std::string& what, const std::vector<float>& got, const std::vector<double>& want, double tol,
                 bool relative) {
  double worst = 0.0, scale = 0.0;
  for (size_t i = 0; i < got.size(); i++) {
    worst = std::max(worst, std::fabs(double(got[i]) - want[i]));
    scale = std::max(scale, std::fabs(want[i]));
  }
  if (relative) worst /= std::max(scale, 1e-30);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%s %.3e (tolerance %.0e)", relative ? "max|diff| / max|ref|" : "max|diff|", worst, tol);
  report(std::isfinite(worst) && worst <= tol, what, buf);
}

// One tensor in both precisions.
struct Param {
  std::vector<float> p, g, m, v;
  std::vector<double> p64, m64, v64;
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

std::vector<Param> make_params(const std::vector<size_t>& sizes, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<Param> params;
  for (size_t n : sizes) {
    Param x;
    x.p.resize(n);
    for (float& p : x.p) p = u(rng);
    x.g.assign(n, 0.0f);
    x.m.assign(n, 0.0f);
    x.v.assign(n, 0.0f);
    x.p64.assign(x.p.begin(), x.p.end());
    x.m64.assign(n, 0.0);
    x.v64.assign(n, 0.0);
    params.push_back(std::move(x));
  }
  return params;
}

// Fresh gradients of a chosen global norm (so that each step's clipping is known in advance).
void set_gradients(std::vector<Param>& params, double norm, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  double sq = 0.0;
  for (Param& x : params)
    for (float& g : x.g) {
      g = normal(rng);
      sq += double(g) * g;
    }
  const float scale = float(norm / std::sqrt(sq));
  for (Param& x : params)
    for (float& g : x.g) g *= scale;
}

void run_steps(const char* label, const Settings& s, const std::vector<double>& grad_norms) {
  std::printf("%s: lr=%g wd=%g betas=(%g, %g) eps=%g maxGradNorm=%g, %zu steps\n", label, s.lr, s.wd, s.b1, s.b2, s.eps,
              s.max_norm, grad_norms.size());
  std::mt19937 rng(7);
  std::vector<Param> params = make_params({1, 7, 13, 64}, rng);
  const AdamWConfig cfg = config_of(s);
  for (size_t k = 0; k < grad_norms.size(); k++) {
    const int step = int(k) + 1;
    set_gradients(params, grad_norms[k], rng);
    const double want_norm = reference_step(params, step, s);
    const double got_norm = adamw_step(views(params), step, cfg);
    char buf[96];
    std::snprintf(buf, sizeof buf, "%.9g vs %.9g (%s)", got_norm, want_norm,
                  s.max_norm > 0 && want_norm > s.max_norm ? "clipped" : "not clipped");
    report(std::fabs(got_norm - want_norm) <= 1e-6 * want_norm, "step " + std::to_string(step) + " gradient norm", buf);
    // Every tensor's values together (their sizes are odd, so the vector loops' tails are covered).
    std::vector<float> p, m, v;
    std::vector<double> p64, m64, v64;
    bool zeroed = true;
    for (const Param& x : params) {
      p.insert(p.end(), x.p.begin(), x.p.end());
      m.insert(m.end(), x.m.begin(), x.m.end());
      v.insert(v.end(), x.v.begin(), x.v.end());
      p64.insert(p64.end(), x.p64.begin(), x.p64.end());
      m64.insert(m64.end(), x.m64.begin(), x.m64.end());
      v64.insert(v64.end(), x.v64.begin(), x.v64.end());
      zeroed = zeroed && std::all_of(x.g.begin(), x.g.end(), [](float g) { return g == 0.0f; });
    }
    const std::string at = "step " + std::to_string(step) + " ";
    check_close(at + "parameters", p, p64, 2e-6, false);
    check_close(at + "first moment", m, m64, 2e-6, true);
    check_close(at + "second moment", v, v64, 2e-6, true);
    report(zeroed, at + "gradients zeroed", "");
  }
}

template <typename Fn>
void expect_error(const char* what, Fn fn, const char* needle) {
  try {
    fn();
  } catch (const Error& e) {
    const bool ok = std::string(e.what()).find(needle) != std::string::npos;
    report(ok, std::string("error for ") + what, e.what());
    return;
  }
  report(false, std::string("error for ") + what, "no error");
}

}  // namespace

int main() {
  // Clipping on: the first, third and fourth steps' norms are above maxGradNorm, the others below.
  run_steps("clipped steps", {1e-2, 0.1, 0.9, 0.999, 1e-8, 0.5}, {3.0, 0.2, 1.7, 40.0, 0.05});
  // Clipping off (maxGradNorm 0), no weight decay, other betas, a larger eps that matters.
  run_steps("no clipping", {3e-3, 0.0, 0.8, 0.95, 1e-3, 0.0}, {0.7, 5.0, 0.01});

  std::printf("clip factor:\n");
  report(clip_factor(2.0, 1.0f) == float(1.0 / (2.0 + 1e-6)), "norm above max: max / (norm + 1e-6)", "");
  report(clip_factor(0.5, 1.0f) == 1.0f, "norm below max: 1", "");
  report(clip_factor(100.0, 0.0f) == 1.0f, "maxGradNorm 0: no clipping", "");

  std::printf("errors:\n");
  const Settings ok{1e-2, 0.0, 0.9, 0.999, 1e-8, 1.0};
  {
    std::mt19937 rng(3);
    std::vector<Param> params = make_params({5, 3}, rng);
    set_gradients(params, 1.0, rng);
    params[1].g[2] = NAN;
    const std::vector<float> before = params[0].p;
    expect_error("a NaN gradient", [&] { adamw_step(views(params), 1, config_of(ok)); }, "gradient norm is not finite");
    const bool cleared = std::all_of(params[0].g.begin(), params[0].g.end(), [](float g) { return g == 0.0f; }) &&
                         std::all_of(params[1].g.begin(), params[1].g.end(), [](float g) { return g == 0.0f; });
    report(cleared && params[0].p == before && params[0].m == std::vector<float>(5, 0.0f), "after it: gradients cleared, nothing else changed", "");
    expect_error("step 0", [&] { adamw_step(views(params), 0, config_of(ok)); }, "step number must be >= 1");
  }
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

  std::printf(g_failures == 0 ? "ALL OK\n" : "%d FAILURES\n", g_failures);
  return g_failures == 0 ? 0 : 1;
}
