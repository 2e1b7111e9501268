// The whole-tensor entries: validate, then run the backend of the tensors' device.
#include "kernels/tensor_ops.h"

#include "kernels/backend.h"
#include "magi/check.h"

namespace magi {
namespace {

void check_floating(const char* fn, const TensorView& t) {
  MAGI_CHECK(is_floating(t.dtype), fn, ": ", t.describe(), ": expected a floating dtype");
}

}  // namespace

void fill(const TensorView& dst, double value, void* cuda_stream) {
  check_floating("fill", dst);
  backend_for(dst.device, "fill").fill(dst, value, cuda_stream);
}

void copy_cast(const TensorView& src, const TensorView& dst, void* cuda_stream) {
  check_floating("copy_cast", src);
  check_floating("copy_cast", dst);
  MAGI_CHECK(src.ndim == dst.ndim && src.shape == dst.shape,
             "copy_cast: shapes differ: ", src.describe(), " vs ", dst.describe());
  MAGI_CHECK(src.device == dst.device, "copy_cast: ", src.describe(), " and ", dst.describe(),
             " are on different devices");
  backend_for(dst.device, "copy_cast").copy_cast(src, dst, cuda_stream);
}

int64_t row_bytes(const TensorView& t) {
  int64_t n = static_cast<int64_t>(dtype_size(t.dtype));
  for (int d = 1; d < t.ndim; ++d) n *= t.shape[d];
  return n;
}

TensorView row_slice(const TensorView& t, int64_t start, int64_t end) {
  MAGI_CHECK(t.ndim >= 1 && 0 <= start && start <= end && end <= t.shape[0], "row_slice: rows [",
             start, ", ", end, ") of ", t.describe());
  TensorView v = t;
  v.data = static_cast<std::byte*>(t.data) +
           start * t.strides[0] * static_cast<int64_t>(dtype_size(t.dtype));
  v.shape[0] = end - start;
  return v;
}

}  // namespace magi
