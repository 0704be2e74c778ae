// Finiteness scans for values that come from outside: model weights (once, at load), the loss API's
// arrays, a backward batch's log-probs. Integer tests of the exponent bits, so the scan vectorises.
#pragma once
#include <cstdint>
#include <string>

namespace spogw {

// Index of the first NaN or infinity in p[0, n), or -1. Spread over the thread pool for large n, so
// it must not be called from inside parallel_for.
int64_t first_non_finite(const float* p, int64_t n);

// Throws spogw::Error "<where>: <name>[i] is nan; every value must be finite" at the first non-finite value.
void require_finite(const std::string& where, const char* name, const float* p, int64_t n);

}  // namespace spogw
