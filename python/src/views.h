// Conversions between Python values and core types. The Python side turns each torch tensor into
// a TensorView once (magi_attention/_tensor.py); this file only binds the type and the helpers
// that build core values (slices, configs) from plain Python data.
#pragma once

#include <pybind11/pybind11.h>

#include <vector>

#include "magi/config.h"
#include "magi/ffa.h"
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

/// DistAttnConfig from the dict built by magi_attention.config (DistAttnConfig._to_core()).
DistAttnConfig config_from_dict(const pybind11::dict& d);

/// FfaOptions from the Python call (cuda_stream: the CUDA stream handle, 0 on CPU).
FfaOptions make_options(double softmax_scale, double softcap, uintptr_t cuda_stream);

/// Registers TensorView, DType, the error type and the conversions above.
void register_common(pybind11::module_& m);

}  // namespace magi::python
