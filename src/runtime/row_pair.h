// RowPair: two tensors of [rows, H, D] travelling as one. Row r of `both` ([rows, 2, H, D],
// contiguous) is row r of `first` then row r of `second`, which are views of it with row stride
// 2·H·D (K|V rows, or dK|dV).
// NOTE: interleaving by row (not [first; second]) keeps each rank's share of an exchange one
// run of rows, so a pair costs one all_to_all_v with rows of 2·row_bytes.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/tensor_ops.h"
#include "runtime/arena.h"

namespace magi::runtime {

struct RowPair {
  TensorView both, first, second;

  int64_t rows() const { return both.shape[0]; }
  /// Rows [start, end) of all three views.
  RowPair slice(int64_t start, int64_t end) const {
    return {row_slice(both, start, end), row_slice(first, start, end),
            row_slice(second, start, end)};
  }
};

inline RowPair take_pair(Arena& a, DType dtype, int64_t rows, int64_t h, int64_t d) {
  RowPair p;
  p.both = a.take(dtype, {rows, 2, h, d});
  p.first = p.both;
  p.first.ndim = 3;
  p.first.shape = {rows, h, d, 0};
  p.first.strides = {2 * h * d, d, 1, 0};
  p.second = p.first;
  p.second.data = static_cast<std::byte*>(p.both.data) + h * d * dtype_size(dtype);
  return p;
}

}  // namespace magi::runtime
