// The CPU causal GQA attention op (engine/ops.h) against tests/ops/attention.h.
#include "ops/attention.h"
#include "spogw/engine/ops.h"

using namespace spogw;
using namespace spogw::test;

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
  });
}
