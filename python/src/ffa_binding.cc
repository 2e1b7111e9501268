// FFA entries of the module: the mask prepared once (FfaSlices -> FfaWork), and calls that read
// the torch tensors directly (torch_tensor.h) and run magi::ffa_forward / ffa_backward over the
// prepared work on the caller's stream.
// NOTE: the kernels run without the GIL; the TorchAllocator takes it back to allocate.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "magi/ffa.h"
#include "torch_allocator.h"
#include "torch_tensor.h"
#include "views.h"

namespace py = pybind11;

namespace magi::python {
namespace {

/// A mask converted once from range tensors; its prepared work per (total_q, total_k), kept.
struct FfaSlices {
  std::vector<AttnSlice> slices;
  std::vector<std::shared_ptr<const FfaWork>> works;  // few: one per shape it was used with

  std::shared_ptr<const FfaWork> work(int64_t total_q, int64_t total_k) {
    for (const auto& w : works) {
      if (w->total_q() == total_q && w->total_k() == total_k) return w;
    }
    works.push_back(std::make_shared<const FfaWork>(slices, total_q, total_k));
    return works.back();
  }
};

void bind_mask(py::module_& m) {
  py::class_<FfaWork, std::shared_ptr<FfaWork>>(m, "FfaWork",
                                                "A mask prepared for the FFA kernels (magi/ffa.h).")
      .def_property_readonly("total_q", &FfaWork::total_q)
      .def_property_readonly("total_k", &FfaWork::total_k)
      .def("__len__", [](const FfaWork& w) { return w.slices().size(); })
      .def("area", [](const FfaWork& w) { return union_area(w.slices()); });

  py::class_<FfaSlices>(m, "FfaSlices")
      .def(py::init([](const TensorView& q_ranges, const TensorView& k_ranges,
                       const std::optional<TensorView>& types) {
             return FfaSlices{slices_from_views(q_ranges, k_ranges, types ? &*types : nullptr), {}};
           }),
           py::arg("q_ranges"), py::arg("k_ranges"), py::arg("attn_type_map"),
           "From host int32 views q_ranges [n, 2], k_ranges [n, 2], types [n] (None: FULL).")
      .def(
          "work",
          [](FfaSlices& s, int64_t total_q, int64_t total_k) {
            return std::const_pointer_cast<FfaWork>(s.work(total_q, total_k));
          },
          py::arg("total_q"), py::arg("total_k"),
          "The prepared work over [0, total_q) x [0, total_k) (validated; made once, kept).")
      .def("__len__", [](const FfaSlices& s) { return s.slices.size(); })
      .def("area", [](const FfaSlices& s) { return union_area(s.slices); })
      .def("__repr__", [](const FfaSlices& s) {
        std::string r = "FfaSlices[";
        for (size_t i = 0; i < s.slices.size() && i < 8; ++i) r += to_string(s.slices[i]) + " ";
        return r + (s.slices.size() > 8 ? "...]" : "]");
      });
}

}  // namespace

void register_ffa(py::module_& m) {
  bind_mask(m);

  m.def(
      "ffa_fwd",
      [](const FfaWork& work, py::handle q, py::handle k, py::handle v, py::handle out,
         py::handle lse, double softmax_scale, double softcap, bool accumulate, uintptr_t stream,
         py::handle sink, const std::string& sink_layout, py::handle max_logits) {
        const AttnViews t = forward_views(q, k, v, out, lse);
        FfaOptions o = ffa_options(softmax_scale, softcap, stream);
        set_sink(o, sink, sink_layout);
        o.max_logits = optional_tensor_view(max_logits, "max_logits");
        py::gil_scoped_release nogil;
        ffa_forward(t.q, t.k, t.v, work, o, t.out, t.lse, accumulate);
      },
      py::arg("work"), py::arg("q"), py::arg("k"), py::arg("v"), py::arg("out"), py::arg("lse"),
      py::arg("softmax_scale"), py::arg("softcap"), py::arg("accumulate"), py::arg("stream"),
      py::arg("sink") = py::none(), py::arg("sink_layout") = "sh",
      py::arg("max_logits") = py::none(),
      "magi::ffa_forward over prepared work; out and lse are written (merged into with "
      "accumulate); sink: float32 logits in sink_layout 'sh' or 'ssh' (FfaOptions::sink); "
      "max_logits: float32 [Hq] merged into by max (FfaOptions::max_logits).");

  m.def(
      "ffa_bwd",
      [](const FfaWork& work, py::handle q, py::handle k, py::handle v, py::handle out,
         py::handle lse, py::handle dout, py::handle dq, py::handle dk, py::handle dv,
         double softmax_scale, double softcap, uintptr_t stream, py::object alloc,
         bool deterministic, py::handle sink, const std::string& sink_layout, py::handle dsink) {
        const AttnViews t = backward_views(q, k, v, out, lse, dout, dq, dk, dv);
        TorchAllocator torch_alloc(std::move(alloc));
        FfaOptions o = ffa_options(softmax_scale, softcap, stream);
        o.allocator = torch_alloc.for_device(t.q.device);
        o.deterministic = deterministic;
        set_sink(o, sink, sink_layout);
        const TensorView ds = optional_tensor_view(dsink, "dsink");
        py::gil_scoped_release nogil;
        ffa_backward(t.q, t.k, t.v, t.out, t.lse, t.dout, work, o, t.dq, t.dk, t.dv, ds);
      },
      py::arg("work"), py::arg("q"), py::arg("k"), py::arg("v"), py::arg("out"), py::arg("lse"),
      py::arg("dout"), py::arg("dq"), py::arg("dk"), py::arg("dv"), py::arg("softmax_scale"),
      py::arg("softcap"), py::arg("stream"), py::arg("alloc") = py::none(),
      py::arg("deterministic") = false, py::arg("sink") = py::none(), py::arg("sink_layout") = "sh",
      py::arg("dsink") = py::none(),
      "magi::ffa_backward over prepared work: adds into the accumulators dq, dk, dv and dsink (or, "
      "CUDA "
      "16-bit, overwrites dk, dv); scratch from alloc(nbytes, device_index) (torch); "
      "deterministic: a fixed order of the additions (FfaOptions::deterministic).");

  // Host cost of one call of the C++ entry (validation, backend, prepared-work lookup, launch),
  // in microseconds per call, the median of 5 rounds of `iters` calls. The kernels run too;
  // the caller synchronises (on a GPU, keep it busy first so the launch queue never blocks).
  m.def(
      "ffa_forward_host_us",
      [](const FfaWork& work, py::handle q, py::handle k, py::handle v, py::handle out,
         py::handle lse, uintptr_t stream, int iters) {
        const AttnViews t = forward_views(q, k, v, out, lse);
        const FfaOptions o = ffa_options(0.0, 0.0, stream);
        py::gil_scoped_release nogil;
        ffa_forward(t.q, t.k, t.v, work, o, t.out, t.lse, false);  // warm the prepared work
        std::array<double, 5> rounds{};
        for (double& r : rounds) {
          const auto t0 = std::chrono::steady_clock::now();
          for (int i = 0; i < iters; ++i) ffa_forward(t.q, t.k, t.v, work, o, t.out, t.lse, false);
          const auto t1 = std::chrono::steady_clock::now();
          r = std::chrono::duration<double, std::micro>(t1 - t0).count() / iters;
        }
        std::sort(rounds.begin(), rounds.end());
        return rounds[2];
      },
      py::arg("work"), py::arg("q"), py::arg("k"), py::arg("v"), py::arg("out"), py::arg("lse"),
      py::arg("stream"), py::arg("iters"));
}

}  // namespace magi::python
