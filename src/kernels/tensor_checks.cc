#include "kernels/tensor_checks.h"

#include <algorithm>
#include <sstream>

#include "magi/check.h"

namespace magi::checks {

void view(std::string_view fn, std::string_view name, const TensorView& t) {
  MAGI_CHECK(t.ndim >= 1 && t.ndim <= TensorView::kMaxDims, fn, ": ", name, " = ", t.describe(),
             ": expected 1 to ", TensorView::kMaxDims, " dims, got ", t.ndim);
  for (int i = 0; i < t.ndim; ++i) {
    MAGI_CHECK(t.shape[i] >= 0, fn, ": ", name, " = ", t.describe(), ": negative size in dim ", i);
  }
  MAGI_CHECK(t.numel() == 0 || t.data != nullptr, fn, ": ", name, " = ", t.describe(),
             ": data is null");
}

void rows_disjoint(std::string_view fn, std::string_view name, const TensorView& t) {
  if (t.ndim < 1 || t.shape[0] < 2) return;
  int64_t extent = 1;  // elements a row spans, from its first to one past its last
  for (int i = 1; i < t.ndim; ++i) {
    if (t.shape[i] == 0) return;
    extent += (t.shape[i] - 1) * (t.strides[i] < 0 ? -t.strides[i] : t.strides[i]);
  }
  const int64_t step = t.strides[0] < 0 ? -t.strides[0] : t.strides[0];
  MAGI_CHECK(step >= extent, fn, ": ", name, " = ", t.describe(), ": its rows overlap (stride ",
             t.strides[0], " in dim 0, rows of ", extent,
             " elements): an output needs rows of its own");
}

void ndim(std::string_view fn, std::string_view name, const TensorView& t, int ndim,
          std::string_view layout) {
  MAGI_CHECK(t.ndim == ndim, fn, ": ", name, " = ", t.describe(), ": expected ", ndim, " dims ",
             layout, ", got ", t.ndim);
  for (int i = 0; i < ndim; ++i) {
    MAGI_CHECK(t.shape[i] >= 0, fn, ": ", name, " = ", t.describe(), ": negative size in dim ", i);
  }
  MAGI_CHECK(t.numel() == 0 || t.data != nullptr, fn, ": ", name, " = ", t.describe(),
             ": data is null");
}

void shape(std::string_view fn, std::string_view name, const TensorView& t,
           std::initializer_list<int64_t> want, std::string_view layout) {
  bool ok = t.ndim == static_cast<int>(want.size());
  int i = 0;
  for (int64_t w : want) ok = ok && t.shape[i++] == w;
  if (ok) return;
  // NOTE: the message is built only on failure (no stream on the hot path of every call).
  std::ostringstream os;
  i = 0;
  for (int64_t w : want) os << (i++ ? ", " : "") << w;
  MAGI_FAIL(fn, ": ", name, " = ", t.describe(), ": expected shape ", layout, " = [", os.str(),
            "]");
}

void inner_contiguous(std::string_view fn, std::string_view name, const TensorView& t) {
  if (t.ndim == 0) return;
  const int last = t.ndim - 1;
  MAGI_CHECK(t.strides[last] == 1 || t.shape[last] <= 1, fn, ": ", name, " = ", t.describe(),
             ": the last dim must be contiguous (stride 1), got stride ", t.strides[last]);
}

void rows_contiguous(std::string_view fn, std::string_view name, const TensorView& t) {
  int64_t stride = 1;
  for (int i = t.ndim - 1; i >= 1; --i) {
    MAGI_CHECK(t.shape[i] <= 1 || t.strides[i] == stride, fn, ": ", name, " = ", t.describe(),
               ": dims after the first must be contiguous, got stride ", t.strides[i], " in dim ",
               i, " (expected ", stride, ")");
    stride *= t.shape[i];
  }
}

void dtype_in(std::string_view fn, std::string_view name, const TensorView& t,
              std::initializer_list<DType> allowed, std::string_view what) {
  MAGI_CHECK(std::find(allowed.begin(), allowed.end(), t.dtype) != allowed.end(), fn, ": ", name,
             " = ", t.describe(), ": dtype must be ", what, ", got ", to_string(t.dtype));
}

void same_device(std::string_view fn, std::string_view name, const TensorView& t,
                 std::string_view ref_name, const TensorView& ref) {
  MAGI_CHECK(t.device == ref.device, fn, ": ", name, " is on ", to_string(t.device), " but ",
             ref_name, " is on ", to_string(ref.device), ": all tensors must be on one device");
}

}  // namespace magi::checks
