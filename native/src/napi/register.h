// Each binding file adds its functions to the module's exports through one Register* function, called
// from addon.cc. This is the only list of what the addon exports.
#pragma once
#include <napi.h>

namespace spogw::napi {

void RegisterInfo(Napi::Env env, Napi::Object exports);  // info, setThreads
void RegisterGemm(Napi::Env env, Napi::Object exports);  // gemm, gemmReference
void RegisterLoss(Napi::Env env, Napi::Object exports);  // grpoLoss, selectiveLogprobs, lossGemmsOnly
void RegisterEngine(Napi::Env env, Napi::Object exports);  // loadEngine, NativeEngine

}  // namespace spogw::napi
