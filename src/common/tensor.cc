#include <algorithm>
#include <limits>
#include <sstream>

#include "magi/check.h"
#include "magi/tensor.h"

namespace magi {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::kFloat32:
      return 4;
    case DType::kFloat64:
      return 8;
    case DType::kBFloat16:
      return 2;
    case DType::kFloat16:
      return 2;
    case DType::kInt32:
      return 4;
    case DType::kInt64:
      return 8;
  }
  MAGI_FAIL("dtype: invalid value ", static_cast<int>(t));
}

std::string_view to_string(DType t) {
  switch (t) {
    case DType::kFloat32:
      return "float32";
    case DType::kFloat64:
      return "float64";
    case DType::kBFloat16:
      return "bfloat16";
    case DType::kFloat16:
      return "float16";
    case DType::kInt32:
      return "int32";
    case DType::kInt64:
      return "int64";
  }
  MAGI_FAIL("dtype: invalid value ", static_cast<int>(t));
}

std::string to_string(Device d) {
  if (d.type == DeviceType::kCPU) return "cpu";
  if (d.type == DeviceType::kCUDA) return "cuda:" + std::to_string(d.index);
  return "device type " + std::to_string(static_cast<int>(d.type));
}

TensorView TensorView::contiguous(void* data, DType dtype, std::initializer_list<int64_t> shape,
                                  Device device) {
  MAGI_CHECK(shape.size() <= static_cast<size_t>(kMaxDims), "TensorView: at most ", kMaxDims,
             " dims, got ", shape.size());
  TensorView t;
  t.data = data;
  t.dtype = dtype;
  t.device = device;
  t.ndim = static_cast<int>(shape.size());
  int d = 0;
  for (int64_t s : shape) t.shape[d++] = s;
  int64_t stride = 1;
  for (int i = t.ndim - 1; i >= 0; --i) {
    t.strides[i] = stride;
    stride *= t.shape[i];
  }
  return t;
}

int64_t TensorView::numel() const {
  // NOTE: saturating (a described view may be bad: the checks call this before they refuse it).
  int64_t n = 1;
  for (int i = 0; i < std::clamp(ndim, 0, kMaxDims); ++i) {
    if (shape[i] == 0) return 0;
    if (__builtin_mul_overflow(n, shape[i], &n)) n = std::numeric_limits<int64_t>::max();
  }
  return n;
}

bool TensorView::is_contiguous() const {
  int64_t stride = 1;
  for (int i = std::clamp(ndim, 0, kMaxDims) - 1; i >= 0; --i) {
    if (shape[i] != 1 && strides[i] != stride) return false;
    stride *= shape[i];
  }
  return true;
}

std::string TensorView::describe() const {
  std::ostringstream os;
  if (ndim < 0 || ndim > kMaxDims) {
    os << to_string(dtype) << " with ndim = " << ndim << " " << to_string(device);
    return os.str();
  }
  os << to_string(dtype) << "[";
  for (int i = 0; i < ndim; ++i) os << (i ? ", " : "") << shape[i];
  os << "] " << to_string(device);
  return os.str();
}

}  // namespace magi
