#include "kernels/sink.h"

#include "kernels/tensor_checks.h"
#include "magi/check.h"

namespace magi {

std::string_view to_string(SinkLayout layout) { return layout == SinkLayout::kSH ? "sh" : "ssh"; }

void check_sink(std::string_view fn, const AttnSink& sink, const TensorView& q,
                const Backend& backend) {
  const TensorView& s = sink.logits;
  const int64_t sq = q.shape[0], hq = q.shape[1];
  MAGI_CHECK(sink.layout == SinkLayout::kSH || sink.layout == SinkLayout::kSSH, fn,
             ": sink_layout = ", static_cast<int>(sink.layout), ": expected sh or ssh");
  if (sink.layout == SinkLayout::kSH) {
    checks::ndim(fn, "sink", s, 2, "[num_sink, Hq] (layout sh)");
    MAGI_CHECK(s.shape[1] == hq, fn, ": sink = ", s.describe(), ": expected [num_sink, ", hq,
               "] (layout sh; q has ", hq, " heads)");
  } else {
    checks::ndim(fn, "sink", s, 3, "[Sq, num_sink, Hq] (layout ssh)");
    MAGI_CHECK(s.shape[0] == sq && s.shape[2] == hq, fn, ": sink = ", s.describe(), ": expected [",
               sq, ", num_sink, ", hq, "] (layout ssh; q is ", q.describe(), ")");
  }
  const int64_t num_sink = s.shape[s.ndim - 2];
  MAGI_CHECK(num_sink >= 1, fn, ": sink = ", s.describe(), ": num_sink = ", num_sink,
             ": must be >= 1 (pass no sink instead)");
  checks::dtype_in(fn, "sink", s, {DType::kFloat32}, "float32");
  checks::same_device(fn, "sink", s, "q", q);
  MAGI_CHECK(s.is_contiguous(), fn, ": sink = ", s.describe(), ": must be contiguous");
  MAGI_CHECK(backend.has_sink(), fn, ": sink: the ", backend.name(),
             " backend has no attention-sink support yet");
}

void check_dsink(std::string_view fn, const TensorView& dsink,
                 const std::optional<AttnSink>& sink) {
  if (!has_dsink(dsink)) return;
  MAGI_CHECK(sink.has_value(), fn, ": dsink = ", dsink.describe(), ": given without a sink");
  const TensorView& s = sink->logits;
  MAGI_CHECK(dsink.ndim == s.ndim && dsink.shape == s.shape, fn, ": dsink = ", dsink.describe(),
             ": expected the sink's shape (", s.describe(), ")");
  checks::dtype_in(fn, "dsink", dsink, {DType::kFloat32}, "float32");
  checks::same_device(fn, "dsink", dsink, "sink", s);
  MAGI_CHECK(dsink.is_contiguous(), fn, ": dsink = ", dsink.describe(), ": must be contiguous");
}

// The defaults of a backend without the sink operations (check_sink refuses such calls first).
void Backend::sink_merge(const TensorView&, const TensorView&, const AttnSink&, void*) const {
  MAGI_FAIL("sink_merge: the ", name(), " backend has no attention-sink support yet");
}
void Backend::sink_backward(const TensorView&, const TensorView&, const TensorView&,
                            const AttnSink&, const TensorView&, void*, void*) const {
  MAGI_FAIL("sink_backward: the ", name(), " backend has no attention-sink support yet");
}
void Backend::sum_rows(const TensorView&, const TensorView&, double, void*) const {
  MAGI_FAIL("sum_rows: the ", name(), " backend does not have it yet");
}
void Backend::max_rows(const TensorView&, const TensorView&, void*) const {
  MAGI_FAIL("max_rows (max_logits' reduction): the ", name(), " backend does not have it yet");
}

}  // namespace magi
