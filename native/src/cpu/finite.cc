#include "spogw/finite.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>

#include "spogw/error.h"
#include "spogw/threads.h"

namespace spogw {

int64_t first_non_finite(const float* p, int64_t n) {
  const auto scan = [p](int64_t b, int64_t e) -> int64_t {
    constexpr int64_t kBlock = 4096;
    for (int64_t s = b; s < e; s += kBlock) {
      const int64_t t = std::min(e, s + kBlock);
      uint32_t bad = 0;
      for (int64_t i = s; i < t; i++) {
        uint32_t bits;
        std::memcpy(&bits, p + i, sizeof bits);
        bad |= uint32_t((bits & 0x7f800000u) == 0x7f800000u);  // exponent all ones: inf or NaN
      }
      if (bad)
        for (int64_t i = s; i < t; i++)
          if (!std::isfinite(p[i])) return i;
    }
    return -1;
  };
  if (n < (int64_t(1) << 16)) return scan(0, n);
  std::mutex mu;
  int64_t first = -1;
  parallel_for(n, [&](int64_t b, int64_t e) {
    const int64_t i = scan(b, e);
    if (i < 0) return;
    std::lock_guard<std::mutex> lock(mu);
    if (first < 0 || i < first) first = i;
  });
  return first;
}

void require_finite(const std::string& where, const char* name, const float* p, int64_t n) {
  const int64_t i = first_non_finite(p, n);
  if (i >= 0)
    throw Error(where + ": " + name + "[" + std::to_string(i) + "] is " + std::to_string(p[i]) +
                "; every value must be finite");
}

}  // namespace spogw
