// The range-op entries: validate, then run the backend of the tensors' device.
#include "kernels/range_ops.h"

#include <string>
#include <vector>

#include "kernels/backend.h"
#include "kernels/tensor_checks.h"
#include "magi/check.h"

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

/// src and dst share the trailing shape and the device; each range lies inside [0, limit).
/// `packed` (the side whose rows the ranges concatenate) must have their total size in rows.
RangeList check_pair(std::string_view fn, const TensorView& src, std::span<const AttnRange> ranges,
                     const TensorView& dst, bool ranges_on_src) {
  check_rows(fn, "src", src);
  check_rows(fn, "dst", dst);
  checks::same_device(fn, "dst", dst, "src", src);
  bool same = src.ndim == dst.ndim;
  for (int i = 1; same && i < src.ndim; ++i) same = src.shape[i] == dst.shape[i];
  MAGI_CHECK(same, fn, ": src = ", src.describe(), " and dst = ", dst.describe(),
             ": dims after the first must match");
  const TensorView& indexed = ranges_on_src ? src : dst;
  const TensorView& packed = ranges_on_src ? dst : src;
  for (size_t i = 0; i < ranges.size(); ++i) {
    check_range(ranges[i],
                std::string(fn) + ": ranges[" + std::to_string(i) + "] (rows of " +
                    (ranges_on_src ? "src" : "dst") + ")",
                indexed.shape[0]);
  }
  RangeList list({ranges.begin(), ranges.end()}, /*transient=*/true);
  MAGI_CHECK(packed.shape[0] == list.total_rows(), fn, ": ", ranges_on_src ? "dst" : "src", " = ",
             packed.describe(), ": expected ", list.total_rows(),
             " rows (the total size of the ranges)");
  return list;
}

}  // namespace

void range_gather(const TensorView& src, std::span<const AttnRange> ranges, const TensorView& dst,
                  void* cuda_stream) {
  constexpr std::string_view fn = "range_gather";
  const RangeList list = check_pair(fn, src, ranges, dst, /*ranges_on_src=*/true);
  MAGI_CHECK(dst.dtype == src.dtype, fn, ": dst dtype ", to_string(dst.dtype),
             " differs from src dtype ", to_string(src.dtype));
  backend_for(src.device, fn).range_gather(src, list, dst, cuda_stream);
}

void range_scatter_add(const TensorView& src, std::span<const AttnRange> ranges,
                       const TensorView& dst, void* cuda_stream) {
  constexpr std::string_view fn = "range_scatter_add";
  checks::dtype_in(fn, "src", src, kFloating, "a floating dtype");
  checks::dtype_in(fn, "dst", dst, kFloating, "a floating dtype");
  const RangeList list = check_pair(fn, src, ranges, dst, /*ranges_on_src=*/false);
  backend_for(src.device, fn).range_scatter_add(src, list, dst, cuda_stream);
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
  backend_for(out_acc.device, fn).merge_out_lse(out_acc, lse_acc, out_part, lse_part, cuda_stream);
}

}  // namespace magi
