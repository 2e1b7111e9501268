// CUDA side of the runtime's whole-tensor helpers. CUDA-free header: streams travel as void*
// (cudaStream_t).
#pragma once

#include "magi/tensor.h"

namespace magi::cuda {

void fill(const TensorView& dst, double value, void* stream);
void copy_cast(const TensorView& src, const TensorView& dst, void* stream);

}  // namespace magi::cuda
