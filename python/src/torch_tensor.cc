#include "torch_tensor.h"

#include "magi/check.h"

#include <array>
#include <string>
#include <utility>

namespace py = pybind11;

namespace magi::python {
namespace {

struct TorchTypes {
  py::object tensor_type;
  std::array<std::pair<py::object, DType>, 6> dtypes;
  size_t n = 0;
};

TorchTypes& torch_types() {
  // NOTE: leaked on purpose: Python objects must not be released after the interpreter ends.
  static TorchTypes* t = new TorchTypes;
  return *t;
}

struct Names {
  PyObject *dtype, *shape, *stride, *data_ptr, *is_cuda, *is_cpu, *get_device, *device;
};

const Names& names() {
  static const Names n{
      PyUnicode_InternFromString("dtype"),      PyUnicode_InternFromString("shape"),
      PyUnicode_InternFromString("stride"),     PyUnicode_InternFromString("data_ptr"),
      PyUnicode_InternFromString("is_cuda"),    PyUnicode_InternFromString("is_cpu"),
      PyUnicode_InternFromString("get_device"), PyUnicode_InternFromString("device")};
  return n;
}

py::object attr(PyObject* t, PyObject* name) {
  PyObject* r = PyObject_GetAttr(t, name);
  if (r == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(r);
}

py::object call(PyObject* t, PyObject* name) {
  PyObject* r = PyObject_CallMethodNoArgs(t, name);
  if (r == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(r);
}

int64_t as_int(PyObject* o) {
  const long long v = PyLong_AsLongLong(o);
  if (v == -1 && PyErr_Occurred()) throw py::error_already_set();
  return v;
}

[[noreturn]] void unsupported_device(PyObject* t, const char* name) {
  const std::string type = py::str(attr(attr(t, names().device).ptr(), py::str("type").ptr()));
  const bool meta = type == "meta";
  throw py::value_error(std::string(name) + ": " +
                        (meta ? std::string("meta tensors") : "tensors on device '" + type + "'") +
                        " are not supported: magi_attention computes on CPU and CUDA tensors "
                        "that hold data");
}

}  // namespace

TensorView tensor_view(py::handle h, const char* name) {
  PyObject* t = h.ptr();
  const TorchTypes& tt = torch_types();
  if (!tt.tensor_type || PyObject_IsInstance(t, tt.tensor_type.ptr()) != 1) {
    PyErr_Clear();
    throw py::type_error(std::string(name) + ": expected a torch.Tensor, got " +
                         Py_TYPE(t)->tp_name);
  }
  const Names& n = names();
  TensorView v;
  const py::object dtype = attr(t, n.dtype);
  size_t i = 0;
  while (i < tt.n && tt.dtypes[i].first.ptr() != dtype.ptr()) ++i;
  if (i == tt.n) {
    throw py::type_error(std::string(name) + ": dtype " + std::string(py::str(dtype)) +
                         " is not supported");
  }
  v.dtype = tt.dtypes[i].second;
  if (attr(t, n.is_cuda).ptr() == Py_True) {
    v.device = {DeviceType::kCUDA, static_cast<int>(as_int(call(t, n.get_device).ptr()))};
  } else if (attr(t, n.is_cpu).ptr() != Py_True) {
    unsupported_device(t, name);
  }
  const py::object shape = attr(t, n.shape);
  const py::object stride = call(t, n.stride);
  const Py_ssize_t ndim = PyTuple_Size(shape.ptr());
  if (ndim < 0 || ndim > TensorView::kMaxDims || PyTuple_Size(stride.ptr()) != ndim) {
    PyErr_Clear();
    throw py::value_error(std::string(name) + ": at most " + std::to_string(TensorView::kMaxDims) +
                          " dims are supported, got shape " + std::string(py::str(shape)));
  }
  v.ndim = static_cast<int>(ndim);
  for (Py_ssize_t d = 0; d < ndim; ++d) {
    v.shape[d] = as_int(PyTuple_GET_ITEM(shape.ptr(), d));
    v.strides[d] = as_int(PyTuple_GET_ITEM(stride.ptr(), d));
  }
  v.data = PyLong_AsVoidPtr(call(t, n.data_ptr).ptr());
  if (v.data == nullptr && PyErr_Occurred()) throw py::error_already_set();
  return v;
}

AttnViews forward_views(py::handle q, py::handle k, py::handle v, py::handle out, py::handle lse) {
  return {tensor_view(q, "q"),
          tensor_view(k, "k"),
          tensor_view(v, "v"),
          tensor_view(out, "out"),
          tensor_view(lse, "lse"),
          {},
          {},
          {},
          {}};
}

AttnViews backward_views(py::handle q, py::handle k, py::handle v, py::handle out, py::handle lse,
                         py::handle dout, py::handle dq, py::handle dk, py::handle dv) {
  AttnViews a = forward_views(q, k, v, out, lse);
  a.dout = tensor_view(dout, "dout");
  a.dq = tensor_view(dq, "dq");
  a.dk = tensor_view(dk, "dk");
  a.dv = tensor_view(dv, "dv");
  return a;
}

FfaOptions ffa_options(double softmax_scale, double softcap, uintptr_t stream) {
  FfaOptions o;
  o.softmax_scale = softmax_scale;
  o.softcap = softcap;
  o.cuda_stream = reinterpret_cast<void*>(stream);
  return o;
}

void set_sink(FfaOptions& o, py::handle sink, const std::string& layout) {
  if (sink.is_none()) return;
  MAGI_CHECK(layout == "sh" || layout == "ssh", "sink_layout = '", layout,
             "': expected 'sh' ([num_sink, num_heads_q]) or 'ssh' ([total_q, num_sink, "
             "num_heads_q])");
  o.sink = AttnSink{tensor_view(sink, "sink"), layout == "sh" ? SinkLayout::kSH : SinkLayout::kSSH};
}

TensorView optional_tensor_view(py::handle t, const char* name) {
  return t.is_none() ? TensorView{} : tensor_view(t, name);
}

void register_torch(py::module_& m) {
  m.def(
      "_register_torch",
      [](py::object tensor_type, const py::dict& dtypes) {
        TorchTypes& tt = torch_types();
        tt.tensor_type = std::move(tensor_type);
        tt.n = 0;
        for (const auto& [k, v] : dtypes) {
          if (tt.n == tt.dtypes.size()) break;
          tt.dtypes[tt.n++] = {py::reinterpret_borrow<py::object>(k), v.cast<DType>()};
        }
      },
      "Called once by the package: torch.Tensor and {torch dtype: DType}.");
  m.def(
      "tensor_view",
      [](py::handle t, const std::string& name) { return tensor_view(t, name.c_str()); },
      py::arg("t"), py::arg("name") = "tensor",
      "The core TensorView of a torch.Tensor (it does not own the memory).");
}

}  // namespace magi::python
