// The attention sink's CUDA operations (src/kernels/sink.h), behind the CUDA backend; validated
// by the caller. CUDA-free header: the stream travels as void*.
#pragma once

#include "magi/ffa.h"
#include "magi/tensor.h"

namespace magi::cuda {

void sink_merge(const TensorView& out, const TensorView& lse, const AttnSink& sink, void* stream);

/// `workspace`: sink_backward_workspace_bytes(out, sink) bytes on out's device (or null: the
/// slower kernels that need none).
void sink_backward(const TensorView& out, const TensorView& lse, const TensorView& dout,
                   const AttnSink& sink, const TensorView& dsink, void* workspace, void* stream);
size_t sink_backward_workspace_bytes(const TensorView& out, const AttnSink& sink);

void sum_rows(const TensorView& src, const TensorView& dst, double scale, void* stream);

/// Backend::max_rows (max_logits over ranks; not a sink operation, but the same shape of step).
void max_rows(const TensorView& src, const TensorView& dst, void* stream);

}  // namespace magi::cuda
