// Conversions between Python values and core types: the TensorView type itself (tensors are
// read by torch_tensor.h), slices from tuples and from range views.
#pragma once

#include <pybind11/pybind11.h>

#include <vector>

#include "magi/mask.h"
#include "magi/tensor.h"

namespace magi::python {

/// One slice as Python passes it: (q_start, q_end, k_start, k_end, mask_type_code).
using SliceTuple = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t>;

std::vector<AttnSlice> slices_from_tuples(const std::vector<SliceTuple>& tuples);
std::vector<SliceTuple> slices_to_tuples(const std::vector<AttnSlice>& slices);

/// Slices from int32 CPU views: q_ranges [N, 2], k_ranges [N, 2], types [N] (or none: FULL).
std::vector<AttnSlice> slices_from_views(const TensorView& q_ranges, const TensorView& k_ranges,
                                         const TensorView* types);

/// Registers TensorView, DType, the error type and compute_pad_size.
void register_common(pybind11::module_& m);

}  // namespace magi::python
