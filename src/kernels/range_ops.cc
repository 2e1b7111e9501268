// The range-op device dispatcher: validates, then runs the CPU or CUDA kernels.
#include "kernels/range_ops.h"

#include <string>

#include "kernels/cpu/range_ops.h"
#include "kernels/tensor_checks.h"
#include "magi/check.h"
#ifdef MAGI_WITH_CUDA
#include "kernels/cuda/range_ops_cuda.h"
#endif

namespace magi {
namespace {

using checks::kFloating;
using checks::kWide;

/// A rows tensor [N, ...] with contiguous rows.
void check_rows(std::string_view fn, std::string_view name, const TensorView& t) {
  MAGI_CHECK(t.ndim >= 1, fn, ": ", name, " = ", t.describe(), ": expected at least 1 dim");
  checks::ndim(fn, name, t, t.ndim, "[N, ...]");
  checks::rows_contiguous(fn, name, t);
}

/// src and dst share the trailing shape and the device; returns the total size of the ranges
/// after checking each lies inside [0, limit).
int64_t check_pair(std::string_view fn, const TensorView& src, std::span<const AttnRange> ranges,
                   const TensorView& dst, std::string_view rows_name, int64_t limit) {
  check_rows(fn, "src", src);
  check_rows(fn, "dst", dst);
  checks::same_device(fn, "dst", dst, "src", src);
  bool same = src.ndim == dst.ndim;
  for (int i = 1; same && i < src.ndim; ++i) same = src.shape[i] == dst.shape[i];
  MAGI_CHECK(same, fn, ": src = ", src.describe(), " and dst = ", dst.describe(),
             ": dims after the first must match");
  int64_t total = 0;
  for (size_t i = 0; i < ranges.size(); ++i) {
    check_range(ranges[i],
                std::string(fn) + ": ranges[" + std::to_string(i) + "] (rows of " +
                    std::string(rows_name) + ")",
                limit);
    total += ranges[i].size();
  }
  return total;
}

}  // namespace

void range_gather(const TensorView& src, std::span<const AttnRange> ranges, const TensorView& dst,
                  void* cuda_stream) {
  constexpr std::string_view fn = "range_gather";
  const int64_t total = check_pair(fn, src, ranges, dst, "src", src.ndim >= 1 ? src.shape[0] : 0);
  MAGI_CHECK(dst.dtype == src.dtype, fn, ": dst dtype ", to_string(dst.dtype),
             " differs from src dtype ", to_string(src.dtype));
  MAGI_CHECK(dst.shape[0] == total, fn, ": dst = ", dst.describe(), ": expected ", total,
             " rows (the total size of the ranges)");
  if (!checks::on_cuda(fn, src)) return cpu::range_gather(src, ranges, dst);
#ifdef MAGI_WITH_CUDA
  cuda::range_gather(src, ranges, dst, cuda_stream);
#endif
}

void range_scatter_add(const TensorView& src, std::span<const AttnRange> ranges,
                       const TensorView& dst, void* cuda_stream) {
  constexpr std::string_view fn = "range_scatter_add";
  const int64_t total = check_pair(fn, src, ranges, dst, "dst", dst.ndim >= 1 ? dst.shape[0] : 0);
  checks::dtype_in(fn, "src", src, kFloating, "a floating dtype");
  checks::dtype_in(fn, "dst", dst, kFloating, "a floating dtype");
  MAGI_CHECK(src.shape[0] == total, fn, ": src = ", src.describe(), ": expected ", total,
             " rows (the total size of the ranges)");
  if (!checks::on_cuda(fn, src)) return cpu::range_scatter_add(src, ranges, dst);
#ifdef MAGI_WITH_CUDA
  cuda::range_scatter_add(src, ranges, dst, cuda_stream);
#endif
}

void merge_out_lse(const TensorView& out_acc, const TensorView& lse_acc, const TensorView& out_part,
                   const TensorView& lse_part, void* cuda_stream) {
  constexpr std::string_view fn = "merge_out_lse";
  checks::ndim(fn, "out_acc", out_acc, 3, "[N, H, D]");
  const int64_t n = out_acc.shape[0], h = out_acc.shape[1], d = out_acc.shape[2];
  checks::ndim(fn, "out_part", out_part, 3, "[N, H, D]");
  checks::shape(fn, "out_part", out_part, {n, h, d}, "of out_acc");
  checks::ndim(fn, "lse_acc", lse_acc, 2, "[N, H]");
  checks::shape(fn, "lse_acc", lse_acc, {n, h}, "[N, H] of out_acc");
  checks::ndim(fn, "lse_part", lse_part, 2, "[N, H]");
  checks::shape(fn, "lse_part", lse_part, {n, h}, "[N, H] of out_acc");
  checks::dtype_in(fn, "out_acc", out_acc, kWide, "float32 or float64 (an accumulator)");
  checks::dtype_in(fn, "lse_acc", lse_acc, kWide, "float32 or float64");
  checks::dtype_in(fn, "out_part", out_part, kFloating, "a floating dtype");
  checks::dtype_in(fn, "lse_part", lse_part, kWide, "float32 or float64");
  for (const auto& [name, t] : {std::pair<std::string_view, const TensorView&>{"lse_acc", lse_acc},
                                {"out_part", out_part},
                                {"lse_part", lse_part}}) {
    checks::same_device(fn, name, t, "out_acc", out_acc);
  }
  checks::inner_contiguous(fn, "out_acc", out_acc);
  checks::inner_contiguous(fn, "out_part", out_part);
  if (!checks::on_cuda(fn, out_acc))
    return cpu::merge_out_lse(out_acc, lse_acc, out_part, lse_part);
#ifdef MAGI_WITH_CUDA
  cuda::merge_out_lse(out_acc, lse_acc, out_part, lse_part, cuda_stream);
#endif
}

}  // namespace magi
