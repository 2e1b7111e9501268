// RowPair: two tensors, [rows, H, D1] and [rows, H, D2], travelling as one. Row r of `both`
// ([rows, H * (D1 + D2)], contiguous) is row r of `first` then row r of `second`, which are
// views of it with row stride H * (D1 + D2) (K|V rows, or dK|dV; D1 = D2 but for a value head
// dim of its own, MLA's 192 | 128).
// NOTE: interleaving by row (not [first; second]) keeps each rank's share of an exchange one
// run of rows, so a pair costs one all_to_all_v with rows of both row sizes together.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/tensor_ops.h"
#include "runtime/arena.h"

namespace magi::runtime {

/// The row shape of a pair: first [h, d_first], second [h, d_second].
struct PairShape {
  int64_t h = 0, d_first = 0, d_second = 0;

  /// K|V (or dK|dV) of these tensors, [S, H, D] and [S, H, Dv].
  static PairShape of(const TensorView& first, const TensorView& second) {
    return {first.shape[1], first.shape[2], second.shape[2]};
  }
};

struct RowPair {
  TensorView both, first, second;

  int64_t rows() const { return both.shape[0]; }
  /// Rows [start, end) of all three views.
  RowPair slice(int64_t start, int64_t end) const {
    return {row_slice(both, start, end), row_slice(first, start, end),
            row_slice(second, start, end)};
  }
};

inline RowPair take_pair(Arena& a, DType dtype, int64_t rows, const PairShape& s) {
  const int64_t row = s.h * (s.d_first + s.d_second);
  RowPair p;
  p.both = a.take(dtype, {rows, row});
  p.first = p.both;
  p.first.ndim = 3;
  p.first.shape = {rows, s.h, s.d_first, 0};
  p.first.strides = {row, s.d_first, 1, 0};
  p.second = p.first;
  p.second.shape = {rows, s.h, s.d_second, 0};
  p.second.strides = {row, s.d_second, 1, 0};
  p.second.data = static_cast<std::byte*>(p.both.data) + s.h * s.d_first * dtype_size(dtype);
  return p;
}

}  // namespace magi::runtime
