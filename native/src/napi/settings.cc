#include "settings.h"

#include <string>

#include "convert.h"

namespace spogw::napi {

GrpoLossConfig read_loss_settings(Napi::Object o, const char* fn) {
  GrpoLossConfig cfg;
  cfg.eps_low = float_field(o, fn, "epsilon");
  cfg.eps_high = float_field(o, fn, "epsilonHigh");
  cfg.beta = float_field(o, fn, "beta");
  cfg.temperature = float_field(o, fn, "temperature");
  const std::string mask = string_field(o, fn, "klMask");
  if (mask == "advantage") cfg.kl_mask = KlMask::kAdvantage;
  else if (mask == "all") cfg.kl_mask = KlMask::kAll;
  else throw Napi::TypeError::New(o.Env(), std::string(fn) + ": klMask must be \"advantage\" or \"all\" (got \"" + mask + "\")");
  return cfg;
}

AdamWConfig read_optimizer_settings(Napi::Object o, const char* fn) {
  AdamWConfig cfg;
  cfg.lr = float_field(o, fn, "lr");
  cfg.weight_decay = float_field(o, fn, "weightDecay");
  cfg.beta1 = float_field(o, fn, "beta1");
  cfg.beta2 = float_field(o, fn, "beta2");
  cfg.eps = float_field(o, fn, "eps");
  cfg.max_grad_norm = float_field(o, fn, "maxGradNorm");
  return cfg;
}

}  // namespace spogw::napi
