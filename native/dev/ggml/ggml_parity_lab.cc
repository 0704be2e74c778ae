// Lab: the engine's forward operations against ggml's own CPU kernels, bit for bit. It links the ggml
// libraries node-llama-cpp ships (the variant llama.cpp would pick here) and the engine's core, runs
// each llama.cpp graph operation on random inputs both ways and prints how many outputs differ and
// the largest difference. Not part of the build; the parity tests (test/train/engineParity.test.ts)
// are the real check. Build (ggml headers come from the llama.cpp source bundled with node-llama-cpp):
//
//   git clone -q node_modules/node-llama-cpp/llama/gitRelease.bundle /tmp/llama-src
//   node scripts/buildNative.mjs --cuda OFF
//   BINS=$(ls -d node_modules/@node-llama-cpp/linux-x64/bins/*)
//   g++ -O2 -std=gnu++17 -ffp-contract=off -Inative/include -I/tmp/llama-src/ggml/include \
//       native/dev/ggml/ggml_parity_lab.cc native/build/libspogw_core.a \
//       /usr/lib/x86_64-linux-gnu/libopenblas.a -L$BINS -lggml-base -l:libggml-cpu-zen4.so \
//       -Wl,-rpath,$BINS -lpthread -lm -o /tmp/ggml_parity_lab && /tmp/ggml_parity_lab
//
// libggml-cpu-zen4.so is an AVX-512 variant. For the AVX2 build, link libggml-cpu-haswell.so instead
// and run with SPOGW_GGML_BUILD=avx2 (it runs on AVX-512 CPUs too).
#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "ggml-cpu.h"
#include "ggml.h"
#include "spogw/engine/ggml_numerics.h"
#include "spogw/engine/model.h"
#include "spogw/engine/ops.h"
#include "spogw/threads.h"

using namespace spogw;

