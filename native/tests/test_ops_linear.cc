// The CPU linear + LoRA op (engine/ops.h), for each frozen weight type, against tests/ops/linear.h.
#include "ops/linear.h"
#include "spogw/engine/ops.h"

using namespace spogw;
using namespace spogw::test;

int main(int argc, char** argv) {
  std::vector<float> scratch;
  const LinearOps cpu{
      [&](const float* x, int64_t T, int64_t n_in, int64_t n_out, const FrozenWeight& W, const float* bias, const LoraRef& lora,
          float* y, float* xa) { linear_forward(x, T, n_in, n_out, W, bias, lora, y, xa, scratch); },
      [&](const float* dy, const float* x, const float* xa, int64_t T, int64_t n_in, int64_t n_out, const FrozenWeight& W,
          const LoraRef& lora, float* dx, bool accumulate_dx) {
        linear_backward(dy, x, xa, T, n_in, n_out, W, lora, dx, accumulate_dx, scratch);
      }};
  return run_checks(argc, argv, {
      {"linear f32 forward", [&] { check_linear_forward(cpu, WeightType::kF32); }},
      {"linear f32 backward", [&] { check_linear_backward(cpu, WeightType::kF32); }},
      {"linear f16 forward", [&] { check_linear_forward(cpu, WeightType::kF16); }},
      {"linear f16 backward", [&] { check_linear_backward(cpu, WeightType::kF16); }},
      {"linear bf16 forward", [&] { check_linear_forward(cpu, WeightType::kBF16); }},
      {"linear bf16 backward", [&] { check_linear_backward(cpu, WeightType::kBF16); }},
      {"linear q8_0 forward", [&] { check_linear_forward(cpu, WeightType::kQ8_0); }},
      {"linear q8_0 backward", [&] { check_linear_backward(cpu, WeightType::kQ8_0); }},
      {"linear q4_0 forward", [&] { check_linear_forward(cpu, WeightType::kQ4_0); }},
      {"linear q4_0 backward", [&] { check_linear_backward(cpu, WeightType::kQ4_0); }},
  });
}
