// FFA: flexible flash attention over a mask given as slices, on one device.
//
// Shapes: q [Sq, Hq, D], k [Sk, Hkv, D] and v [Sk, Hkv, Dv] with Hq % Hkv == 0 (query head h
// reads kv head h / (Hq / Hkv)); out [Sq, Hq, Dv]; lse [Sq, Hq] (fp32, natural log). Dv, v's
// head dim, may differ from D: any on the CPU, on CUDA the pairs of tile_table.h's
// kValueHeadDims (MLA: 192 / 128, on the portable kernels). The mask is the union of the slices'
// cells (see mask.h); a cell covered by several slices counts once. A row with no cell gets out = 0
// and lse = -inf and contributes no gradient. Scores are softmax_scale * q.k, then softcap *
// tanh(score / softcap) when softcap > 0.
//
// Non-finite values are data (DESIGN.md §6): a row whose scores hold a NaN or +inf gets
// out = NaN and lse = NaN (never -inf, which means "no weight": no cell, or every score -inf),
// and NaN gradients on its cells; merging partial results (accumulate, merge_out_lse)
// propagates them as one call over all keys would. On the CPU a row's results depend on its own
// cells only; the CUDA kernels lose no NaN but may also spread one within a tile (0 * NaN).
//
// Two forms of each entry:
//   - over an FfaWork, the mask prepared once (disjoint slices; per device the kernels' work
//     lists, uploaded on first use): a call does no planning and no hashing of the mask;
//   - over a slice span, for convenience: the prepared work is looked up in a small cache keyed
//     by the slices' contents (one hash of the slices per call). Prefer FfaWork for repeated
//     calls.
// Every argument is validated once, at the entry, with an Error naming the bad value.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "magi/mask.h"
#include "magi/tensor.h"
#include "magi/workspace.h"

namespace magi {

/// Layout of attention-sink logits: kSH [num_sink, Hq] (the same sinks for every row) or kSSH
/// [Sq, num_sink, Hq] (sinks per query row).
enum class SinkLayout : int8_t { kSH, kSSH };

/// Learnable attention-sink logits (gpt-oss style). Each sink s of row r and query head h adds
/// exp(logits[s, h]) (kSSH: logits[r, s, h]) to the row's softmax denominator and nothing to
/// out; the logits are not scaled by softmax_scale. lse includes the sinks. -inf means "no
/// sink"; a NaN or +inf logit makes its rows NaN (DESIGN.md §6). Contract: float32, contiguous,
/// on q's device, num_sink >= 1 (no upper limit: the sink step is O(num_sink) per row).
///
/// The sink takes no part in the kernels: it is merged once into the row's final result as a
/// partial with out = 0 and lse = logsumexp over the sinks, and the backward, given that final
/// out and lse, is then exact for q, k and v; d logits = -sum over rows of
/// exp(logit - lse) * rowsum(dout * out).
struct AttnSink {
  TensorView logits{};
  SinkLayout layout = SinkLayout::kSH;
};

/// Options of one call. The score parameters follow one rule on every device:
///   softmax_scale: 0 means head_dim ** -0.5; any other value must be finite and > 0 (a
///                  negative or non-finite scale is rejected, naming the value);
///   softcap:       0 means none; any other value must be finite and > 0.
struct FfaOptions {
  double softmax_scale = 0.0;
  double softcap = 0.0;
  void* cuda_stream = nullptr;     // cudaStream_t for CUDA tensors (nullptr: the default stream)
  Allocator* allocator = nullptr;  // scratch memory (nullptr: default_allocator())
  /// Backward: gradients bit-identical from run to run whatever the order in which the GPU
  /// schedules the work (the additions into dq, dk and dv happen in a fixed order). The CPU
  /// kernels always are; on CUDA it needs the Hopper kernels (compute capability 9.0) and
  /// costs some speed. MAGI_ATTENTION_DETERMINISTIC_MODE=1 turns it on for every call.
  bool deterministic = false;
  /// Attention sink (see AttnSink). Forward: merged into this call's out and lse (with
  /// accumulate = true: merged once into the accumulated result, so give it to exactly one of
  /// the calls whose results are merged). Backward: out and lse must be the sink-included ones
  /// the forward returned; the sink's gradient goes to ffa_backward's dsink.
  std::optional<AttnSink> sink{};
  /// Forward only (return_max_logits, for Muon QK-clip): float32 [Hq], contiguous, on q's
  /// device; a default TensorView (ndim 0) skips it. For each query head h, the largest score
  /// (after softmax_scale and softcap: the logit that enters the softmax, the sink's logits
  /// excluded) over the call's valid cells is merged into max_logits[h] by max, whatever
  /// `accumulate` says: fill it with -inf before the first of the calls it gathers. A head with
  /// no valid cell leaves it unchanged (-inf); a NaN score makes it NaN (DESIGN.md §6).
  /// calc_attn instead overwrites it with the maximum over every stage and rank. Not
  /// differentiable. On CUDA the forward then tracks the exact row maximum (a few more O
  /// rescales than without it).
  TensorView max_logits{};
};

/// A mask prepared for the FFA kernels: built once per mask and shape, reused by every call.
/// Holds the union of the slices as disjoint slices and, per device it has been used on, the
/// backend's prepared form (CPU: per-row key intervals; CUDA: the forward and backward work
/// lists in device memory, uploaded on first use). Thread-safe; immutable to its users.
/// NOTE (CUDA): the first call on a device uploads the work lists and synchronises the call's
/// stream once (the deterministic backward's lists: its first call); make it before capturing a
/// CUDA graph. The work must outlive every graph that captured a call with it.
class FfaWork {
 public:
  /// Throws, naming the slice, unless every slice lies inside [0, total_q) x [0, total_k).
  FfaWork(std::span<const AttnSlice> slices, int64_t total_q, int64_t total_k);
  ~FfaWork();
  FfaWork(FfaWork&&) noexcept;
  FfaWork& operator=(FfaWork&&) noexcept;

