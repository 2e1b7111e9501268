// CUDA side of the runtime's whole-tensor helpers and device memory. CUDA-free header: streams
// travel as void* (cudaStream_t).
#pragma once

#include <cstddef>

#include "magi/tensor.h"

namespace magi::cuda {

void fill(const TensorView& dst, double value, void* stream);
void copy_cast(const TensorView& src, const TensorView& dst, void* stream);

/// Stream-ordered device memory (cudaMallocAsync / cudaFreeAsync) on the current device.
void* device_alloc(size_t bytes, void* stream);
void device_free(void* p, void* stream);

}  // namespace magi::cuda
