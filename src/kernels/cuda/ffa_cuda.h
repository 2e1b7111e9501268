// Entry points of the CUDA FFA kernels, called by the device dispatcher (src/kernels/ffa.cc)
// after it has validated shapes and dtypes. CUDA-free header: the stream travels in
// FfaOptions::cuda_stream.
#pragma once

#include <span>

#include "magi/ffa.h"

namespace magi::cuda {

void ffa_forward(const TensorView& q, const TensorView& k, const TensorView& v,
                 std::span<const AttnSlice> slices, const FfaOptions& opts, const TensorView& out,
                 const TensorView& lse, bool accumulate);

void ffa_backward(const TensorView& q, const TensorView& k, const TensorView& v,
                  const TensorView& out, const TensorView& lse, const TensorView& dout,
                  std::span<const AttnSlice> slices, const FfaOptions& opts, const TensorView& dq,
                  const TensorView& dk, const TensorView& dv);

}  // namespace magi::cuda
