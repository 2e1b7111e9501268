// Whole-tensor helpers of the runtime, on any device: each entry validates, then runs the
// backend of the tensors' device (CUDA: on `cuda_stream`).
#pragma once

#include "magi/tensor.h"

namespace magi {

/// Every element of dst (floating dtype) = value.
void fill(const TensorView& dst, double value, void* cuda_stream = nullptr);

/// dst = src converted to dst's dtype (rounded to nearest even for 16-bit). Same shape.
void copy_cast(const TensorView& src, const TensorView& dst, void* cuda_stream = nullptr);

/// Bytes of one dim-0 row (all later dims).
int64_t row_bytes(const TensorView& t);

/// Rows [start, end) of dim 0 as a view.
TensorView row_slice(const TensorView& t, int64_t start, int64_t end);

}  // namespace magi
