// Python bindings of FFA: the slice list as an opaque object built once, and forward /
// backward on tensor descriptions (tensor_view.h), launched on the caller's stream.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>
#include <cstdint>
#include <vector>

#include "magi/check.h"
#include "magi/ffa.h"
#include "magi/mask.h"
#include "tensor_view.h"

namespace py = pybind11;

namespace magi::python {
namespace {

/// The mask of one call, kept on the host (the kernels cache their device work lists by its
/// contents, so building this once per mask keeps repeated calls cheap).
struct FfaSlices {
  std::vector<AttnSlice> slices;
};

FfaSlices slices_from_ptrs(uintptr_t q_ranges, uintptr_t k_ranges, uintptr_t types, int64_t n) {
  FfaSlices s;
  s.slices.resize(static_cast<size_t>(n));
  const auto* q = reinterpret_cast<const int32_t*>(q_ranges);
  const auto* k = reinterpret_cast<const int32_t*>(k_ranges);
  const auto* t = reinterpret_cast<const int32_t*>(types);
  for (int64_t i = 0; i < n; ++i) {
    s.slices[i].q = {q[2 * i], q[2 * i + 1]};
    s.slices[i].k = {k[2 * i], k[2 * i + 1]};
    s.slices[i].type = t ? mask_type_from_int(t[i]) : AttnMaskType::kFull;
    MAGI_CHECK(s.slices[i].q.start <= s.slices[i].q.end && s.slices[i].k.start <= s.slices[i].k.end &&
                   s.slices[i].q.start >= 0 && s.slices[i].k.start >= 0,
               "slice ", i, ": invalid ranges ", to_string(s.slices[i]));
  }
  return s;
}

FfaOptions options(double softmax_scale, double softcap, uintptr_t stream) {
  FfaOptions o;
  o.softmax_scale = softmax_scale;
  o.softcap = softcap;
  o.cuda_stream = reinterpret_cast<void*>(stream);
  return o;
}

void forward(const TensorView& q, const TensorView& k, const TensorView& v, const FfaSlices& s,
             const FfaOptions& o, const TensorView& out, const TensorView& lse, bool accumulate) {
  ffa_forward(q, k, v, s.slices, o, out, lse, accumulate);  // validates, then CPU or CUDA
}

void backward(const TensorView& q, const TensorView& k, const TensorView& v,
              const TensorView& out, const TensorView& lse, const TensorView& dout,
              const FfaSlices& s, const FfaOptions& o, const TensorView& dq, const TensorView& dk,
              const TensorView& dv) {
  ffa_backward(q, k, v, out, lse, dout, s.slices, o, dq, dk, dv);
}

}  // namespace

void register_ffa(py::module_& m) {
  py::class_<FfaSlices>(m, "FfaSlices")
      .def(py::init(&slices_from_ptrs), py::arg("q_ranges_ptr"), py::arg("k_ranges_ptr"),
           py::arg("types_ptr"), py::arg("n"),
           "From host int32 arrays q_ranges [n, 2], k_ranges [n, 2], types [n] (0 = all full).")
      .def("__len__", [](const FfaSlices& s) { return s.slices.size(); })
      .def("area", [](const FfaSlices& s) { return union_area(s.slices); })
      .def("__repr__", [](const FfaSlices& s) {
        std::string r = "FfaSlices[";
        for (size_t i = 0; i < s.slices.size() && i < 8; ++i) r += to_string(s.slices[i]) + " ";
        return r + (s.slices.size() > 8 ? "...]" : "]");
      });

  m.def(
      "ffa_forward",
      [](const py::tuple& q, const py::tuple& k, const py::tuple& v, const FfaSlices& s,
         const py::tuple& out, const py::tuple& lse, double softmax_scale, double softcap,
         bool accumulate, uintptr_t stream) {
        forward(tensor_view(q), tensor_view(k), tensor_view(v), s,
                options(softmax_scale, softcap, stream), tensor_view(out), tensor_view(lse),
                accumulate);
      },
      py::arg("q"), py::arg("k"), py::arg("v"), py::arg("slices"), py::arg("out"), py::arg("lse"),
      py::arg("softmax_scale"), py::arg("softcap"), py::arg("accumulate"), py::arg("stream"));

  m.def(
      "ffa_backward",
      [](const py::tuple& q, const py::tuple& k, const py::tuple& v, const py::tuple& out,
         const py::tuple& lse, const py::tuple& dout, const FfaSlices& s, const py::tuple& dq,
         const py::tuple& dk, const py::tuple& dv, double softmax_scale, double softcap,
         uintptr_t stream) {
        backward(tensor_view(q), tensor_view(k), tensor_view(v), tensor_view(out),
                 tensor_view(lse), tensor_view(dout), s, options(softmax_scale, softcap, stream),
                 tensor_view(dq), tensor_view(dk), tensor_view(dv));
      },
      py::arg("q"), py::arg("k"), py::arg("v"), py::arg("out"), py::arg("lse"), py::arg("dout"),
      py::arg("slices"), py::arg("dq"), py::arg("dk"), py::arg("dv"), py::arg("softmax_scale"),
      py::arg("softcap"), py::arg("stream"));

  // Host cost of one cached forward call inside C++ (validation, plan lookup, launch), in
  // microseconds averaged over `iters` calls. The kernels run too; the caller synchronises.
  m.def(
      "ffa_forward_host_us",
      [](const py::tuple& q, const py::tuple& k, const py::tuple& v, const FfaSlices& s,
         const py::tuple& out, const py::tuple& lse, uintptr_t stream, int iters) {
        const TensorView tq = tensor_view(q), tk = tensor_view(k), tv = tensor_view(v);
        const TensorView to = tensor_view(out), tl = tensor_view(lse);
        const FfaOptions o = options(0.0, 0.0, stream);
        forward(tq, tk, tv, s, o, to, tl, false);  // warm the plan cache
        const auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < iters; ++i) forward(tq, tk, tv, s, o, to, tl, false);
        const auto t1 = std::chrono::steady_clock::now();
        return std::chrono::duration<double, std::micro>(t1 - t0).count() / iters;
      },
      py::arg("q"), py::arg("k"), py::arg("v"), py::arg("slices"), py::arg("out"), py::arg("lse"),
      py::arg("stream"), py::arg("iters"));
}

}  // namespace magi::python
