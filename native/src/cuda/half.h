// F16 and BF16 values as uint16_t bit patterns, converted with round-to-nearest-even (as the GPU's
// conversions and ggml's are) by the same code on the host, on the device and in the emulation.
// cuBLAS reads these arrays as __half / __nv_bfloat16: the same bits.
#pragma once
#include <cstdint>
#include <cstring>

#include "spogw/host_device.h"

namespace spogw::gpu {

SPOGW_HD uint32_t f32_bits(float x) {
#ifdef __CUDA_ARCH__
  return __float_as_uint(x);
#else
  uint32_t u;
  std::memcpy(&u, &x, 4);
  return u;
#endif
}
SPOGW_HD float bits_f32(uint32_t u) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, 4);
  return f;
#endif
}

SPOGW_HD float bf16_to_f32(uint16_t h) { return bits_f32(uint32_t(h) << 16); }
SPOGW_HD uint16_t f32_to_bf16(float x) {
  const uint32_t u = f32_bits(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40u);  // NaN stays NaN
  return uint16_t((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

SPOGW_HD float f16_to_f32(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
  if (exp == 0x1fu) return bits_f32(sign | 0x7f800000u | (mant << 13));
  if (exp != 0) return bits_f32(sign | ((exp + 112u) << 23) | (mant << 13));
  // zero or subnormal: mant * 2^-24, exact in float
  const float v = float(mant) * 5.9604644775390625e-08f;
  return sign ? -v : v;
}
SPOGW_HD uint16_t f32_to_f16(float x) {
  const uint32_t u = f32_bits(x);
  const uint16_t sign = uint16_t((u >> 16) & 0x8000u);
  const uint32_t mag = u & 0x7fffffffu;
  if (mag > 0x7f800000u) return uint16_t(sign | 0x7e00u);         // NaN
  if (mag >= 0x477ff000u) return uint16_t(sign | 0x7c00u);        // >= 65520: rounds to infinity
  if (mag < 0x38800000u) {                                         // below 2^-14: subnormal or zero
    // multiples of 2^-24: round |x| * 2^24 to the nearest integer, ties to even (exact in float)
    const float scaled = bits_f32(mag) * 16777216.0f;
    const float r = scaled + 8388608.0f - 8388608.0f;              // float rounding does round-to-even
    return uint16_t(sign | uint16_t(r));
  }
  const uint32_t rounded = mag + 0x0fffu + ((mag >> 13) & 1u);     // round the low 13 bits, ties to even
  return uint16_t(sign | uint16_t(((rounded >> 13) - (112u << 10)) & 0x7fffu));
}

}  // namespace spogw::gpu