static std::mt19937 rng(7);
static std::vector<float> randn(size_t n, float scale = 1.0f) {
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

static ggml_context* new_ctx() {
  ggml_init_params p = {size_t(256) << 20, nullptr, false};
  return ggml_init(p);
}
static ggml_tensor* f32(ggml_context* ctx, const std::vector<float>& v, std::vector<int64_t> ne) {
  ggml_tensor* t = ggml_new_tensor(ctx, GGML_TYPE_F32, int(ne.size()), ne.data());
  std::memcpy(t->data, v.data(), v.size() * 4);
  return t;
}
static ggml_tensor* f16(ggml_context* ctx, const std::vector<float>& v, std::vector<int64_t> ne) {
  ggml_tensor* t = ggml_new_tensor(ctx, GGML_TYPE_F16, int(ne.size()), ne.data());
  ggml_fp32_to_fp16_row(v.data(), (ggml_fp16_t*)t->data, int64_t(v.size()));
  return t;
}
static std::vector<float> compute(ggml_context* ctx, ggml_tensor* out, int threads = 2) {
  ggml_cgraph* gf = ggml_new_graph(ctx);
  ggml_build_forward_expand(gf, out);
  ggml_graph_compute_with_ctx(ctx, gf, threads);
  std::vector<float> r(size_t(ggml_nelements(out)));
  std::memcpy(r.data(), out->data, r.size() * 4);
  return r;
}
static int report(const char* what, const std::vector<float>& ours, const std::vector<float>& ggml) {
  size_t diff = 0;
  double worst = 0;
  for (size_t i = 0; i < ours.size(); i++)
    if (std::memcmp(&ours[i], &ggml[i], 4) != 0) {
      diff++;
      worst = std::max(worst, double(std::fabs(ours[i] - ggml[i])));
    }
  std::printf("%-58s %7zu values  %7zu differ  max |diff| %.3g\n", what, ours.size(), diff, worst);
  return diff ? 1 : 0;
}

static int check_mul_mat(int64_t m, int64_t k, int64_t n, bool half) {
  ggml_context* ctx = new_ctx();
  auto W = randn(size_t(m * k), 0.1f), x = randn(size_t(n * k));
  std::vector<float> Wr(W.size()), xr(x.size());
  round_inputs(W.data(), 1, int64_t(W.size()), half ? InputRounding::kF16 : InputRounding::kNone, Wr.data());
  round_inputs(x.data(), 1, int64_t(x.size()), half ? InputRounding::kF16 : InputRounding::kNone, xr.data());
  ggml_tensor* w = half ? f16(ctx, W, {k, m}) : f32(ctx, W, {k, m});
  auto ref = compute(ctx, ggml_mul_mat(ctx, w, f32(ctx, x, {k, n})));
  std::vector<float> ours(size_t(m * n));
  ggml::mul_mat(Wr.data(), m, k, xr.data(), n, half ? ggml::DotType::kF16 : ggml::DotType::kF32, ours.data(), m);
  char what[128];
  std::snprintf(what, sizeof what, "mul_mat %s m=%lld k=%lld n=%lld", half ? "F16" : "F32", (long long)m, (long long)k, (long long)n);
  int bad = report(what, ours, ref);
  ggml::set_kernel_mode(ggml::KernelMode::kPortable);
  std::vector<float> portable(size_t(m * n));
  ggml::mul_mat(Wr.data(), m, k, xr.data(), n, half ? ggml::DotType::kF16 : ggml::DotType::kF32, portable.data(), m);
  ggml::set_kernel_mode(ggml::KernelMode::kAuto);
  bad += report("  (portable kernel)", portable, ref);
  ggml_free(ctx);
  return bad;
}

static int check_mul_mat_bf16(int64_t m, int64_t k, int64_t n) {
  ggml_context* ctx = new_ctx();
  auto W = randn(size_t(m * k), 0.1f), x = randn(size_t(n * k));
  ggml_tensor* w = ggml_new_tensor_2d(ctx, GGML_TYPE_BF16, k, m);
  ggml_fp32_to_bf16_row(W.data(), (ggml_bf16_t*)w->data, int64_t(W.size()));
  std::vector<float> Wr(W.size()), xr(x.size());
  ggml_bf16_to_fp32_row((const ggml_bf16_t*)w->data, Wr.data(), int64_t(W.size()));
  for (size_t i = 0; i < x.size(); i++) xr[i] = ggml::round_bf16(x[i]);
  auto ref = compute(ctx, ggml_mul_mat(ctx, w, f32(ctx, x, {k, n})));
  std::vector<float> ours(size_t(m * n));
  ggml::mul_mat(Wr.data(), m, k, xr.data(), n, ggml::DotType::kBF16, ours.data(), m);
  char what[128];
  std::snprintf(what, sizeof what, "mul_mat BF16 m=%lld k=%lld n=%lld", (long long)m, (long long)k, (long long)n);
  ggml_free(ctx);
  return report(what, ours, ref);
}

static int check_mul_mat_q8_0(int64_t m, int64_t k, int64_t n) {
  ggml_context* ctx = new_ctx();
  auto W = randn(size_t(m * k), 0.1f), x = randn(size_t(n * k));
  ggml_tensor* w = ggml_new_tensor_2d(ctx, GGML_TYPE_Q8_0, k, m);
  ggml_quantize_chunk(GGML_TYPE_Q8_0, W.data(), w->data, 0, m, k, nullptr);
  std::vector<int8_t> wq(size_t(m * k)), xq(size_t(n * k));
  std::vector<float> wd(size_t(m * k / 32)), xd(size_t(n * k / 32));
  for (int64_t b = 0; b < m * k / 32; b++) {
    const uint8_t* p = (const uint8_t*)w->data + b * 34;
    wd[size_t(b)] = ggml_fp16_to_fp32(*(const ggml_fp16_t*)p);
    std::memcpy(&wq[size_t(b * 32)], p + 2, 32);
  }
  ggml::quantize_q8_0(x.data(), n * k, xq.data(), xd.data());
  auto ref = compute(ctx, ggml_mul_mat(ctx, w, f32(ctx, x, {k, n})));
  std::vector<float> ours(size_t(m * n));
  ggml::mul_mat_q8_0({wq.data(), wd.data()}, m, k, {xq.data(), xd.data()}, n, ours.data(), m);
  char what[128];
  std::snprintf(what, sizeof what, "mul_mat Q8_0 m=%lld k=%lld n=%lld", (long long)m, (long long)k, (long long)n);
  ggml_free(ctx);
  return report(what, ours, ref);
}

static int check_rms_norm(int64_t d, int64_t T) {
  ggml_context* ctx = new_ctx();
  auto x = randn(size_t(d * T)), w = randn(size_t(d));
  auto ref = compute(ctx, ggml_mul(ctx, ggml_rms_norm(ctx, f32(ctx, x, {d, T}), 1e-6f), f32(ctx, w, {d})));
  std::vector<float> ours(x.size()), rstd(static_cast<size_t>(T));
  rmsnorm_forward(x.data(), w.data(), T, d, 1e-6f, ours.data(), rstd.data());
  ggml_free(ctx);
  return report("rms_norm * weight", ours, ref);
}

static int check_rope(int64_t hd, int64_t H, int64_t T, bool neox) {
  ggml_context* ctx = new_ctx();
  auto x = randn(size_t(hd * H * T));
  ggml_tensor* pos = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, T);
  for (int64_t t = 0; t < T; t++) ((int32_t*)pos->data)[t] = int32_t(t);
  auto ref = compute(ctx, ggml_rope_ext(ctx, f32(ctx, x, {hd, H, T}), pos, nullptr, int(hd), neox ? GGML_ROPE_TYPE_NEOX : 0, 0, 10000.0f, 1.0f,
                                        0.0f, 1.0f, 32.0f, 1.0f));
  RopeTable table;
  rope_table(table, T, hd, 10000.0f);
  std::vector<float> ours = x;
  rope_forward(ours.data(), T, H, hd, table, neox ? RopeMode::kNeox : RopeMode::kNorm);
  ggml_free(ctx);
  return report(neox ? "rope neox" : "rope norm", ours, ref);
}

