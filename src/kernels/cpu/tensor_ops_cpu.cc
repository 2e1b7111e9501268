#include "kernels/cpu/tensor_ops_cpu.h"

#include <array>
#include <cstring>

#include "common/dtype.h"
#include "kernels/cpu/convert.h"
#include "magi/check.h"

namespace magi::cpu {
namespace {

// Calls fn(offset in a, offset in b) for every element of a and b (the same shape), in row-major
// order; offsets differ only through strides.
template <typename Fn>
void for_each_offset(const TensorView& a, const TensorView& b, Fn fn) {
  std::array<int64_t, TensorView::kMaxDims> idx{};
  const int64_t n = a.numel();
  for (int64_t i = 0; i < n; ++i) {
    int64_t oa = 0, ob = 0;
    for (int d = 0; d < a.ndim; ++d) {
      oa += idx[d] * a.strides[d];
      ob += idx[d] * b.strides[d];
    }
    fn(oa, ob);
    for (int d = a.ndim - 1; d >= 0; --d) {
      if (++idx[d] < a.shape[d]) break;
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
  for_each_offset(dst, dst,
                  [&](int64_t off, int64_t) { store_row(&value, 1, dst.dtype, base + off * es); });
}

void copy_cast(const TensorView& src, const TensorView& dst) {
  const size_t ss = dtype_size(src.dtype), ds = dtype_size(dst.dtype);
  if (src.dtype == dst.dtype && src.is_contiguous() && dst.is_contiguous()) {
    std::memcpy(dst.data, src.data, static_cast<size_t>(src.numel()) * ss);
    return;
  }
  const auto* s = static_cast<const std::byte*>(src.data);
  auto* d = static_cast<std::byte*>(dst.data);
  for_each_offset(src, dst, [&](int64_t so, int64_t doff) {
    double x;
    load_row(s + so * ss, src.dtype, 1, &x);
    store_row(&x, 1, dst.dtype, d + doff * ds);
  });
}

}  // namespace magi::cpu
