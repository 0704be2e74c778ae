// gemm(a, b, m, n, k, transA, transB) -> Promise<Float32Array [m, n]>, row-major, packed (lda = row
// length). gemmReference: the same through the plain float64-accumulating loops, for the benchmark.
#include <string>

#include "async.h"
#include "convert.h"
#include "register.h"
#include "spogw/error.h"
#include "spogw/gemm.h"

namespace spogw::napi {

namespace {

constexpr int64_t kMaxDim = 2147483647;

template <bool kReference>
Napi::Value Gemm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Float32Array a = float32_arg(info, 0, "a");
  Napi::Float32Array b = float32_arg(info, 1, "b");
  const int64_t m = int_arg(info, 2, "m", 0, kMaxDim);
  const int64_t n = int_arg(info, 3, "n", 0, kMaxDim);
  const int64_t k = int_arg(info, 4, "k", 0, kMaxDim);
  const bool ta = bool_arg(info, 5, "transA", false);
  const bool tb = bool_arg(info, 6, "transB", false);
  int64_t mk, kn, mn;
  try {
    mk = checked_mul(m, k, "gemm a");
    kn = checked_mul(k, n, "gemm b");
    mn = checked_mul(m, n, "gemm output");
  } catch (const Error& e) {
    throw Napi::RangeError::New(env, e.what());
  }
  const auto shape = [](bool t, int64_t r, int64_t c) {
    return "[" + std::to_string(t ? c : r) + ", " + std::to_string(t ? r : c) + "]";
  };
  if (int64_t(a.ElementLength()) != mk)
    throw Napi::RangeError::New(env, "gemm: a has " + std::to_string(a.ElementLength()) +
                                         " elements but m x k" + (ta ? " (transposed)" : "") + " = " +
                                         shape(ta, m, k) + " needs " + std::to_string(mk));
  if (int64_t(b.ElementLength()) != kn)
    throw Napi::RangeError::New(env, "gemm: b has " + std::to_string(b.ElementLength()) +
                                         " elements but k x n" + (tb ? " (transposed)" : "") + " = " +
                                         shape(tb, k, n) + " needs " + std::to_string(kn));
  if (mn > int64_t(1) << 31) throw Napi::RangeError::New(env, "gemm: output of " + std::to_string(mn) + " floats is too large");
  Napi::Float32Array c = Napi::Float32Array::New(env, size_t(mn));
  const float* pa = a.Data();
  const float* pb = b.Data();
  float* pc = c.Data();
  const int64_t lda = ta ? m : k, ldb = tb ? k : n;
  return PromiseWorker::Start(
      env, {a, b, c},
      [=] {
        if (kReference) gemm_reference(ta, tb, m, n, k, 1.0f, pa, lda, pb, ldb, 0.0f, pc, n);
        else gemm(ta, tb, m, n, k, 1.0f, pa, lda, pb, ldb, 0.0f, pc, n);
      },
      [](Napi::Env, const std::vector<Napi::Value>& pinned) { return pinned[2]; });
}

}  // namespace

void RegisterGemm(Napi::Env env, Napi::Object exports) {
  exports.Set("gemm", Napi::Function::New(env, Gemm<false>, "gemm"));
  exports.Set("gemmReference", Napi::Function::New(env, Gemm<true>, "gemmReference"));
}

}  // namespace spogw::napi
