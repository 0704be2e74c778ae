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
      apply(x, T, heads, hd, table, mode, nullptr);
    };
  };
  const RopeOps cpu{with_table(rope_forward), with_table(rope_backward)};
  const auto at_positions = [](decltype(&rope_forward) apply) {
    return [apply](float* x, int64_t T, const int32_t* positions, int64_t table_T, int64_t heads, int64_t hd, float base, RopeMode mode) {
      RopeTable table;
      rope_table(table, table_T, hd, base);
      apply(x, T, heads, hd, table, mode, positions);
    };
  };
  const RopeAtOps cpu_at{at_positions(rope_forward), at_positions(rope_backward)};
  // A position past the angle table is refused with an error naming the row, not read out of bounds.
  const auto check_rope_position_refused = [] {
    RopeTable table;
    rope_table(table, 4, 6, 10000.0f);
    std::vector<float> x(size_t(2 * 6), 1.0f);
    const int32_t positions[2] = {3, 4};
    std::string message;
    try {
      rope_forward(x.data(), 2, 1, 6, table, RopeMode::kNorm, positions);
    } catch (const std::exception& e) {
      message = e.what();
    }
    report(message.find("row 1 is at position 4") != std::string::npos, "position 4 with a table of 4", "error: " + message);
  };
  return run_checks(argc, argv, {
      {"rope norm forward", [&] { check_rope_forward(cpu, RopeMode::kNorm); }},
      {"rope norm backward", [&] { check_rope_backward(cpu, RopeMode::kNorm); }},
      {"rope neox forward", [&] { check_rope_forward(cpu, RopeMode::kNeox); }},
      {"rope neox backward", [&] { check_rope_backward(cpu, RopeMode::kNeox); }},
      {"rope norm at positions", [&] { check_rope_at_positions(cpu_at, cpu, RopeMode::kNorm); }},
      {"rope neox at positions", [&] { check_rope_at_positions(cpu_at, cpu, RopeMode::kNeox); }},
      {"rope position outside the table", [&] { check_rope_position_refused(); }},
  });
}
