// Lab: the engine's block-quantized arithmetic (engine/ggml_quants.h) against ggml's own libraries,
// bit for bit: dequantization (GET_ROWS), activation quantization (Q8_0, Q8_1, Q8_K), and matrix
// products on both of llama.cpp's paths, the plain one (vec_dot / tinyBLAS: weights in an ordinary
// CPU buffer) and the repacked one (weights in the CPU_REPACK buffer llama.cpp's model loader uses).
// Not part of the build; the parity tests (test/train/engineParity.test.ts) are the end-to-end check.
// Build like ggml_parity_lab.cc (its header comment), with this file instead:
//
//   g++ -O2 -std=gnu++17 -ffp-contract=off -Inative/include -I/tmp/llama-src/ggml/include \
//       native/dev/ggml/ggml_quants_lab.cc native/build/libspogw_core.a \
//       /usr/lib/x86_64-linux-gnu/libopenblas.a -L$BINS -lggml-base -l:libggml-cpu-zen4.so \
//       -Wl,-rpath,$BINS -lpthread -lm -o /tmp/ggml_quants_lab && /tmp/ggml_quants_lab
//
// For the AVX2 build link libggml-cpu-haswell.so and run with SPOGW_GGML_BUILD=avx2.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "ggml-backend.h"
#include "ggml-cpu.h"
#include "ggml.h"
#include "spogw/engine/ggml_numerics.h"
#include "spogw/engine/ggml_quants.h"
#include "spogw/threads.h"

// repack.h (not installed): the CPU_REPACK buffer type llama.cpp's loader puts matrix weights in.
ggml_backend_buffer_type_t ggml_backend_cpu_repack_buffer_type();

using namespace spogw;

