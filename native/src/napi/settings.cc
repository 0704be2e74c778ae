#include "settings.h"

#include <string>
#include <utility>

#include "convert.h"

namespace spogw::napi {

namespace {

// Each required number field's JS name beside the member it fills, read in one loop.
template <class Config, size_t N>
void read_numbers(Napi::Object o, const char* fn, Config& cfg, const std::pair<const char*, float Config::*> (&fields)[N]) {
  for (const auto& [key, member] : fields) cfg.*member = float_field(o, fn, key);
}

}  // namespace

GrpoLossConfig read_loss_settings(Napi::Object o, const char* fn) {
  GrpoLossConfig cfg;
  read_numbers(o, fn, cfg, {{"epsilon", &GrpoLossConfig::eps_low}, {"epsilonHigh", &GrpoLossConfig::eps_high},
                            {"beta", &GrpoLossConfig::beta}, {"temperature", &GrpoLossConfig::temperature}});
  const std::string mask = string_field(o, fn, "klMask");
  if (mask == "advantage") cfg.kl_mask = KlMask::kAdvantage;
  else if (mask == "all") cfg.kl_mask = KlMask::kAll;
  else throw Napi::TypeError::New(o.Env(), std::string(fn) + ": klMask must be \"advantage\" or \"all\" (got \"" + mask + "\")");
  return cfg;
}

AdamWConfig read_optimizer_settings(Napi::Object o, const char* fn) {
  AdamWConfig cfg;
  read_numbers(o, fn, cfg, {{"lr", &AdamWConfig::lr}, {"weightDecay", &AdamWConfig::weight_decay}, {"beta1", &AdamWConfig::beta1},
                            {"beta2", &AdamWConfig::beta2}, {"eps", &AdamWConfig::eps}, {"maxGradNorm", &AdamWConfig::max_grad_norm}});
  return cfg;
}

}  // namespace spogw::napi
