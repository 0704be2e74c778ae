// Errors the native core reports. Everything below napi/ throws spogw::Error with a message a user can
// act on; the N-API layer turns it into a JS exception. Nothing here aborts the process.
#pragma once
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>

namespace spogw {

struct Error : std::runtime_error {
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// Checked product of sizes: throws instead of wrapping when a*b does not fit in int64.
inline int64_t checked_mul(int64_t a, int64_t b, const char* what) {
  int64_t out = 0;
  if (a < 0 || b < 0 || __builtin_mul_overflow(a, b, &out)) {
    throw Error(std::string(what) + ": size " + std::to_string(a) + " x " + std::to_string(b) +
                " overflows or is negative");
  }
  return out;
}

// A number for a message, as a user would write it: "0", "-0.1", "1e-08", "nan" (std::to_string
// prints "0.000000").
inline std::string number_str(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

}  // namespace spogw
