// FFA: flexible flash attention over a mask given as slices, on one device.
//
// Shapes: q [Sq, Hq, D], k and v [Sk, Hkv, D] with Hq % Hkv == 0 (query head h reads kv head
// h / (Hq / Hkv)); out [Sq, Hq, D]; lse [Sq, Hq] (fp32, natural log). The mask is the union of
// the slices' cells (see mask.h); a cell covered by several slices counts once. A row with no
// cell gets out = 0 and lse = -inf and contributes no gradient. Scores are
// softmax_scale * q.k, then softcap * tanh(score / softcap) when softcap > 0.
//
// Non-finite values are data (DESIGN.md §6): a row whose scores hold a NaN or +inf gets
// out = NaN and lse = NaN (never -inf, which means "no weight": no cell, or every score -inf),
// and NaN gradients on its cells; merging partial results (accumulate, merge_out_lse)
// propagates them as one call over all keys would. On the CPU a row's results depend on its own
// cells only; the CUDA kernels lose no NaN but may also spread one within a tile (0 * NaN).
#pragma once

#include <span>

#include "magi/mask.h"
#include "magi/tensor.h"

namespace magi {

struct FfaOptions {
  double softmax_scale = 0.0;   // 0 means head_dim ** -0.5
  double softcap = 0.0;         // 0 means no softcap
  void* cuda_stream = nullptr;  // cudaStream_t for CUDA tensors (nullptr: the default stream)
};

/// Forward. With accumulate = false, out (any floating dtype) and lse are overwritten. With
/// accumulate = true, out and lse are fp32 (or fp64) accumulators that already hold a partial
/// result over other keys, and this call merges its own result into them by log-sum-exp.
void ffa_forward(const TensorView& q, const TensorView& k, const TensorView& v,
                 std::span<const AttnSlice> slices, const FfaOptions& opts, const TensorView& out,
                 const TensorView& lse, bool accumulate = false);

/// Backward from the final out and lse. dq, dk and dv are fp32 (or fp64) accumulators: this
/// call adds its gradients into them, so partial results over disjoint key sets sum exactly.
/// On CUDA with bf16 / fp16 inputs, dk and dv may instead have q's dtype: they are then
/// overwritten with the gradient (rows no cell touches get 0), which saves the fp32
/// round trip when the caller wants the gradient in the input dtype anyway.
void ffa_backward(const TensorView& q, const TensorView& k, const TensorView& v,
                  const TensorView& out, const TensorView& lse, const TensorView& dout,
                  std::span<const AttnSlice> slices, const FfaOptions& opts, const TensorView& dq,
                  const TensorView& dk, const TensorView& dv);

}  // namespace magi
