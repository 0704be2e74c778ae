// The CPU causal GQA attention op (engine/ops.h) against tests/ops/attention.h, and its scores taken
// 16 keys at a time (ggml::dot_vec_f32_keys) against ggml_vec_dot_f32 one key at a time, bit for bit.
#include <cstring>

#include "ops/attention.h"
#include "spogw/engine/ggml_numerics.h"
#include "spogw/engine/ops.h"

using namespace spogw;
using namespace spogw::test;

namespace {

void check_scores_keys_at_once() {
  Rng rng(17);
  for (const int64_t hd : {64, 128}) {
    if (!ggml::keys_at_once(hd)) {
      std::printf("  (no AVX-512 here: the 16-keys kernel does not run for hd=%lld, and the one-key path is the one tested)\n", (long long)hd);
    }
    for (const int64_t n : {1, 15, 16, 17, 100}) {
      const int64_t ldkt = (n + 15) / 16 * 16;
      const std::vector<float> q = rng.normal(hd), keys = rng.normal(n * hd);
      std::vector<float> kt(size_t(hd * ldkt), 0.0f), got(size_t(n) + 16, -3.0f), want(size_t(n) + 16, -3.0f);
      for (int64_t j = 0; j < n; j++)
        for (int64_t e = 0; e < hd; e++) kt[size_t(e * ldkt + j)] = keys[size_t(j * hd + e)];
      ggml::dot_vec_f32_keys(q.data(), kt.data(), ldkt, n, hd, got.data());
      for (int64_t j = 0; j < n; j++) want[size_t(j)] = ggml::dot_vec_f32(keys.data() + j * hd, q.data(), hd);
      const bool same = std::memcmp(got.data(), want.data(), got.size() * sizeof(float)) == 0;
      report(same, format("hd=%lld, %lld keys", (long long)hd, (long long)n), "bit for bit, nothing written past the last key");
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  AlignedFloats scratch;
  const AttentionOps cpu{
      [&](const float* q, const float* k, const float* v, AttnShape s, float* out) { attention_forward(q, k, v, s, out, scratch); },
      [&](const float* dout, const float* q, const float* k, const float* v, AttnShape s, float* dq, float* dk, float* dv) {
        attention_backward(dout, q, k, v, s, dq, dk, dv, scratch);
      }};
  return run_checks(argc, argv, {
      {"attention forward", [&] { check_attention_forward(cpu); }},
      {"attention backward", [&] { check_attention_backward(cpu); }},
      {"attention scores keys at once", [&] { check_scores_keys_at_once(); }},
  });
}