static std::mt19937 rng(7);
static std::vector<float> randn(size_t n, float scale) {
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

static int report(const char* what, const float* ours, const float* ref, size_t n) {
  size_t diff = 0;
  double worst = 0;
  for (size_t i = 0; i < n; i++)
    if (std::memcmp(&ours[i], &ref[i], 4) != 0) {
      diff++;
      worst = std::max(worst, double(std::fabs(ours[i] - ref[i])));
    }
  std::printf("%-62s %7zu values  %7zu differ  max |diff| %.3g\n", what, n, diff, worst);
  return diff ? 1 : 0;
}

static ggml::QuantMatrix quantize_weights(ggml_type type, const std::vector<float>& w, int64_t rows, int64_t cols) {
  ggml::QuantMatrix W;
  W.type = uint32_t(type);
  W.rows = rows;
  W.cols = cols;
  W.blocks.resize(size_t(rows * W.row_bytes()));
  ggml_quantize_chunk(type, w.data(), W.blocks.data(), 0, rows, cols, nullptr);
  return W;
}

static int check_dequantize(ggml_type type) {
  const int64_t n = 256 * 12;
  auto w = randn(size_t(n), 0.1f);
  ggml::QuantMatrix W = quantize_weights(type, w, 1, n);
  std::vector<float> ours(static_cast<size_t>(n)), ref(static_cast<size_t>(n));
  ggml::dequantize_row(W.type, W.blocks.data(), n, ours.data());
  ggml_get_type_traits(type)->to_float(W.blocks.data(), ref.data(), n);
  char what[96];
  std::snprintf(what, sizeof what, "dequantize %s", ggml_type_name(type));
  return report(what, ours.data(), ref.data(), size_t(n));
}

// ggml's from_float for the activation type against quantize_acts, field by field (as floats).
static int check_quantize_acts(ggml_type weight_type) {
  const ggml_type act = ggml_get_type_traits_cpu(weight_type)->vec_dot_type;
  const int64_t n = 256 * 8;
  auto x = randn(size_t(n), 1.0f);
  x[5] = 0.0f;
  std::vector<uint8_t> bytes(ggml_row_size(act, n));
  ggml_get_type_traits_cpu(act)->from_float(x.data(), bytes.data(), n);
  ggml::QuantizedActs ours;
  ggml::quantize_acts(x.data(), 1, n, ggml::act_quant_for(uint32_t(weight_type)), ours);
  // Lay both out as floats: per block d, (s), then the quants, (then the bsums).
  std::vector<float> a, b;
  const int64_t bv = ggml::act_block(ours.kind);
  for (int64_t blk = 0; blk < n / bv; blk++) {
    const uint8_t* p = bytes.data() + blk * ggml_type_size(act);
    uint16_t h;
    float df;
    if (act == GGML_TYPE_Q8_K) std::memcpy(&df, p, 4);
    else { std::memcpy(&h, p, 2); df = ggml::f16_to_f32(h); }
    a.push_back(ours.d[size_t(blk)]);
    b.push_back(df);
    if (act == GGML_TYPE_Q8_1) {
      std::memcpy(&h, p + 2, 2);
      a.push_back(ours.s[size_t(blk)]);
      b.push_back(ggml::f16_to_f32(h));
    }
    const int8_t* q = reinterpret_cast<const int8_t*>(p + (act == GGML_TYPE_Q8_0 ? 2 : 4));
    for (int64_t j = 0; j < bv; j++) {
      a.push_back(float(ours.q[size_t(blk * bv + j)]));
      b.push_back(float(q[j]));
    }
    if (act == GGML_TYPE_Q8_K)
      for (int g = 0; g < 16; g++) {
        int16_t s;
        std::memcpy(&s, p + 4 + 256 + 2 * g, 2);
        a.push_back(float(ours.bsums[size_t(blk * 16 + g)]));
        b.push_back(float(s));
      }
  }
  char what[96];
  std::snprintf(what, sizeof what, "quantize activations %s (for %s)", ggml_type_name(act), ggml_type_name(weight_type));
  return report(what, a.data(), b.data(), a.size());
}

// W as a ggml tensor in an ordinary CPU buffer, or in CPU_REPACK (repacked as llama.cpp's loader does).
struct GgmlWeight {
  ggml_context* ctx = nullptr;
  ggml_backend_buffer_t buffer = nullptr;
  ggml_tensor* tensor = nullptr;
  GgmlWeight(const ggml::QuantMatrix& W, bool repack) {
    ggml_init_params wp = {ggml_tensor_overhead() * 4 + W.blocks.size() + 64, nullptr, repack};
    ctx = ggml_init(wp);
    tensor = ggml_new_tensor_2d(ctx, ggml_type(W.type), W.cols, W.rows);
    if (repack) {
      buffer = ggml_backend_alloc_ctx_tensors_from_buft(ctx, ggml_backend_cpu_repack_buffer_type());
      ggml_backend_tensor_set(tensor, W.blocks.data(), 0, W.blocks.size());
    } else {
      std::memcpy(tensor->data, W.blocks.data(), W.blocks.size());
    }
  }
  ~GgmlWeight() {
    if (buffer) ggml_backend_buffer_free(buffer);
    ggml_free(ctx);
  }
};

// ggml_mul_mat(W, x) with W in an ordinary CPU buffer (repack = false) or in CPU_REPACK, against
// mul_mat_quant on the matching path.
static int check_mul_mat(ggml_type type, int64_t m, int64_t k, int64_t n, bool repack) {
  auto w = randn(size_t(m * k), 0.1f), x = randn(size_t(n * k), 1.0f);
  ggml::QuantMatrix W = quantize_weights(type, w, m, k);
  GgmlWeight wt(W, repack);
  ggml_init_params p = {size_t(64) << 20, nullptr, false};
  ggml_context* ctx = ggml_init(p);
  ggml_tensor* xt = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, k, n);
  std::memcpy(xt->data, x.data(), x.size() * 4);
  ggml_tensor* out = ggml_mul_mat(ctx, wt.tensor, xt);
  ggml_cgraph* gf = ggml_new_graph(ctx);
  ggml_build_forward_expand(gf, out);
  ggml_graph_compute_with_ctx(ctx, gf, 2);
  std::vector<float> ref(size_t(m * n));
  std::memcpy(ref.data(), out->data, ref.size() * 4);

  ggml::QuantizedActs xa;
  ggml::quantize_acts(x.data(), n, k, ggml::act_quant_for(W.type), xa);
  std::vector<float> ours(size_t(m * n));
  ggml::mul_mat_quant(W, repack ? ggml::QuantPath::kRepack : ggml::QuantPath::kVecDot, xa, ours.data(), m);
  char what[96];
  std::snprintf(what, sizeof what, "mul_mat %s %s m=%lld k=%lld n=%lld", ggml_type_name(type), repack ? "repack " : "vec_dot",
                (long long)m, (long long)k, (long long)n);
  const int bad = report(what, ours.data(), ref.data(), ref.size());
  ggml_free(ctx);
  return bad;
}

