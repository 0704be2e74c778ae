// The CPU RoPE ops (engine/ops.h), both layouts, against tests/ops/rope.h.
#include "ops/rope.h"
#include "spogw/engine/ops.h"

using namespace spogw;
using namespace spogw::test;

int main(int argc, char** argv) {
  // A fresh angle table per call, as the engine builds one per sequence (n_rot = hd).
  const auto with_table = [](decltype(&rope_forward) apply) {
    return [apply](float* x, int64_t T, int64_t heads, int64_t hd, float base, RopeMode mode) {
      RopeTable table;
      rope_table(table, T, hd, base);
      apply(x, T, heads, hd, table, mode);
    };
  };
  const RopeOps cpu{with_table(rope_forward), with_table(rope_backward)};
  return run_checks(argc, argv, {
      {"rope norm forward", [&] { check_rope_forward(cpu, RopeMode::kNorm); }},
      {"rope norm backward", [&] { check_rope_backward(cpu, RopeMode::kNorm); }},
      {"rope neox forward", [&] { check_rope_forward(cpu, RopeMode::kNeox); }},
      {"rope neox backward", [&] { check_rope_backward(cpu, RopeMode::kNeox); }},
  });
}
