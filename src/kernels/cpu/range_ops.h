// CPU range kernels, called by src/kernels/range_ops.cc after validation. Contracts are those
// of src/kernels/range_ops.h.
#pragma once

#include <span>

#include "magi/mask.h"
#include "magi/tensor.h"

namespace magi::cpu {

void range_gather(const TensorView& src, std::span<const AttnRange> ranges, const TensorView& dst);

void range_scatter_add(const TensorView& src, std::span<const AttnRange> ranges,
                       const TensorView& dst);

void merge_out_lse(const TensorView& out_acc, const TensorView& lse_acc, const TensorView& out_part,
                   const TensorView& lse_part);

}  // namespace magi::cpu
