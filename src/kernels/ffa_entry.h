// The checks of the FFA entries, shared by ffa.cc and the distributed runtime: each validates a
// call against ffa.h's contract once and returns it as the backend's argument struct, with the
// score parameters resolved by the one rule of FfaOptions.
#pragma once

#include <string_view>

#include "kernels/backend.h"

namespace magi {

/// FfaOptions' rule: softmax_scale 0 -> head_dim ** -0.5, else finite and > 0; softcap finite
/// and >= 0. Throws naming fn and the value.
ScoreParams resolve_scores(std::string_view fn, const FfaOptions& opts, int64_t head_dim);

FfaFwdArgs check_ffa_forward(std::string_view fn, const TensorView& q, const TensorView& k,
                             const TensorView& v, const FfaWork& work, const FfaOptions& opts,
                             const TensorView& out, const TensorView& lse, bool accumulate);

/// The backward's inputs; the gradients are left unset (check_ffa_grads sets them).
FfaBwdArgs check_ffa_backward_inputs(std::string_view fn, const TensorView& q, const TensorView& k,
                                     const TensorView& v, const TensorView& out,
                                     const TensorView& lse, const TensorView& dout,
                                     const FfaWork& work, const FfaOptions& opts);

/// dq (an accumulator), dk and dv (accumulators, or q's 16-bit dtype on CUDA) of ffa.h.
void check_ffa_grads(std::string_view fn, FfaBwdArgs& a, const TensorView& dq, const TensorView& dk,
                     const TensorView& dv);

}  // namespace magi
