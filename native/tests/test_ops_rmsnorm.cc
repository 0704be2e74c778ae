// The CPU RMSNorm op (engine/ops.h) against tests/ops/rmsnorm.h.
#include "ops/rmsnorm.h"
#include "spogw/engine/ops.h"

using namespace spogw;
using namespace spogw::test;

int main(int argc, char** argv) {
  const RmsnormOps cpu{rmsnorm_forward, rmsnorm_backward};
  return run_checks(argc, argv, {
      {"rmsnorm forward", [&] { check_rmsnorm_forward(cpu); }},
      {"rmsnorm backward", [&] { check_rmsnorm_backward(cpu); }},
  });
}
