#include "kernels/tensor_ops.h"

#include <array>
#include <cstring>
#include <vector>

#include "common/dtype.h"
#include "kernels/tensor_checks.h"
#include "magi/check.h"

#ifdef MAGI_WITH_CUDA
#include "kernels/cuda/runtime/tensor_ops_cuda.h"
#endif

namespace magi {
namespace {

double load(const void* p, DType t) {
  switch (t) {
    case DType::kFloat32:
      return *static_cast<const float*>(p);
    case DType::kFloat64:
      return *static_cast<const double*>(p);
    case DType::kBFloat16:
      return to_float(*static_cast<const BFloat16*>(p));
    case DType::kFloat16:
      return to_float(*static_cast<const Float16*>(p));
    default:
      MAGI_FAIL("dtype ", to_string(t), " is not floating");
  }
}

void store(void* p, DType t, double x) {
  switch (t) {
    case DType::kFloat32:
      *static_cast<float*>(p) = static_cast<float>(x);
      return;
    case DType::kFloat64:
      *static_cast<double*>(p) = x;
      return;
    case DType::kBFloat16:
      *static_cast<BFloat16*>(p) = to_bf16(static_cast<float>(x));
      return;
    case DType::kFloat16:
      *static_cast<Float16*>(p) = to_fp16(static_cast<float>(x));
      return;
    default:
      MAGI_FAIL("dtype ", to_string(t), " is not floating");
  }
}

// Calls fn(element offset) for every element of t, in row-major order.
template <typename Fn>
void for_each_offset(const TensorView& t, Fn fn) {
  std::array<int64_t, TensorView::kMaxDims> idx{};
  const int64_t n = t.numel();
  for (int64_t i = 0; i < n; ++i) {
    int64_t off = 0;
    for (int d = 0; d < t.ndim; ++d) off += idx[d] * t.strides[d];
    fn(off);
    for (int d = t.ndim - 1; d >= 0; --d) {
      if (++idx[d] < t.shape[d]) break;
      idx[d] = 0;
    }
  }
}

void check_floating(const char* fn, const TensorView& t) {
  MAGI_CHECK(is_floating(t.dtype), fn, ": ", t.describe(), ": expected a floating dtype");
}

}  // namespace

void fill(const TensorView& dst, double value, void* cuda_stream) {
  check_floating("fill", dst);
  if (checks::on_cuda("fill", dst)) {
#ifdef MAGI_WITH_CUDA
    cuda::fill(dst, value, cuda_stream);
#endif
    return;
  }
  const size_t es = dtype_size(dst.dtype);
  auto* base = static_cast<std::byte*>(dst.data);
  if (value == 0.0 && dst.is_contiguous()) {
    std::memset(base, 0, static_cast<size_t>(dst.numel()) * es);
    return;
  }
  for_each_offset(dst, [&](int64_t off) { store(base + off * es, dst.dtype, value); });
}

void copy_cast(const TensorView& src, const TensorView& dst, void* cuda_stream) {
  check_floating("copy_cast", src);
  check_floating("copy_cast", dst);
  MAGI_CHECK(src.ndim == dst.ndim && src.shape == dst.shape,
             "copy_cast: shapes differ: ", src.describe(), " vs ", dst.describe());
  MAGI_CHECK(src.device == dst.device, "copy_cast: ", src.describe(), " and ", dst.describe(),
             " are on different devices");
  if (checks::on_cuda("copy_cast", dst)) {
#ifdef MAGI_WITH_CUDA
    cuda::copy_cast(src, dst, cuda_stream);
#endif
    return;
  }
  const size_t ss = dtype_size(src.dtype), ds = dtype_size(dst.dtype);
  if (src.dtype == dst.dtype && src.is_contiguous() && dst.is_contiguous()) {
    std::memcpy(dst.data, src.data, static_cast<size_t>(src.numel()) * ss);
    return;
  }
  // Walk both in row-major order; offsets differ only through strides.
  std::vector<int64_t> src_off;
  src_off.reserve(static_cast<size_t>(src.numel()));
  for_each_offset(src, [&](int64_t off) { src_off.push_back(off); });
  size_t i = 0;
  const auto* s = static_cast<const std::byte*>(src.data);
  auto* d = static_cast<std::byte*>(dst.data);
  for_each_offset(dst, [&](int64_t off) {
    store(d + off * ds, dst.dtype, load(s + src_off[i++] * ss, src.dtype));
  });
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
