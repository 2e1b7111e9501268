// Launchers of the runtime's CUDA kernels (kernels.cu, sink_kernels.cu). Plain C++17 types
// only, so that the device sources need none of the C++20 public headers; the host wrappers
// convert TensorViews.
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
/// dst (fp32 or fp64) rows at the ranges += packed src rows; strides in elements. With
/// `layer_of` (per range) only the ranges of layer `layer` add.
void launch_scatter_add(const void* src, int src_elem, int64_t src_stride, void* dst, int dst_elem,
                        int64_t dst_stride, int64_t row_elems, const int64_t* starts,
                        const int64_t* offsets, int64_t n, int64_t rows, const int64_t* layer_of,
                        int64_t layer, void* stream);
void launch_merge(void* out_acc, int oa_elem, const Strided& oa, void* lse_acc, int la_elem,
                  const Strided& la, const void* out_part, int op_elem, const Strided& op,
                  const void* lse_part, int lp_elem, const Strided& lp, int64_t rows_heads,
                  int64_t d, void* stream);

/// The attention sink's logits as the kernels read them: sink s of (row r, head h) at
/// logits[r * row_stride + s * heads + h] (row_stride 0 for layout sh), fp32.
struct SinkLogits {
  const float* logits = nullptr;
  int64_t num_sink = 0, heads = 0, row_stride = 0;
};
/// src/kernels/sink.h's sink_merge on rows_heads (row, head) pairs of out [.., D] and lse.
void launch_sink_merge(void* out, int o_elem, const Strided& o, void* lse, int l_elem,
                       const Strided& l, const SinkLogits& sink, int64_t rows_heads, int64_t d,
                       void* stream);
/// sink_backward: dsink (fp32, contiguous, the logits' shape) += the sink's gradient over
/// `rows` rows; layout sh sums the rows in a fixed order. `scratch`: rows x heads floats for
/// layout sh (D per row and head, on the fast path), or null (the slower one-pass kernels).
void launch_sink_backward(const void* out, int o_elem, const Strided& o, const void* lse,
                          int l_elem, const Strided& l, const void* dout, int g_elem,
                          const Strided& g, const SinkLogits& sink, float* dsink, float* scratch,
                          int64_t rows, int64_t d, void* stream);
/// dst[i] = scale * (src[i] + src[m + i] + ... + src[(n - 1) m + i]), in that order.
void launch_sum_rows(const float* src, float* dst, int64_t n, int64_t m, double scale,
                     void* stream);
/// dst[i] = max over r of src[r * m + i], a NaN in any row kept (max_logits over ranks).
void launch_max_rows(const float* src, float* dst, int64_t n, int64_t m, void* stream);

}  // namespace magi::cuda::rt
