// Python tensor descriptions -> magi::TensorView. A description is the tuple
// (data_ptr, dtype, device_type, device_index, shape, strides) that the Python side builds
// from a torch tensor (magi_attention/_tensor.py); no torch types cross the boundary.
#pragma once

#include <pybind11/pybind11.h>

#include "magi/tensor.h"

namespace magi::python {

/// dtype strings: "float32", "float64", "bfloat16", "float16", "int32", "int64" (torch's
/// names without the "torch." prefix). device_type: "cpu" or "cuda".
TensorView tensor_view(const pybind11::tuple& desc);

}  // namespace magi::python
