// Module entry point. napi/ is the only directory that includes napi.h; the core below it is plain C++.
#include <napi.h>

#include "register.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  spogw::napi::RegisterInfo(env, exports);
  spogw::napi::RegisterGemm(env, exports);
  spogw::napi::RegisterLoss(env, exports);
  spogw::napi::RegisterEngine(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(spogw, Init)
