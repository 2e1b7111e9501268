// CPU sink operations, called by the backend after validation. Contracts: src/kernels/sink.h.
#pragma once

#include "magi/ffa.h"
#include "magi/tensor.h"

namespace magi::cpu {

void sink_merge(const TensorView& out, const TensorView& lse, const AttnSink& sink);

void sink_backward(const TensorView& out, const TensorView& lse, const TensorView& dout,
                   const AttnSink& sink, const TensorView& dsink);

void sum_rows(const TensorView& src, const TensorView& dst, double scale);

}  // namespace magi::cpu