static int check_swiglu(int64_t F, int64_t T) {
  ggml_context* ctx = new_ctx();
  auto g = randn(size_t(F * T), 3.0f), u = randn(size_t(F * T));
  auto ref = compute(ctx, ggml_swiglu_split(ctx, f32(ctx, g, {F, T}), f32(ctx, u, {F, T})));
  std::vector<float> ours(g.size());
  swiglu_forward(g.data(), u.data(), T, F, ours.data());
  ggml_free(ctx);
  char what[64];
  std::snprintf(what, sizeof what, "swiglu F=%lld", (long long)F);
  return report(what, ours, ref);
}

// llama.cpp's attention without flash attention, F32 cache of n_kv cells (zeros past T), as in
// build_attn_mha: kq = k^T q, softmax_ext(kq, mask, 1/sqrt(hd)), kqv = v_cache^T kq.
static int check_attention(int64_t hd, int64_t H, int64_t KV, int64_t T, int64_t n_kv) {
  ggml_context* ctx = new_ctx();
  auto q = randn(size_t(hd * H * T)), k = randn(size_t(hd * KV * T)), v = randn(size_t(hd * KV * T));
  std::vector<float> kc(size_t(hd * KV * n_kv), 0.0f), vt(size_t(n_kv * hd * KV), 0.0f), mask(size_t(n_kv * T));
  for (int64_t j = 0; j < T; j++)
    for (int64_t g = 0; g < KV; g++)
      for (int64_t i = 0; i < hd; i++) {
        kc[size_t((g * n_kv + j) * hd + i)] = k[size_t(j * KV * hd + g * hd + i)];
        vt[size_t((g * hd + i) * n_kv + j)] = v[size_t(j * KV * hd + g * hd + i)];
      }
  for (int64_t t = 0; t < T; t++)
    for (int64_t j = 0; j < n_kv; j++) mask[size_t(t * n_kv + j)] = j <= t ? 0.0f : -INFINITY;
  ggml_tensor* Q = ggml_permute(ctx, f32(ctx, q, {hd, H, T}), 0, 2, 1, 3);  // [hd, T, H], not contiguous
  ggml_tensor* K = f32(ctx, kc, {hd, n_kv, KV});
  ggml_tensor* kq = ggml_mul_mat(ctx, K, Q);
  kq = ggml_soft_max_ext(ctx, kq, f16(ctx, mask, {n_kv, T}), 1.0f / std::sqrt(float(hd)), 0.0f);
  ggml_tensor* kqv = ggml_mul_mat(ctx, f32(ctx, vt, {n_kv, hd, KV}), kq);  // [hd, T, H]
  ggml_tensor* out = ggml_cont_2d(ctx, ggml_permute(ctx, kqv, 0, 2, 1, 3), hd * H, T);
  auto ref = compute(ctx, out);
  std::vector<float> ours(size_t(T * H * hd));
  AlignedFloats scratch;
  attention_forward(q.data(), k.data(), v.data(), {T, H, KV, hd}, ours.data(), scratch);
  ggml_free(ctx);
  char what[96];
  std::snprintf(what, sizeof what, "attention hd=%lld H=%lld KV=%lld T=%lld n_kv=%lld", (long long)hd, (long long)H, (long long)KV, (long long)T,
                (long long)n_kv);
  return report(what, ours, ref);
}

int main() {
  ggml_cpu_init();
  set_threads(2);
  std::printf("reproducing ggml's %d-lane build (SPOGW_GGML_BUILD=avx2 with the haswell library)\n", ggml::lanes());
  int bad = 0;
  for (bool half : {true, false}) {
    bad += check_mul_mat(96, 64, 14, half);   // tinyBLAS
    bad += check_mul_mat(96, 64, 1, half);    // one column: vec_dot
    bad += check_mul_mat(6, 64, 14, half);    // rows % 4 != 0: vec_dot
    bad += check_mul_mat(96, 40, 14, half);   // k % 16 != 0: vec_dot with leftovers
    bad += check_mul_mat(256, 896, 37, half);
  }
  bad += check_mul_mat(8, 4, 14, false);      // LoRA B: k = rank
  for (auto [m, k, n] : {std::array<int64_t, 3>{96, 64, 14}, {96, 64, 1}, {6, 64, 14}, {96, 96, 14}, {96, 160, 5}, {256, 896, 37}}) {
    bad += check_mul_mat_bf16(m, k, n);
    bad += check_mul_mat_q8_0(m, k, n);
  }
  bad += check_mul_mat_bf16(96, 40, 14);     // k % 32 != 0: vec_dot_bf16 leftovers
  bad += check_rms_norm(896, 9);
  bad += check_rope(16, 4, 40, false);
  bad += check_rope(64, 4, 300, true);
  bad += check_swiglu(4864, 3);
  bad += check_swiglu(100, 3);
  bad += check_attention(16, 4, 2, 14, 256);
  bad += check_attention(64, 14, 2, 70, 256);
  bad += check_attention(16, 1, 1, 20, 256);
  std::printf("%s\n", bad ? "MISMATCHES" : "all bit-identical");
  return bad ? 1 : 0;
}
