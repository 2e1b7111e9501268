// Shared-memory address conversion.
#pragma once

#include <cstdint>

namespace magi::cuda::ptx {

/// PTX ISA 9.7.9.21 cvta.to.shared: generic pointer -> 32-bit shared-window address.
__device__ __forceinline__ uint32_t cvta_to_shared(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

/// cvta_to_shared through a volatile move, so the compiler cannot treat the address (and the
/// wgmma descriptors computed from it) as loop-invariant: hoisted out of a tile loop, 16
/// k-steps of 64-bit descriptors per operand hold registers for the whole loop and spill.
__device__ __forceinline__ uint32_t shared_addr_per_use(const void* p) {
  uint32_t a;
  asm volatile("mov.b32 %0, %1;\n" : "=r"(a) : "r"(cvta_to_shared(p)));
  return a;
}

}  // namespace magi::cuda::ptx

namespace magi::cuda::ptx {

/// ld.shared.v2.f32 / st.shared.b32 by 32-bit shared-window address (no 64-bit generic
/// pointers kept live in registers).
__device__ __forceinline__ float2 ld_shared_f32x2(uint32_t addr) {
  float2 v;
  asm volatile("ld.shared.v2.f32 {%0, %1}, [%2];\n" : "=f"(v.x), "=f"(v.y) : "r"(addr));
  return v;
}

/// ld.shared.v4.f32 (a 16-byte-aligned address).
__device__ __forceinline__ float4 ld_shared_f32x4(uint32_t addr) {
  float4 v;
  asm volatile("ld.shared.v4.f32 {%0, %1, %2, %3}, [%4];\n"
               : "=f"(v.x), "=f"(v.y), "=f"(v.z), "=f"(v.w)
               : "r"(addr));
  return v;
}

/// Two consecutive floats at a 4-byte-aligned address (two ld.shared.f32).
__device__ __forceinline__ float2 ld_shared_f32_pair(uint32_t addr) {
  float2 v;
  asm volatile("ld.shared.f32 %0, [%2];\n\tld.shared.f32 %1, [%2+4];\n"
               : "=f"(v.x), "=f"(v.y)
               : "r"(addr));
  return v;
}

__device__ __forceinline__ void st_shared_b32(uint32_t addr, uint32_t v) {
  asm volatile("st.shared.b32 [%0], %1;\n" ::"r"(addr), "r"(v) : "memory");
}

__device__ __forceinline__ void st_shared_f32x2(uint32_t addr, float x, float y) {
  asm volatile("st.shared.v2.f32 [%0], {%1, %2};\n" ::"r"(addr), "f"(x), "f"(y) : "memory");
}

/// PTX ISA 9.7.14.5.16 stmatrix (sm_90): four 8x8 b16 matrices from mma fragments, the inverse
/// of ldmatrix_x4: lane l holds row l / 4, columns 2 (l % 4) .. +1 of each matrix (r[m] of
/// matrix m) and supplies the address of row l % 8 of matrix l / 8 (16 contiguous bytes).
__device__ __forceinline__ void stmatrix_x4(uint32_t smem_addr, const uint32_t (&r)[4]) {
  asm volatile(
      "stmatrix.sync.aligned.m8n8.x4.shared.b16 [%0], {%1, %2, %3, %4};\n" ::"r"(smem_addr),
      "r"(r[0]), "r"(r[1]), "r"(r[2]), "r"(r[3])
      : "memory");
}

}  // namespace magi::cuda::ptx
