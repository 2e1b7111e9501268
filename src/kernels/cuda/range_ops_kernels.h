// Launchers of the CUDA row-range kernels (range_ops_cuda.cc is their only caller). Plain
// types only: the .cu side builds as C++17. Dtype codes are static_cast<int>(magi::DType).
#pragma once

#include <cstdint>

namespace magi::cuda {

/// dst row r (r < rows) = src row map[r]; rows are row_bytes long.
void launch_range_gather(const void* src, int64_t src_row_stride_bytes, void* dst,
                         int64_t dst_row_stride_bytes, const int64_t* map, int64_t rows,
                         int64_t row_bytes, void* stream);

/// For each i < n: dst row rows[i] += sum over j in [off[i], off[i+1]) of src row srcs[j], in
/// order, accumulated in fp64 for an fp64 dst and in fp32 otherwise.
void launch_range_scatter_add(const void* src, int src_dtype, int64_t src_row_stride, void* dst,
                              int dst_dtype, int64_t dst_row_stride, const int64_t* rows,
                              const int64_t* off, const int64_t* srcs, int64_t n,
                              int64_t row_numel, void* stream);

struct MergeArgs {
  void* out_acc;
  void* lse_acc;
  const void* out_part;
  const void* lse_part;
  int out_acc_dtype, lse_acc_dtype, out_part_dtype, lse_part_dtype;
  int64_t oa_s0, oa_s1, la_s0, la_s1, op_s0, op_s1, lp_s0, lp_s1;  // element strides
  int64_t n, h, d;
};

/// Per (row, head): log-sum-exp merge of a partial result into the accumulator (fp64 math).
void launch_merge_out_lse(const MergeArgs& a, void* stream);

}  // namespace magi::cuda
