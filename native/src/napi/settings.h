// The settings objects that cross the N-API line (declared in src/native/settings.ts), each read in
// one place for every binding that takes it: read_loss_settings for grpoLoss and the engine's
// backward, read_optimizer_settings for optimizerStep. Every field is required: an absent one is a
// TypeError naming it; a non-number is a TypeError; ranges are checked by the core
// (check_loss_config, check_adamw_config), which never trusts its caller either.
#pragma once
#include <napi.h>

#include "spogw/engine/adamw.h"
#include "spogw/grpo_loss.h"

namespace spogw::napi {

// { epsilon, epsilonHigh, beta, temperature, klMask: "advantage" | "all" }
GrpoLossConfig read_loss_settings(Napi::Object settings, const char* fn);

// { lr, weightDecay, beta1, beta2, eps, maxGradNorm }
AdamWConfig read_optimizer_settings(Napi::Object settings, const char* fn);

}  // namespace spogw::napi
