// The check `magi-attn bench` runs before it times a mask: the kernels' out, lse and dq on
// sampled (query row, head) pairs and their dk and dv on sampled (key row, kv head) pairs
// against textbook attention in float64 (the mask materialised per row or column, no code
// shared with the kernels).
#pragma once

#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "magi/mask.h"
#include "magi/tensor.h"

namespace magi::cli {

/// Everything as float64 host values, row-major: q [S, Hq, D], k [S, Hkv, D], v [S, Hkv, Dv],
/// dout and out [S, Hq, Dv], lse [S, Hq], dq [S, Hq, D], dk [S, Hkv, D], dv [S, Hkv, Dv]
/// (inputs rounded to the kernels' dtype, so rounding them is not counted as error).
struct CheckData {
  std::span<const double> q, k, v, dout;         // the inputs
  std::span<const double> out, lse, dq, dk, dv;  // the kernels' results
  int64_t seqlen = 0, hq = 0, hkv = 0, hd = 0, hdv = 0;
};

/// Worst error per result. out: max |got - ref| over a row divided by that row's max |ref|
/// (relative to the row, so that long rows' small values count); dq, dk, dv: the same, but
/// divided by at least a tenth of the largest max |ref| of the rows sampled (a row whose
/// gradient nearly cancels, dP ~ rowsum(dO * O), would otherwise fail correct 16-bit kernels);
/// lse: |got - ref|. A row with no cell must give out = 0 and lse = -inf exactly (its dq, and
/// dk, dv of a key row no query sees, 0), else its error is +inf; a NaN anywhere is +inf.
struct CheckErrors {
  double out = 0, lse = 0, dq = 0, dk = 0, dv = 0;
};

/// Largest accepted errors of a dtype's kernels (16-bit: out 2e-2, lse 2e-3, gradients 5e-2;
/// float32 1e-4; float64 1e-9): each well above a correct kernel's and below what a dropped
/// block of keys gives (tests/tools/cli/bench_check_test.cc).
CheckErrors check_tolerance(DType dtype);
/// Whether every error is within its tolerance (false for NaN).
bool within(const CheckErrors& err, const CheckErrors& tol);

/// The mask's row `row`: mask[j] = 1 where the cell (row, j) lies in some slice (mask.h's
/// definitions); `mask` is resized to seqlen.
void mask_row(std::span<const AttnSlice> slices, int64_t row, int64_t seqlen,
              std::vector<uint8_t>& mask);

/// Textbook attention of one query row and head in float64 over the row `mask`: its lse (-inf
/// without a cell, then out and dq are empty), out, and dq (rowsum(dO * O) from this out; the
/// softmax scale is head_dim ** -0.5). Reads d's inputs only.
struct DenseRow {
  double lse = -INFINITY;
  std::vector<double> out, dq;
};
DenseRow dense_row(const CheckData& d, const std::vector<uint8_t>& mask, int64_t row, int64_t head);

/// `n` distinct rows of [0, seqlen): the first, the last and the middle one, then random ones.
std::vector<int64_t> check_rows(int64_t seqlen, int64_t n, uint64_t seed);

/// The errors on the query rows `rows` (every query head) and the key rows `keys` (every kv
/// head). dk and dv are built from the kernels' own out and lse (rowsum(dout * out) and the
/// softmax), which the query rows check; the softmax scale is head_dim ** -0.5.
CheckErrors check_results(const CheckData& d, std::span<const AttnSlice> slices,
                          std::span<const int64_t> rows, std::span<const int64_t> keys);

}  // namespace magi::cli
