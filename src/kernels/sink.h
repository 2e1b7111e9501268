// The attention sink outside the kernels (magi/ffa.h AttnSink): its checks, shared by the FFA
// entries and the distributed runtime, and the contracts of the backend's sink operations.
//
// Why no kernel change: a row's softmax over its keys and its sinks is the log-sum-exp merge of
// the keys' partial (out, lse) with a partial whose out is 0 and whose lse is
//   ls[r, h] = logsumexp over s of logits[s, h]   (kSSH: logits[r, s, h]),
// so with the final (out, lse) over all keys (every slice, stage and rank merged):
//   lse' = logaddexp(lse, ls),  out' = out * exp(lse - lse').
// Given out' and lse', the kernels' backward uses P = exp(S - lse') (the true probabilities)
// and D = rowsum(dout * out'), so dq, dk, dv are exact, and the sink's own gradient is
//   dlogits[s, h] = -sum over rows r of exp(logits[s, h] - lse'[r, h]) * D[r, h]
// (kSSH: per row, no sum).
//
// Backend operations (validated by the caller with the checks below):
//   sink_merge(out, lse, sink):  out [Sq, Hq, D] (any floating dtype), lse [Sq, Hq] (fp32 or
//     fp64) become out', lse' in place. Per row and head: ls = -inf leaves the row as it is;
//     ls NaN or +inf (a NaN or +inf logit) makes lse' and out' NaN; lse = -inf (no key) gives
//     lse' = ls and out' = 0; lse NaN or +inf stays NaN.
//   sink_backward(out', lse', dout, sink, dsink, workspace):  dsink (fp32, shaped like the
//     logits) += the gradient above over these rows (kSH: summed over rows in a fixed order);
//     workspace: sink_backward_workspace_bytes(out, sink) bytes of scratch on out's device.
//   sum_rows(src, dst, scale):  dst = scale * (src[0] + src[1] + ... + src[n-1]), src
//     [n, ...] and dst [...] contiguous fp32, summed in that order (the result does not
//     depend on the schedule, so every rank that sums the same rows gets the same bits).
#pragma once

#include <string_view>

#include "kernels/backend.h"
#include "magi/ffa.h"

namespace magi {

/// The sink of a call whose queries are q ([Sq, Hq, D]): fp32, contiguous, on q's device,
/// kSH [num_sink, Hq] or kSSH [Sq, num_sink, Hq] with num_sink >= 1, and a backend that has
/// the sink operations. Throws naming fn and the bad value.
void check_sink(std::string_view fn, const AttnSink& sink, const TensorView& q,
                const Backend& backend);

/// dsink of a backward: fp32, contiguous, the logits' shape, on their device; given only with
/// a sink. A default TensorView (ndim 0) means "no gradient wanted" and passes.
void check_dsink(std::string_view fn, const TensorView& dsink, const std::optional<AttnSink>& sink);

/// Whether a dsink was given (ndim > 0).
inline bool has_dsink(const TensorView& dsink) { return dsink.ndim > 0; }

/// "sh" or "ssh".
std::string_view to_string(SinkLayout layout);

}  // namespace magi
