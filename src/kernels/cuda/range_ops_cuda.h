// The CUDA range kernels' host side, behind the CUDA backend. Contracts: src/kernels/range_ops.h;
// validated by the caller. A RangeList's starts and packed offsets go to the device once per
// device (kept with the list) unless the list is transient (uploaded for the call,
// stream-ordered). CUDA-free header: the stream travels as void*.
#pragma once

#include "kernels/range_list.h"
#include "magi/tensor.h"

namespace magi::cuda {

void range_gather(const TensorView& src, const RangeList& ranges, const TensorView& dst,
                  void* stream);

/// `ordered`: each row's contributions added in list order (bit-reproducible), one launch per
/// layer of overlapping ranges (range_layers.h); else one launch of atomics.
void range_scatter_add(const TensorView& src, const RangeList& ranges, const TensorView& dst,
                       void* stream, bool ordered);

void merge_out_lse(const TensorView& out_acc, const TensorView& lse_acc, const TensorView& out_part,
                   const TensorView& lse_part, void* stream);

}  // namespace magi::cuda
