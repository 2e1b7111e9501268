#include "kernels/cpu/range_ops.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/cpu/convert.h"
#include "kernels/cpu/lse_merge.h"
#include "kernels/cpu/parallel.h"

namespace magi::cpu {
namespace {

constexpr int64_t kPieceBytes = 1 << 20;        // rows per work item: about this many bytes
constexpr double kMinBytesPerThread = 1 << 22;  // below this a thread costs more than it saves

/// `count` consecutive rows: src rows from `src_row`, dst rows from `dst_row`.
struct Piece {
  int64_t src_row, dst_row, count;
};

int64_t row_numel(const TensorView& t) {
  int64_t n = 1;
  for (int i = 1; i < t.ndim; ++i) n *= t.shape[i];
  return n;
}

char* row_ptr(const TensorView& t, int64_t row) {
  return static_cast<char*>(t.data) +
         row * t.strides[0] * static_cast<int64_t>(dtype_size(t.dtype));
}

/// The ranges as pieces of at most kPieceBytes; `gather` maps ranges onto src (else onto dst).
std::vector<Piece> make_pieces(std::span<const AttnRange> ranges, int64_t row_bytes, bool gather) {
  const int64_t step = std::max<int64_t>(1, kPieceBytes / std::max<int64_t>(row_bytes, 1));
  std::vector<Piece> pieces;
  int64_t offset = 0;
  for (const AttnRange& r : ranges) {
    for (int64_t j = 0; j < r.size(); j += step) {
      const int64_t n = std::min(step, r.size() - j);
      pieces.push_back(gather ? Piece{r.start + j, offset + j, n}
                              : Piece{offset + j, r.start + j, n});
    }
    offset += r.size();
  }
  return pieces;
}

bool pairwise_disjoint(std::span<const AttnRange> ranges) {
  std::vector<AttnRange> sorted(ranges.begin(), ranges.end());
  std::erase_if(sorted, [](const AttnRange& r) { return r.empty(); });
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 1; i < sorted.size(); ++i) {
    if (sorted[i].start < sorted[i - 1].end) return false;
  }
  return true;
}

template <typename C>
void add_rows(const TensorView& src, const TensorView& dst, const Piece& p, int64_t n) {
  std::vector<C> a(static_cast<size_t>(n)), b(static_cast<size_t>(n));
  for (int64_t j = 0; j < p.count; ++j) {
    char* d = row_ptr(dst, p.dst_row + j);
    load_row(row_ptr(src, p.src_row + j), src.dtype, n, a.data());
    load_row(d, dst.dtype, n, b.data());
    for (int64_t e = 0; e < n; ++e) b[e] += a[e];
    store_row(b.data(), n, dst.dtype, d);
  }
}

}  // namespace

void range_gather(const TensorView& src, std::span<const AttnRange> ranges, const TensorView& dst) {
  const int64_t row_bytes = row_numel(src) * static_cast<int64_t>(dtype_size(src.dtype));
  const std::vector<Piece> pieces = make_pieces(ranges, row_bytes, true);
  const int threads = threads_for(double(dst.shape[0]) * double(row_bytes), kMinBytesPerThread);
  parallel_for(static_cast<int64_t>(pieces.size()), threads, [&](int64_t i) {
    const Piece& p = pieces[i];
    for (int64_t j = 0; j < p.count; ++j) {
      std::memcpy(row_ptr(dst, p.dst_row + j), row_ptr(src, p.src_row + j),
                  static_cast<size_t>(row_bytes));
    }
  });
}

void range_scatter_add(const TensorView& src, std::span<const AttnRange> ranges,
                       const TensorView& dst) {
  const int64_t n = row_numel(dst);
  const int64_t row_bytes = n * static_cast<int64_t>(dtype_size(dst.dtype));
  const std::vector<Piece> pieces = make_pieces(ranges, row_bytes, false);
  // NOTE: overlapping ranges add into the same rows; they run in order on one thread.
  const int threads =
      pairwise_disjoint(ranges)
          ? threads_for(double(src.shape[0]) * double(row_bytes), kMinBytesPerThread)
          : 1;
  parallel_for(static_cast<int64_t>(pieces.size()), threads, [&](int64_t i) {
    if (dst.dtype == DType::kFloat64) {
      add_rows<double>(src, dst, pieces[i], n);
    } else {
      add_rows<float>(src, dst, pieces[i], n);
    }
  });
}

void merge_out_lse(const TensorView& out_acc, const TensorView& lse_acc, const TensorView& out_part,
                   const TensorView& lse_part) {
  const int64_t rows = out_acc.shape[0], heads = out_acc.shape[1], d = out_acc.shape[2];
  const int64_t rows_per_item =
      std::max<int64_t>(1, kPieceBytes / std::max<int64_t>(heads * d * 8, 1));
  const int64_t items = (rows + rows_per_item - 1) / rows_per_item;
  const int threads = threads_for(double(rows * heads * d) * 8.0, kMinBytesPerThread);
  parallel_for(items, threads, [&](int64_t item) {
    std::vector<double> o1(static_cast<size_t>(d)), o2(static_cast<size_t>(d));
    const int64_t r1 = std::min(rows, (item + 1) * rows_per_item);
    for (int64_t r = item * rows_per_item; r < r1; ++r) {
      for (int64_t h = 0; h < heads; ++h) {
        const LseMerge m = lse_merge(load_scalar(lse_acc, r, h), load_scalar(lse_part, r, h));
        if (m.keep1) continue;
        void* acc = element_ptr(out_acc, r, h);
        load_row(acc, out_acc.dtype, d, o1.data());
        load_row(element_ptr(out_part, r, h), out_part.dtype, d, o2.data());
        apply_lse_merge(m, o1.data(), o2.data(), d);
        store_row(o1.data(), d, out_acc.dtype, acc);
        store_scalar(m.lse, lse_acc, r, h);
      }
    }
  });
}

}  // namespace magi::cpu
