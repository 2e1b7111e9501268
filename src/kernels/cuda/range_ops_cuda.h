// Entry points of the CUDA range kernels, called by the device dispatcher
// (src/kernels/range_ops.cc) after it has validated shapes and dtypes. Contracts are those of
// src/kernels/range_ops.h. CUDA-free header: the stream travels as void*.
#pragma once

#include <span>

#include "magi/mask.h"
#include "magi/tensor.h"

namespace magi::cuda {

void range_gather(const TensorView& src, std::span<const AttnRange> ranges, const TensorView& dst,
                  void* cuda_stream);

void range_scatter_add(const TensorView& src, std::span<const AttnRange> ranges,
                       const TensorView& dst, void* cuda_stream);

void merge_out_lse(const TensorView& out_acc, const TensorView& lse_acc, const TensorView& out_part,
                   const TensorView& lse_part, void* cuda_stream);

}  // namespace magi::cuda
