// FFA entry: magi::ffa_forward / ffa_backward on caller-allocated views. The core dispatches on
// the tensors' device; for CUDA tensors the caller passes torch's current stream.
// NOTE: these calls never reach Python, so they run without the GIL.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "magi/ffa.h"
#include "views.h"

namespace py = pybind11;

namespace magi::python {
namespace {

/// Slices from range views (host int32); types may be None (all FULL).
std::vector<AttnSlice> slices_of(const TensorView& q_ranges, const TensorView& k_ranges,
                                 const std::optional<TensorView>& types) {
  return slices_from_views(q_ranges, k_ranges, types ? &*types : nullptr);
}

}  // namespace

void register_ffa(py::module_& m) {
  m.def(
      "ffa_forward",
      [](const TensorView& q, const TensorView& k, const TensorView& v, const TensorView& q_ranges,
         const TensorView& k_ranges, const std::optional<TensorView>& types, double softmax_scale,
         double softcap, uintptr_t cuda_stream, const TensorView& out, const TensorView& lse,
         bool accumulate) {
        const auto slices = slices_of(q_ranges, k_ranges, types);
        ffa_forward(q, k, v, slices, make_options(softmax_scale, softcap, cuda_stream), out, lse,
                    accumulate);
      },
      py::arg("q"), py::arg("k"), py::arg("v"), py::arg("q_ranges"), py::arg("k_ranges"),
      py::arg("attn_type_map"), py::arg("softmax_scale"), py::arg("softcap"),
      py::arg("cuda_stream"), py::arg("out"), py::arg("lse"), py::arg("accumulate") = false,
      py::call_guard<py::gil_scoped_release>(),
      "magi::ffa_forward: writes out [Sq, Hq, D] and lse [Sq, Hq] (fp32).");

  m.def(
      "ffa_backward",
      [](const TensorView& q, const TensorView& k, const TensorView& v, const TensorView& out,
         const TensorView& lse, const TensorView& dout, const TensorView& q_ranges,
         const TensorView& k_ranges, const std::optional<TensorView>& types, double softmax_scale,
         double softcap, uintptr_t cuda_stream, const TensorView& dq, const TensorView& dk,
         const TensorView& dv) {
        const auto slices = slices_of(q_ranges, k_ranges, types);
        ffa_backward(q, k, v, out, lse, dout, slices,
                     make_options(softmax_scale, softcap, cuda_stream), dq, dk, dv);
      },
      py::arg("q"), py::arg("k"), py::arg("v"), py::arg("out"), py::arg("lse"), py::arg("dout"),
      py::arg("q_ranges"), py::arg("k_ranges"), py::arg("attn_type_map"), py::arg("softmax_scale"),
      py::arg("softcap"), py::arg("cuda_stream"), py::arg("dq"), py::arg("dk"), py::arg("dv"),
      py::call_guard<py::gil_scoped_release>(),
      "magi::ffa_backward: adds gradients into the fp32/fp64 accumulators dq, dk, dv.");
}

}  // namespace magi::python
