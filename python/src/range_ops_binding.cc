// Python bindings of the row-range kernels (src/kernels/range_ops.h) on tensor descriptions.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "kernels/range_ops.h"
#include "views.h"

namespace py = pybind11;

namespace magi::python {
namespace {

std::vector<AttnRange> to_ranges(const std::vector<std::pair<int64_t, int64_t>>& r) {
  std::vector<AttnRange> out;
  out.reserve(r.size());
  for (const auto& [a, b] : r) out.push_back({a, b});
  return out;
}

}  // namespace

void register_range_ops(py::module_& m) {
  m.def(
      "range_gather",
      [](const TensorView& src, const std::vector<std::pair<int64_t, int64_t>>& ranges,
         const TensorView& dst, uintptr_t stream) {
        range_gather(src, to_ranges(ranges), dst, reinterpret_cast<void*>(stream));
      },
      py::arg("src"), py::arg("ranges"), py::arg("dst"), py::arg("stream") = 0);
  m.def(
      "range_scatter_add",
      [](const TensorView& src, const std::vector<std::pair<int64_t, int64_t>>& ranges,
         const TensorView& dst, uintptr_t stream) {
        range_scatter_add(src, to_ranges(ranges), dst, reinterpret_cast<void*>(stream));
      },
      py::arg("src"), py::arg("ranges"), py::arg("dst"), py::arg("stream") = 0);
  m.def(
      "merge_out_lse",
      [](const TensorView& out_acc, const TensorView& lse_acc, const TensorView& out_part,
         const TensorView& lse_part, uintptr_t stream) {
        merge_out_lse(out_acc, lse_acc, out_part, lse_part, reinterpret_cast<void*>(stream));
      },
      py::arg("out_acc"), py::arg("lse_acc"), py::arg("out_part"), py::arg("lse_part"),
      py::arg("stream") = 0);
}

}  // namespace magi::python
