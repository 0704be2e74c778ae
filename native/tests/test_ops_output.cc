// The CPU output layer (the fused log-prob + loss kernel, grpo_loss.h) against tests/ops/output.h.
#include "ops/output.h"
#include "spogw/grpo_loss.h"

using namespace spogw;
using namespace spogw::test;

int main(int argc, char** argv) {
  // Tiles of 2 rows: every case with T > 2 runs several tiles and a partial last one.
  constexpr int64_t kTileRows = 2;
  const OutputOps cpu{
      [](const float* hidden, const float* lm_head, const int32_t* targets, int64_t T, int64_t d, int64_t V, float temperature,
         float* logp) { selective_logprobs(hidden, lm_head, targets, T, d, V, temperature, logp, kTileRows); },
      [](const GrpoLossInputs& in, const GrpoLossConfig& cfg, float* logp, float* d_hidden) {
        return grpo_loss_fused(in, cfg, {logp, d_hidden}, kTileRows).loss;
      }};
  return run_checks(argc, argv, {
      {"output forward", [&] { check_output_forward(cpu); }},
      {"output backward", [&] { check_output_backward(cpu); }},
  });
}
