// CPU whole-tensor helpers, called by the CPU backend after validation. Contracts: those of
// src/kernels/tensor_ops.h.
#pragma once

#include "magi/tensor.h"

namespace magi::cpu {

void fill(const TensorView& dst, double value);
void copy_cast(const TensorView& src, const TensorView& dst);

}  // namespace magi::cpu
