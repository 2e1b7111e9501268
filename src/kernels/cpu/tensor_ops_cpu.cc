#include "kernels/cpu/tensor_ops_cpu.h"

#include <array>
#include <cstring>
#include <vector>

#include "common/dtype.h"
#include "magi/check.h"

namespace magi::cpu {
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

}  // namespace

void fill(const TensorView& dst, double value) {
  const size_t es = dtype_size(dst.dtype);
  auto* base = static_cast<std::byte*>(dst.data);
  if (value == 0.0 && dst.is_contiguous()) {
    std::memset(base, 0, static_cast<size_t>(dst.numel()) * es);
    return;
  }
  for_each_offset(dst, [&](int64_t off) { store(base + off * es, dst.dtype, value); });
}

void copy_cast(const TensorView& src, const TensorView& dst) {
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

}  // namespace magi::cpu
