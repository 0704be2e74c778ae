// The CPU embedding op (engine/ops.h) against tests/ops/embedding.h.
#include "ops/embedding.h"
#include "spogw/engine/ops.h"

using namespace spogw;
using namespace spogw::test;

int main(int argc, char** argv) {
  const EmbeddingOps cpu{embedding_forward, embedding_backward};
  return run_checks(argc, argv, {
      {"embedding forward", [&] { check_embedding_forward(cpu); }},
      {"embedding backward", [&] { check_embedding_backward(cpu); }},
  });
}
