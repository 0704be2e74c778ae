// Thread count shared by BLAS and our own parallel loops. Set once, explicitly (these machines have
// 2 cores; a default taken from a library is often far too high). parallel_for runs on a persistent
// pool so that per-call cost stays in microseconds on the hot path.
#pragma once
#include <cstdint>
#include <functional>

namespace spogw {

// Number of threads used by gemm() and parallel_for(). Clamped to [1, hardware threads].
void set_threads(int n);
int threads();
int hardware_threads();

// Calls fn(begin, end) on disjoint chunks covering [0, n), spread over threads(); blocks until all
// chunks are done. The first exception thrown by any chunk is rethrown here. Not reentrant: do not
// call parallel_for or gemm() from inside fn.
void parallel_for(int64_t n, const std::function<void(int64_t begin, int64_t end)>& fn);

}  // namespace spogw
