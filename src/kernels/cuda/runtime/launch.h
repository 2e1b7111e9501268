// Launchers of the runtime's CUDA kernels (kernels.cu). Plain C++17 types only, so that the
// device sources need none of the C++20 public headers; the host wrappers convert TensorViews.
#pragma once

#include <cstdint>

namespace magi::cuda::rt {

/// Element types by the values of magi::DType (checked in the host wrappers).
enum Elem : int { kF32 = 0, kF64 = 1, kBF16 = 2, kF16 = 3 };

struct Strided {
  int ndim = 0;
  int64_t shape[4] = {};
  int64_t strides[4] = {};  // elements
};

void launch_fill(void* dst, int elem, const Strided& s, int64_t n, double value, void* stream);
void launch_cast(const void* src, int src_elem, const Strided& ss, void* dst, int dst_elem,
                 const Strided& ds, int64_t n, void* stream);
}  // namespace magi::cuda::rt
