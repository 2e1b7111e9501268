// The CUDA FFA kernels' host side, behind the CUDA backend (cuda_backend.cc). The entries have
// validated the calls against ffa.h's contract; the checks here add the kernels' own limits, and
// the runs check nothing. CUDA-free header: the stream travels in the argument structs.
#pragma once

#include <cstddef>
#include <string_view>

#include "kernels/backend.h"

namespace magi::cuda {

/// bf16 / fp16 inputs, a head dim of the kernel table, 16-byte aligned rows, fp32 lse, an out
/// dtype the epilogue stores (bf16, fp16, fp32; fp32 in accumulate mode) with paired strides.
void check_ffa_forward(std::string_view fn, const FfaFwdArgs& a);
/// As the forward, plus dout in q's dtype, dq an fp32 accumulator, dk / dv fp32 accumulators or
/// q's dtype (overwritten).
void check_ffa_backward(std::string_view fn, const FfaBwdArgs& a);

/// Scratch of one forward: the partial results of the tiles its plan cuts (ffa/sm90/fwd_plan.h),
/// 0 when it runs no plan or cuts none.
size_t ffa_forward_workspace_bytes(const FfaFwdArgs& a);

/// Scratch of one backward: the row statistics of the preprocess, and fp32 dk / dv when they
/// are overwritten in q's dtype but cannot be stored directly.
size_t ffa_backward_workspace_bytes(const FfaBwdArgs& a);

void ffa_forward(const FfaFwdArgs& a);
void ffa_backward(const FfaBwdArgs& a);

}  // namespace magi::cuda
