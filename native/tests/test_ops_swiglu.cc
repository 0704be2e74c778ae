// The CPU SwiGLU op (engine/ops.h) against tests/ops/swiglu.h.
#include "ops/swiglu.h"
#include "spogw/engine/ops.h"

using namespace spogw;
using namespace spogw::test;

int main(int argc, char** argv) {
  const SwigluOps cpu{swiglu_forward, swiglu_backward};
  return run_checks(argc, argv, {
      {"swiglu forward", [&] { check_swiglu_forward(cpu); }},
      {"swiglu backward", [&] { check_swiglu_backward(cpu); }},
  });
}
