// The CPU tree attention op (engine/ops.h) against tests/ops/tree_attention.h.
#include "ops/tree_attention.h"
#include "spogw/engine/ggml_numerics.h"
#include "spogw/engine/ops.h"

using namespace spogw;
using namespace spogw::test;

int main(int argc, char** argv) {
  TreeAttnScratch scratch;
  AlignedFloats plain_scratch;
  const TreeAttentionOps cpu{
      [&](const float* q, const float* k, const float* v, const GroupLayout& g, AttnHeads a, float* out) {
        tree_attention_forward(q, k, v, g, a, out, scratch);
      },
      [&](const float* dout, const float* q, const float* k, const float* v, const GroupLayout& g, AttnHeads a, float* dq, float* dk,
          float* dv) { tree_attention_backward(dout, q, k, v, g, a, dq, dk, dv, scratch); },
      [&](const float* q, const float* k, const float* v, AttnShape s, float* out) { attention_forward(q, k, v, s, out, plain_scratch); },
      ggml::exact_llama_cpp_numerics()};
  return run_checks(argc, argv, {
      {"tree attention forward", [&] { check_tree_attention_forward(cpu); }},
      {"tree attention backward", [&] { check_tree_attention_backward(cpu); }},
  });
}
