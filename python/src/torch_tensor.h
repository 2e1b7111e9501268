// torch.Tensor -> TensorView in C++, through Python attribute access only (the module links no
// libtorch): about five attribute reads per tensor, no Python objects built on the way. The
// package registers torch's dtype objects once at import (_C._register_torch).
#pragma once

#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "magi/ffa.h"
#include "magi/tensor.h"

namespace magi::python {

/// The view of `t` (at most 4 dims; element strides). Throws TypeError naming `name` for a
/// non-tensor or an unsupported dtype, ValueError for a tensor that holds no data on the CPU or
/// a CUDA device (meta tensors, other devices).
TensorView tensor_view(pybind11::handle t, const char* name);

/// The tensors of an FFA-shaped call, read in one go (the gradients stay empty for a forward).
struct AttnViews {
  TensorView q, k, v, out, lse, dout, dq, dk, dv;
};
AttnViews forward_views(pybind11::handle q, pybind11::handle k, pybind11::handle v,
                        pybind11::handle out, pybind11::handle lse);
AttnViews backward_views(pybind11::handle q, pybind11::handle k, pybind11::handle v,
                         pybind11::handle out, pybind11::handle lse, pybind11::handle dout,
                         pybind11::handle dq, pybind11::handle dk, pybind11::handle dv);

/// FfaOptions of a Python call (`stream`: the CUDA stream handle, 0 on the CPU).
FfaOptions ffa_options(double softmax_scale, double softcap, uintptr_t stream);

/// Sets o.sink from a Python sink (None: none) and its layout "sh" or "ssh" (anything else
/// raises ValueError naming the value).
void set_sink(FfaOptions& o, pybind11::handle sink, const std::string& layout);

/// The view of `t`, or a default TensorView (ndim 0: "not given") for None.
TensorView optional_tensor_view(pybind11::handle t, const char* name);

/// Registers `_register_torch(tensor_type, {dtype: DType})` and `tensor_view(t, name)`.
void register_torch(pybind11::module_& m);

}  // namespace magi::python
