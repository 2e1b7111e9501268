// Shared-memory address conversion.
#pragma once

#include <cstdint>

namespace magi::cuda::ptx {

/// PTX ISA 9.7.9.21 cvta.to.shared: generic pointer -> 32-bit shared-window address.
__device__ __forceinline__ uint32_t cvta_to_shared(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

}  // namespace magi::cuda::ptx
