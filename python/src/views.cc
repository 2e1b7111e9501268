#include "views.h"

#include <pybind11/stl.h>

#include "common/env.h"
#include "kernels/backend.h"
#include "magi/check.h"
#include "magi/dispatch.h"
#include "magi/dist_attn.h"

namespace py = pybind11;

namespace magi::python {

std::vector<AttnSlice> slices_from_tuples(const std::vector<SliceTuple>& tuples) {
  std::vector<AttnSlice> slices;
  slices.reserve(tuples.size());
  for (const auto& [qs, qe, ks, ke, type] : tuples) {
    slices.push_back({{qs, qe}, {ks, ke}, mask_type_from_int(type)});
  }
  return slices;
}

std::vector<SliceTuple> slices_to_tuples(const std::vector<AttnSlice>& slices) {
  std::vector<SliceTuple> out;
  out.reserve(slices.size());
  for (const AttnSlice& s : slices) {
    out.emplace_back(s.q.start, s.q.end, s.k.start, s.k.end, static_cast<int64_t>(s.type));
  }
  return out;
}

namespace {

void check_range_view(const TensorView& t, const char* name) {
  MAGI_CHECK(t.device.type == DeviceType::kCPU && t.dtype == DType::kInt32 && t.ndim == 2 &&
                 t.shape[1] == 2 && t.is_contiguous(),
             name, ": expected a contiguous int32 [N, 2] host tensor, got ", t.describe());
}

}  // namespace

std::vector<AttnSlice> slices_from_views(const TensorView& q_ranges, const TensorView& k_ranges,
                                         const TensorView* types) {
  check_range_view(q_ranges, "q_ranges");
  check_range_view(k_ranges, "k_ranges");
  const int64_t n = q_ranges.shape[0];
  MAGI_CHECK(k_ranges.shape[0] == n, "k_ranges: ", k_ranges.shape[0], " rows, but q_ranges has ",
             n);
  if (types) {
    MAGI_CHECK(types->device.type == DeviceType::kCPU && types->dtype == DType::kInt32 &&
                   types->ndim == 1 && types->shape[0] == n && types->is_contiguous(),
               "attn_type_map: expected a contiguous int32 [", n, "] host tensor, got ",
               types->describe());
  }
  const int32_t* q = q_ranges.ptr<int32_t>();
  const int32_t* k = k_ranges.ptr<int32_t>();
  const int32_t* t = types ? types->ptr<int32_t>() : nullptr;
  std::vector<AttnSlice> slices(n);
  for (int64_t i = 0; i < n; ++i) {
    MAGI_CHECK(!t || (t[i] >= 0 && t[i] <= 3), "attn_type_map[", i, "] = ", t ? t[i] : 0,
               ": mask type codes are 0 (full), 1 (causal), 2 (inv_causal), 3 (bi_causal)");
    slices[i] = {{q[2 * i], q[2 * i + 1]},
                 {k[2 * i], k[2 * i + 1]},
                 t ? mask_type_from_int(t[i]) : AttnMaskType::kFull};
  }
  return slices;
}

void register_common(py::module_& m) {
  // NOTE: core errors are argument errors in the vast majority of cases; the Python type derives
  // from both ValueError and RuntimeError so either `except` clause catches it.
  py::register_exception<Error>(
      m, "MagiError", py::make_tuple(py::handle(PyExc_ValueError), py::handle(PyExc_RuntimeError)));

  py::enum_<DType>(m, "DType")
      .value("float32", DType::kFloat32)
      .value("float64", DType::kFloat64)
      .value("bfloat16", DType::kBFloat16)
      .value("float16", DType::kFloat16)
      .value("int32", DType::kInt32)
      .value("int64", DType::kInt64);

  py::class_<TensorView>(m, "TensorView")
      .def(py::init([](uintptr_t data, DType dtype, bool cuda, int device_index,
                       const std::vector<int64_t>& shape, const std::vector<int64_t>& strides) {
             MAGI_CHECK(shape.size() == strides.size() &&
                            shape.size() <= static_cast<size_t>(TensorView::kMaxDims),
                        "TensorView: at most ", TensorView::kMaxDims, " dims, got ", shape.size());
             TensorView t;
             t.data = reinterpret_cast<void*>(data);
             t.dtype = dtype;
             t.device = {cuda ? DeviceType::kCUDA : DeviceType::kCPU, device_index};
             t.ndim = static_cast<int>(shape.size());
             for (int i = 0; i < t.ndim; ++i) {
               t.shape[i] = shape[i];
               t.strides[i] = strides[i];
             }
             return t;
           }),
           py::arg("data"), py::arg("dtype"), py::arg("cuda"), py::arg("device_index"),
           py::arg("shape"), py::arg("strides"))
      .def("__repr__", &TensorView::describe);

  m.def(
      "backends",
      [] {
        std::vector<std::string> names;
        for (DeviceType t : {DeviceType::kCPU, DeviceType::kCUDA}) {
          if (has_backend(t)) names.emplace_back(backend_for(Device{t, 0}, "backends").name());
        }
        return names;
      },
      "Names of the backends this build registered (\"cpu\", and \"cuda\" when the CUDA "
      "library is linked).");
  m.def(
      "env_knobs",
      [] {
        std::vector<std::string> names;
        for (const env::Knob& k : env::knobs()) names.emplace_back(k.name);
        return names;
      },
      "Names of the MAGI_* environment variables the core reads.");
  m.def("default_chunk_size", &default_chunk_size, py::arg("total_seqlen"), py::arg("cp_size"),
        "The chunk size of a key made without one (reads MAGI_ATTENTION_MIN_CHUNKS_PER_RANK).");
  m.def("compute_pad_size", &compute_pad_size, py::arg("total_seqlen_q"), py::arg("cp_size"),
        py::arg("head_dim"), py::arg("chunk_size"));
}

}  // namespace magi::python
