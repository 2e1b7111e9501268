#include "tensor_view.h"

#include <string_view>

#include "magi/check.h"

namespace py = pybind11;

namespace magi::python {
namespace {

DType dtype_from(std::string_view s) {
  if (s == "bfloat16") return DType::kBFloat16;
  if (s == "float16") return DType::kFloat16;
  if (s == "float32") return DType::kFloat32;
  if (s == "float64") return DType::kFloat64;
  if (s == "int32") return DType::kInt32;
  if (s == "int64") return DType::kInt64;
  MAGI_FAIL("tensor dtype '", s, "' is not supported");
}

}  // namespace

TensorView tensor_view(const py::tuple& desc) {
  MAGI_CHECK(desc.size() == 6,
             "tensor description must be (data_ptr, dtype, device_type, device_index, shape, "
             "strides)");
  TensorView t;
  t.data = reinterpret_cast<void*>(desc[0].cast<uintptr_t>());
  t.dtype = dtype_from(desc[1].cast<std::string_view>());
  const auto dev = desc[2].cast<std::string_view>();
  MAGI_CHECK(dev == "cpu" || dev == "cuda", "device type '", dev, "' is not supported");
  t.device.type = dev == "cuda" ? DeviceType::kCUDA : DeviceType::kCPU;
  t.device.index = desc[3].cast<int>();
  const auto shape = desc[4].cast<py::tuple>();
  const auto strides = desc[5].cast<py::tuple>();
  MAGI_CHECK(shape.size() == strides.size() && shape.size() <= TensorView::kMaxDims,
             "tensor with ", shape.size(), " dims is not supported");
  t.ndim = static_cast<int>(shape.size());
  for (int i = 0; i < t.ndim; ++i) {
    t.shape[i] = shape[i].cast<int64_t>();
    t.strides[i] = strides[i].cast<int64_t>();
  }
  return t;
}

}  // namespace magi::python
