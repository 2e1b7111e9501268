// Launchers of the runtime's CUDA kernels (kernels.cu). Plain C++17 types only, so that the
// device sources need none of the C++20 public headers; the host wrappers convert TensorViews.
#pragma once

#include <cstdint>

namespace magi::cuda::rt {

/// Element types by the values of magi::DType (checked in the host wrappers).
enum Elem : int { kF32 = 0, kF64 = 1, kBF16 = 2, kF16 = 3 };

struct Strided {
  int ndim = 0;
  int64_t shape[4] = {};
  int64_t strides[4] = {};  // elements
};

void launch_fill(void* dst, int elem, const Strided& s, int64_t n, double value, void* stream);
/// Contiguous fp32 -> bf16 / fp16 fast path; false (nothing launched) when it does not apply.
bool launch_cast_f32_contig(const void* src, void* dst, int dst_elem, int64_t n, void* stream);
void launch_cast(const void* src, int src_elem, const Strided& ss, void* dst, int dst_elem,
                 const Strided& ds, int64_t n, void* stream);
/// Rows of `rows` packed destination rows; range i starts at starts[i] in the source and at
/// offsets[i] in the packed order (device arrays, n ranges). Strides in bytes.
void launch_gather(const void* src, int64_t src_stride, void* dst, int64_t dst_stride,
                   int64_t row_bytes, const int64_t* starts, const int64_t* offsets, int64_t n,
                   int64_t rows, void* stream);
/// dst (fp32 or fp64) rows at the ranges += packed src rows; strides in elements.
void launch_scatter_add(const void* src, int src_elem, int64_t src_stride, void* dst, int dst_elem,
                        int64_t dst_stride, int64_t row_elems, const int64_t* starts,
                        const int64_t* offsets, int64_t n, int64_t rows, void* stream);
void launch_merge(void* out_acc, int oa_elem, const Strided& oa, void* lse_acc, int la_elem,
                  const Strided& la, const void* out_part, int op_elem, const Strided& op,
                  const void* lse_part, int lp_elem, const Strided& lp, int64_t rows_heads,
                  int64_t d, void* stream);

}  // namespace magi::cuda::rt
