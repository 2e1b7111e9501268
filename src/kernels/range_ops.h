// Row-range kernels of the distributed runtime, on any device. Each entry here validates its
// arguments (magi::Error names the argument), then runs the backend of the tensors' device on
// a transient RangeList (the runtime calls the backends directly with the lists it prepared
// once per key). `cuda_stream` is a cudaStream_t for CUDA tensors (nullptr: the default
// stream) and is ignored on the CPU.
//
// "Row" means one index of dim 0 with everything behind it: a tensor [N, ...] has N rows of
// row_numel = prod(shape[1:]) elements. Dims after the first must be contiguous; dim 0 may have
// any stride.
#pragma once

#include <span>

#include "magi/mask.h"
#include "magi/tensor.h"

namespace magi {

/// Concatenates the rows of `ranges` (over dim 0 of src, in the given order) into dst:
/// dst[offset_i + j] = src[ranges[i].start + j], offset_i = sum of the sizes of ranges[0..i).
/// src [N, ...] and dst [M, ...]: same dtype (any), same trailing shape, same device;
/// M = total size of the ranges; every range inside [0, N). Ranges may overlap and repeat.
void range_gather(const TensorView& src, std::span<const AttnRange> ranges, const TensorView& dst,
                  void* cuda_stream = nullptr);

/// The adjoint of range_gather: dst[ranges[i].start + j] += src[offset_i + j].
/// src [M, ...] and dst [N, ...]: floating dtypes, same trailing shape, same device; the sum is
/// formed in dst's dtype (in fp32 for 16-bit dst), so src may be fp32 into an fp32 or fp64 dst.
/// Overlapping ranges add into the same rows in range order (deterministic).
void range_scatter_add(const TensorView& src, std::span<const AttnRange> ranges,
                       const TensorView& dst, void* cuda_stream = nullptr);

/// In place, per (row, head): merges a partial attention result over other keys into an
/// accumulator (DESIGN.md §2):
///   lse = max + log1p(exp(min - max)),  out = exp(l_acc - lse) * o_acc + exp(l_part - lse) *
///   o_part
/// A partial with lse = -inf holds no key and leaves the other side unchanged (never NaN). Any
/// other non-finite lse on either side (NaN: scores with a NaN) gives lse = NaN and a NaN in
/// every element of out, as on one device (DESIGN.md §6).
/// out_acc [N, H, D] fp32/fp64; lse_acc [N, H] fp32/fp64; out_part [N, H, D] any floating dtype;
/// lse_part [N, H] fp32/fp64; one device. Arithmetic in fp64.
void merge_out_lse(const TensorView& out_acc, const TensorView& lse_acc, const TensorView& out_part,
                   const TensorView& lse_part, void* cuda_stream = nullptr);

}  // namespace magi
