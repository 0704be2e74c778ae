// Linear with a LoRA branch, y = W round(x) + s B (A x) + b (W [n_out, n_in] frozen, A [r, n_in],
// B [n_out, r], s = alpha / r), for the float types, Q8_0 and Q4_0. Q4_0 stands for the block-quantized
// types: they share the backward that dequantises blocks of rows, and each one's products are checked
// bit for bit against ggml's libraries in dev/ggml/ggml_quants_lab.cc and end to end against
// llama.cpp in test/train/engineParity.test.ts. round() is what llama.cpp does to a product's input
// for the weight's type: nothing for F32, the nearest F16 or BF16 value, Q8_0 blocks of 32. The forward (y and the saved xa = x A^T) is checked against a float64
// reference that rounds x the same way, written here from the formats' definitions. The backward
// treats the rounding as the identity (straight-through), so dx, gA and gB are checked against
// finite differences of the unrounded float64 product W x + s B (A x) + b.
#pragma once
#include "../test_util.h"
#include "spogw/engine/ggml_quants.h"
#include "spogw/engine/ops.h"

namespace spogw::test {

// Tolerances (test_util.h): measured errors beside them, worst over the weight types (q4_0 alone:
// y 1.1e-7, dx 1.3e-7, gA 1.7e-7, gB 2.6e-7).
constexpr double kLinearForwardTol = 1e-6;   // measured 2.0e-7 (y), 2.4e-7 (xa)
constexpr double kLinearBackwardTol = 1e-6;  // measured 1.9e-7 (dx), 2.3e-7 (gA), 2.6e-7 (gB)

enum class WeightType { kF32, kF16, kBF16, kQ8_0, kQ4_0 };
inline const char* weight_type_name(WeightType t) {
  switch (t) {
    case WeightType::kF32: return "f32";
    case WeightType::kF16: return "f16";
    case WeightType::kBF16: return "bf16";
    case WeightType::kQ8_0: return "q8_0";
    case WeightType::kQ4_0: return "q4_0";
  }
  return "?";
}

struct LinearOps {
  // y [T, n_out] overwritten; xa [T, r] written when lora.active().
  std::function<void(const float* x, int64_t T, int64_t n_in, int64_t n_out, const FrozenWeight& W, const float* bias,
                     const LoraRef& lora, float* y, float* xa)>
      forward;
  // dx overwritten (added to when accumulate_dx); lora.gA and lora.gB accumulate.
  std::function<void(const float* dy, const float* x, const float* xa, int64_t T, int64_t n_in, int64_t n_out,
                     const FrozenWeight& W, const LoraRef& lora, float* dx, bool accumulate_dx)>
      backward;
};

// r = 0: no LoRA branch. n_in = 64, n_out = 32 with T >= 2 is the shape ggml hands to tinyBLAS; the
// odd shapes take its one-dot-per-output path. Q8_0 and Q4_0 rows are whole blocks of 32, so their
// n_in is 96 where the others have 45. Q4_0 with 32 rows takes llama.cpp's repacked (interleaved)
// kernel, with 29 rows the vec_dot one.
struct LinearCase {
  int64_t T, n_in, n_out, r;
  bool bias, accumulate_dx;
  std::string label() const {
    return format("T=%lld n_in=%lld n_out=%lld r=%lld", (long long)T, (long long)n_in, (long long)n_out, (long long)r) +
           (bias ? " +bias" : "") + (accumulate_dx ? " dx+=" : "");
  }
};
inline std::vector<LinearCase> linear_cases(WeightType type) {
  const int64_t odd_in = type == WeightType::kQ8_0 || type == WeightType::kQ4_0 ? 96 : 45;
  return {{5, odd_in, 29, 3, true, false}, {1, odd_in, 29, 3, true, false}, {3, 64, 32, 4, false, true}, {4, odd_in, 29, 0, true, false}};
}

// The nearest value with `bits` significant bits (ties to even), on a grid no finer than 2^min_exp:
// F16 is (11, -24), its subnormals spaced 2^-24; BF16 is (8, -133).
inline double round_to_bits(double x, int bits, int min_exp) {
  if (x == 0.0) return x;
  int e = 0;
  std::frexp(x, &e);  // |x| in [2^(e-1), 2^e)
  const double quantum = std::ldexp(1.0, std::max(e - bits, min_exp));
  return std::nearbyint(x / quantum) * quantum;
}
inline double round_f16_reference(double x) { return round_to_bits(x, 11, -24); }

// x rounded as llama.cpp rounds a product's input for the weight type. Q8_0 (ggml's quantize_row_q8_0):
// per block of 32, amax = max |x|, q = round(x * (127 / amax)) in float32, ties to even, and the
// value is q times amax / 127 rounded to F16.
inline Doubles round_reference(const std::vector<float>& x, WeightType type) {
  Doubles out(x.size());
  switch (type) {
    case WeightType::kF32: return widen(x);
    case WeightType::kF16:
      for (size_t i = 0; i < x.size(); i++) out[i] = round_f16_reference(x[i]);
      return out;
    case WeightType::kBF16:
      for (size_t i = 0; i < x.size(); i++) out[i] = round_to_bits(x[i], 8, -133);
      return out;
    case WeightType::kQ8_0:
    case WeightType::kQ4_0:  // its products take Q8_0 activations too
      for (size_t b = 0; b < x.size(); b += 32) {
        float amax = 0.0f;
        for (size_t j = b; j < b + 32; j++) amax = std::max(amax, std::fabs(x[j]));
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        const double scale = round_f16_reference(amax / 127.0f);
        for (size_t j = b; j < b + 32; j++) out[j] = std::nearbyint(x[j] * id) * scale;
      }
      return out;
  }
  return out;
}

// A frozen weight whose values its type holds exactly, made without the code under test, and those
// values in float64 (`w`): F16 and BF16 values are k / 512 with |k| <= 255 (8 significant bits); Q8_0
// blocks are int8 values times an F16 scale m / 2^16 with m < 2048 (11 bits). Q4_0 is held as its
// GGUF blocks only, as the engine holds it (the backward must dequantise them): per 32 values an F16
// scale d = m / 2^16, m in [1024, 2047] (F16 bits (9 << 10) | (m - 1024)), then 16 bytes whose low
// nibbles are values 0..15 and high nibbles values 16..31, each (q - 8) d (ggml's block_q4_0).
inline FrozenWeight make_frozen_weight(WeightType type, int64_t n_out, int64_t n_in, Rng& rng, Doubles& w) {
  FrozenWeight W;
  const int64_t n = n_out * n_in;
  W.rows = n_out;
  W.cols = n_in;
  w.assign(size_t(n), 0.0);
  const auto uniform_int = [&](int64_t lo, int64_t hi) { return lo + rng.index(hi - lo + 1); };
  if (type == WeightType::kQ4_0) {
    W.type = W.quant.type = ggml::kQ4_0;
    W.quant.rows = n_out;
    W.quant.cols = n_in;
    W.rounding = InputRounding::kQ8_0;
    for (int64_t b = 0; b < n / 32; b++) {
      const int64_t m = uniform_int(1024, 2047);
      const uint16_t bits = uint16_t((9 << 10) | (m - 1024));
      W.quant.blocks.push_back(uint8_t(bits & 0xff));
      W.quant.blocks.push_back(uint8_t(bits >> 8));
      const double d = double(m) / 65536.0;
      for (int64_t j = 0; j < 16; j++) {
        const int64_t lo = uniform_int(0, 15), hi = uniform_int(0, 15);
        W.quant.blocks.push_back(uint8_t(lo | (hi << 4)));
        w[size_t(b * 32 + j)] = double(lo - 8) * d;
        w[size_t(b * 32 + j + 16)] = double(hi - 8) * d;
      }
    }
    return W;
  }
  W.values.resize(size_t(n));
  switch (type) {
    case WeightType::kF32: {
      const std::vector<float> v = rng.normal(n, 0.3);
      std::copy(v.begin(), v.end(), W.values.begin());
      W.rounding = InputRounding::kNone;
      break;
    }
    case WeightType::kF16:
    case WeightType::kBF16:
      for (float& v : W.values) v = float(uniform_int(-255, 255)) / 512.0f;
      W.rounding = type == WeightType::kF16 ? InputRounding::kF16 : InputRounding::kBF16;
      break;
    case WeightType::kQ8_0:
      W.rounding = InputRounding::kQ8_0;
      W.q8.resize(size_t(n));
      W.q8_scale.resize(size_t(n / 32));
      for (float& s : W.q8_scale) s = float(uniform_int(256, 2047)) / 65536.0f;
      for (int64_t i = 0; i < n; i++) {
        W.q8[size_t(i)] = int8_t(uniform_int(-127, 127));
        W.values[size_t(i)] = float(W.q8[size_t(i)]) * W.q8_scale[size_t(i / 32)];
      }
      break;
    case WeightType::kQ4_0: break;
  }
  for (int64_t i = 0; i < n; i++) w[size_t(i)] = W.values[size_t(i)];
  return W;
}

// The same weight when only the weight is wanted (whole-model tests).
inline FrozenWeight make_frozen_weight(WeightType type, int64_t n_out, int64_t n_in, Rng& rng) {
  Doubles unused;
  return make_frozen_weight(type, n_out, n_in, rng, unused);
}

struct LinearInputs {
  Doubles w;  // W's values in float64
  FrozenWeight W;
  std::vector<float> x, A, B, bias;
  float scale = 0.0f;  // alpha / r
  LinearInputs(WeightType type, const LinearCase& c, Rng& rng)
      : W(make_frozen_weight(type, c.n_out, c.n_in, rng, w)),
        x(rng.normal(c.T * c.n_in)),
        A(rng.normal(c.r * c.n_in, 1.0 / std::sqrt(double(c.n_in)))),
        B(rng.normal(c.n_out * c.r, 0.5)),
        bias(c.bias ? rng.normal(c.n_out) : std::vector<float>()),
        scale(c.r > 0 ? 2.0f / float(c.r) : 0.0f) {}
  LoraRef lora(int64_t r, float* gA, float* gB) const {
    LoraRef ref;
    if (r == 0) return ref;
    ref.A = A.data();
    ref.B = B.data();
    ref.gA = gA;
    ref.gB = gB;
    ref.r = r;
    ref.scale = scale;
    return ref;
  }
};

// xa = x A^T [T, r] in float64.
inline Doubles lora_input_reference(const Doubles& x, const Doubles& A, const LinearCase& c) {
  Doubles xa(size_t(c.T * c.r), 0.0);
  for (int64_t t = 0; t < c.T; t++)
    for (int64_t k = 0; k < c.r; k++)
      for (int64_t i = 0; i < c.n_in; i++) xa[size_t(t * c.r + k)] += A[size_t(k * c.n_in + i)] * x[size_t(t * c.n_in + i)];
  return xa;
}

// y = W xw + s B (A x) + b in float64: xw is x as the frozen product sees it (rounded or not).
inline Doubles linear_reference(const Doubles& xw, const Doubles& x, const Doubles& W, const Doubles& A, const Doubles& B,
                                const Doubles& bias, double scale, const LinearCase& c) {
  const Doubles xa = lora_input_reference(x, A, c);
  Doubles y(size_t(c.T * c.n_out), 0.0);
  for (int64_t t = 0; t < c.T; t++)
    for (int64_t o = 0; o < c.n_out; o++) {
      double s = bias.empty() ? 0.0 : bias[size_t(o)], lora = 0.0;
      for (int64_t i = 0; i < c.n_in; i++) s += W[size_t(o * c.n_in + i)] * xw[size_t(t * c.n_in + i)];
      for (int64_t k = 0; k < c.r; k++) lora += B[size_t(o * c.r + k)] * xa[size_t(t * c.r + k)];
      y[size_t(t * c.n_out + o)] = s + scale * lora;
    }
  return y;
}

inline void check_linear_forward(const LinearOps& op, WeightType type) {
  Rng rng(61);
  for (const LinearCase& c : linear_cases(type)) {
    const LinearInputs in(type, c, rng);
    std::vector<float> y(size_t(c.T * c.n_out), NAN), xa(size_t(c.T * c.r), NAN);
    op.forward(in.x.data(), c.T, c.n_in, c.n_out, in.W, c.bias ? in.bias.data() : nullptr, in.lora(c.r, nullptr, nullptr), y.data(), xa.data());
    const Doubles x = widen(in.x), A = widen(in.A);
    const Doubles want = linear_reference(round_reference(in.x, type), x, in.w, A, widen(in.B), widen(in.bias), in.scale, c);
    expect_close(c.label() + ": y", y.data(), want, kLinearForwardTol);
    if (c.r > 0) expect_close(c.label() + ": xa", xa.data(), lora_input_reference(x, A, c), kLinearForwardTol);
  }
}

inline void check_linear_backward(const LinearOps& op, WeightType type) {
  Rng rng(62);
  for (const LinearCase& c : linear_cases(type)) {
    const LinearInputs in(type, c, rng);
    const std::vector<float> dy = rng.normal(c.T * c.n_out), dx0 = rng.normal(c.T * c.n_in), gA0 = rng.normal(c.r * c.n_in, 0.1),
                             gB0 = rng.normal(c.n_out * c.r, 0.1);
    // dx starts as garbage when the backward must overwrite it; the LoRA gradients accumulate.
    std::vector<float> y(size_t(c.T * c.n_out)), xa(size_t(c.T * c.r)), dx = c.accumulate_dx ? dx0 : std::vector<float>(dx0.size(), NAN),
                                                                          gA = gA0, gB = gB0;
    const LoraRef lora = in.lora(c.r, gA.data(), gB.data());
    op.forward(in.x.data(), c.T, c.n_in, c.n_out, in.W, c.bias ? in.bias.data() : nullptr, lora, y.data(), xa.data());
    op.backward(dy.data(), in.x.data(), xa.data(), c.T, c.n_in, c.n_out, in.W, lora, dx.data(), c.accumulate_dx);

    Doubles x = widen(in.x), A = widen(in.A), B = widen(in.B);
    const Doubles& W = in.w;
    const Doubles bias = widen(in.bias), dyd = widen(dy);
    const auto loss = [&] { return dot(dyd, linear_reference(x, x, W, A, B, bias, in.scale, c)); };
    const auto plus = [](Doubles a, const std::vector<float>& b) {
      for (size_t i = 0; i < a.size(); i++) a[i] += b[i];
      return a;
    };
    const Doubles fd_x = central_differences(x, 1e-3, loss);
    expect_gradient(c.label() + ": dx", dx.data(), c.accumulate_dx ? plus(fd_x, dx0) : fd_x, kLinearBackwardTol);
    if (c.r == 0) continue;
    expect_gradient(c.label() + ": gA (accumulated)", gA.data(), plus(central_differences(A, 1e-3, loss), gA0), kLinearBackwardTol);
    expect_gradient(c.label() + ": gB (accumulated)", gB.data(), plus(central_differences(B, 1e-3, loss), gB0), kLinearBackwardTol);
  }
}

}  // namespace spogw::test
