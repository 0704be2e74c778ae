// SwiGLU out = silu(gate) * up elementwise, silu(g) = g / (1 + e^-g). Forward against float64;
// dgate and dup against finite differences of the float64 forward.
#pragma once
#include "../test_util.h"

namespace spogw::test {

// Tolerances (test_util.h): measured errors beside them.
constexpr double kSwigluForwardTol = 5e-7;   // measured 1.0e-7
constexpr double kSwigluBackwardTol = 1e-6;  // measured 2.0e-7 (dgate), 8.6e-8 (dup)

struct SwigluOps {
  std::function<void(const float* gate, const float* up, int64_t T, int64_t F, float* out)> forward;
  // n = T * F values; dgate and dup overwritten.
  std::function<void(const float* dout, const float* gate, const float* up, int64_t n, float* dgate, float* dup)> backward;
};

// F = 37 and 67: whole 16- and 8-wide vector blocks plus a tail; F = 5: a tail only. Gates drawn
// with standard deviation 4 reach both flat ends of the sigmoid.
struct SwigluCase {
  int64_t T, F;
  std::string label() const { return format("T=%lld F=%lld", (long long)T, (long long)F); }
};
inline const std::vector<SwigluCase> kSwigluCases = {{3, 37}, {1, 5}, {4, 67}};

inline Doubles swiglu_reference(const Doubles& gate, const Doubles& up) {
  Doubles out(gate.size());
  for (size_t i = 0; i < gate.size(); i++) out[i] = gate[i] / (1.0 + std::exp(-gate[i])) * up[i];
  return out;
}

inline void check_swiglu_forward(const SwigluOps& op) {
  Rng rng(51);
  for (const SwigluCase& c : kSwigluCases) {
    const std::vector<float> gate = rng.normal(c.T * c.F, 4.0), up = rng.normal(c.T * c.F);
    std::vector<float> out(gate.size(), NAN);
    op.forward(gate.data(), up.data(), c.T, c.F, out.data());
    expect_close(c.label() + ": out", out.data(), swiglu_reference(widen(gate), widen(up)), kSwigluForwardTol);
  }
}

inline void check_swiglu_backward(const SwigluOps& op) {
  Rng rng(52);
  for (const SwigluCase& c : kSwigluCases) {
    const std::vector<float> gate_f = rng.normal(c.T * c.F, 4.0), up_f = rng.normal(c.T * c.F), dout = rng.normal(c.T * c.F);
    std::vector<float> dgate(gate_f.size(), NAN), dup(gate_f.size(), NAN);
    op.backward(dout.data(), gate_f.data(), up_f.data(), c.T * c.F, dgate.data(), dup.data());
    Doubles gate = widen(gate_f), up = widen(up_f);
    const Doubles dy = widen(dout);
    const auto loss = [&] { return dot(dy, swiglu_reference(gate, up)); };
    expect_gradient(c.label() + ": dgate", dgate.data(), central_differences(gate, 1e-5, loss), kSwigluBackwardTol);
    expect_gradient(c.label() + ": dup", dup.data(), central_differences(up, 1e-5, loss), kSwigluBackwardTol);
  }
}

}  // namespace spogw::test
