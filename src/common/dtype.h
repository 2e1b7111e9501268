// Scalar conversions for the 16-bit float formats on the host (round to nearest even).
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>

namespace magi {

struct BFloat16 {
  uint16_t bits;
};
struct Float16 {
  uint16_t bits;
};

inline float to_float(BFloat16 x) {
  const uint32_t u = static_cast<uint32_t>(x.bits) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

inline BFloat16 to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return {static_cast<uint16_t>((u >> 16) | 0x40)};  // NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return {static_cast<uint16_t>(u >> 16)};
}

inline float to_float(Float16 x) { return static_cast<float>(std::bit_cast<_Float16>(x.bits)); }
inline Float16 to_fp16(float f) { return {std::bit_cast<uint16_t>(static_cast<_Float16>(f))}; }

}  // namespace magi