// Times mul_mat_quant (the engine's kernel on llama.cpp's path) against ggml's mul_mat on the same
// weights (repacked where llama.cpp repacks them) for one shape: the lab's own speed check.
static void time_mul_mat(ggml_type type, int64_t m, int64_t k, int64_t n) {
  auto w = randn(size_t(m * k), 0.1f), x = randn(size_t(n * k), 1.0f);
  ggml::QuantMatrix W = quantize_weights(type, w, m, k);
  const ggml::QuantPath path = ggml::quant_path(uint32_t(type), m);
  GgmlWeight wt(W, path == ggml::QuantPath::kRepack);
  ggml_init_params p = {size_t(256) << 20, nullptr, false};
  ggml_context* ctx = ggml_init(p);
  ggml_tensor* xt = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, k, n);
  std::memcpy(xt->data, x.data(), x.size() * 4);
  ggml_cgraph* gf = ggml_new_graph(ctx);
  ggml_build_forward_expand(gf, ggml_mul_mat(ctx, wt.tensor, xt));
  const auto seconds = [](auto&& fn) {
    fn();
    const auto t0 = std::chrono::steady_clock::now();
    for (int r = 0; r < 3; r++) fn();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / 3;
  };
  const double theirs = seconds([&] { ggml_graph_compute_with_ctx(ctx, gf, 2); });
  std::vector<float> ours(size_t(m * n));
  const double mine = seconds([&] {
    ggml::QuantizedActs xa;
    ggml::quantize_acts(x.data(), n, k, ggml::act_quant_for(W.type), xa);
    ggml::mul_mat_quant(W, path, xa, ours.data(), m);
  });
  std::printf("time %-5s %-7s m=%lld k=%lld n=%lld: ours %.2f ms, ggml %.2f ms (%.2fx)\n", ggml_type_name(type), ggml::quant_path_name(path),
              (long long)m, (long long)k, (long long)n, mine * 1e3, theirs * 1e3, mine / theirs);
  ggml_free(ctx);
}

int main(int argc, char** argv) {
  ggml_cpu_init();
  set_threads(2);
  if (argc > 1 && std::strcmp(argv[1], "--time") == 0) {
    for (ggml_type t : {GGML_TYPE_Q4_0, GGML_TYPE_Q4_1, GGML_TYPE_Q5_0, GGML_TYPE_Q2_K, GGML_TYPE_Q3_K, GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K})
      for (int64_t n : {1, 64}) time_mul_mat(t, 4864, 1024, n);
    return 0;
  }
  std::printf("reproducing ggml's %d-lane build\n", ggml::lanes());
  const ggml_type types[] = {GGML_TYPE_Q4_0, GGML_TYPE_Q4_1, GGML_TYPE_Q5_0, GGML_TYPE_Q5_1, GGML_TYPE_Q2_K,
                             GGML_TYPE_Q3_K, GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K};
  int bad = 0;
  for (ggml_type t : types) {
    bad += check_dequantize(t);
    bad += check_quantize_acts(t);
    for (int64_t n : {1, 3, 4, 14, 37}) bad += check_mul_mat(t, 20, 512, n, false);
    bad += check_mul_mat(t, 64, 768, 9, false);
    if (ggml::quant_path(uint32_t(t), 64) == ggml::QuantPath::kRepack)
      for (int64_t n : {1, 3, 4, 7, 14, 16, 37}) bad += check_mul_mat(t, 64, 768, n, true);
  }
  std::printf("%s\n", bad ? "MISMATCHES" : "all bit-identical");
  return bad ? 1 : 0;
}