  int64_t total_q() const;
  int64_t total_k() const;
  /// The mask's union as disjoint slices, sorted by q start (make_disjoint).
  std::span<const AttnSlice> slices() const;

  /// Internal state (src/kernels/ffa_work_impl.h).
  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

/// Forward. With accumulate = false, out (any floating dtype) and lse are overwritten. With
/// accumulate = true, out and lse are fp32 (or fp64) accumulators that already hold a partial
/// result over other keys, and this call merges its own result into them by log-sum-exp.
/// q must have work.total_q() rows and k, v work.total_k() rows.
void ffa_forward(const TensorView& q, const TensorView& k, const TensorView& v, const FfaWork& work,
                 const FfaOptions& opts, const TensorView& out, const TensorView& lse,
                 bool accumulate = false);
void ffa_forward(const TensorView& q, const TensorView& k, const TensorView& v,
                 std::span<const AttnSlice> slices, const FfaOptions& opts, const TensorView& out,
                 const TensorView& lse, bool accumulate = false);

/// Backward from the final out and lse. dq, dk and dv are fp32 (or fp64) accumulators: this
/// call adds its gradients into them, so partial results over disjoint key sets sum exactly.
/// On CUDA with bf16 / fp16 inputs, dq, and dk and dv (both or neither), may instead have q's
/// dtype: they are then overwritten with the gradient (rows no cell touches get 0), which
/// saves the caller an fp32 round trip when it wants the gradient in the input dtype anyway.
/// Scratch memory (CUDA: per-row statistics, the fp32 dq summed in, fp32 dk/dv when they cannot
/// be stored directly) comes from opts.allocator.
/// dsink: with opts.sink, an fp32 accumulator shaped like the sink's logits that the sink's
/// gradient over this call's rows is added into; a default TensorView (ndim 0) skips it.
void ffa_backward(const TensorView& q, const TensorView& k, const TensorView& v,
                  const TensorView& out, const TensorView& lse, const TensorView& dout,
                  const FfaWork& work, const FfaOptions& opts, const TensorView& dq,
                  const TensorView& dk, const TensorView& dv, const TensorView& dsink = {});
void ffa_backward(const TensorView& q, const TensorView& k, const TensorView& v,
                  const TensorView& out, const TensorView& lse, const TensorView& dout,
                  std::span<const AttnSlice> slices, const FfaOptions& opts, const TensorView& dq,
                  const TensorView& dk, const TensorView& dv, const TensorView& dsink = {});

/// Empties the cache of the slice-span entries (frees its prepared work).
void clear_ffa_work_cache();

}  // namespace magi
