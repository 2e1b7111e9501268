#include "kernels/cpu/sink_cpu.h"

#include <cmath>
#include <vector>

#include "kernels/cpu/convert.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/sink_merge.h"

namespace magi::cpu {
namespace {

constexpr double kMinElemsPerThread = 1 << 18;  // below this a thread costs more than it saves

/// The sinks of (row r, head h): pointer to the first logit and the stride between sinks.
struct SinkRow {
  const float* first;
  int64_t count, stride;
};

SinkRow sinks_of(const AttnSink& sink, int64_t r, int64_t h) {
  const TensorView& s = sink.logits;  // contiguous (check_sink)
  const float* base = s.ptr<const float>();
  if (sink.layout == SinkLayout::kSH) return {base + h, s.shape[0], s.shape[1]};
  return {base + (r * s.shape[1]) * s.shape[2] + h, s.shape[1], s.shape[2]};
}

/// ls[h] of the "sh" layout, the same for every row.
std::vector<double> shared_sink_lse(const AttnSink& sink, int64_t heads) {
  std::vector<double> ls(static_cast<size_t>(heads));
  for (int64_t h = 0; h < heads; ++h) {
    const SinkRow s = sinks_of(sink, 0, h);
    ls[h] = sink_lse(s.first, s.count, s.stride);
  }
  return ls;
}

}  // namespace

void sink_merge(const TensorView& out, const TensorView& lse, const AttnSink& sink) {
  const int64_t rows = out.shape[0], heads = out.shape[1], d = out.shape[2];
  const bool shared = sink.layout == SinkLayout::kSH;
  const std::vector<double> ls_shared =
      shared ? shared_sink_lse(sink, heads) : std::vector<double>{};
  const int threads = threads_for(double(rows * heads * d), kMinElemsPerThread);
  parallel_for(rows, threads, [&](int64_t r) {
    std::vector<double> o(static_cast<size_t>(d));
    for (int64_t h = 0; h < heads; ++h) {
      double ls;
      if (shared) {
        ls = ls_shared[h];
      } else {
        const SinkRow s = sinks_of(sink, r, h);
        ls = sink_lse(s.first, s.count, s.stride);
      }
      const SinkMerge m = sink_merge(load_scalar(lse, r, h), ls);
      store_scalar(m.lse, lse, r, h);
      if (m.w == 1.0) continue;
      void* row = element_ptr(out, r, h);
      load_row(row, out.dtype, d, o.data());
      // NOTE: w = 0 (no key) writes 0 even over a non-finite out, which has no key to come from.
      for (double& x : o) x = m.w == 0.0 ? 0.0 : m.w * x;
      store_row(o.data(), d, out.dtype, row);
    }
  });
}

void sink_backward(const TensorView& out, const TensorView& lse, const TensorView& dout,
                   const AttnSink& sink, const TensorView& dsink) {
  const int64_t rows = out.shape[0], heads = out.shape[1], d = out.shape[2];
  const int64_t num_sink = sink.logits.shape[sink.logits.ndim - 2];
  float* ds = dsink.ptr<float>();  // contiguous, the logits' shape (check_dsink)
  // Per row and head, each sink's term -exp(logit - lse) * D, D = rowsum(dout * out): computed
  // in parallel over rows, then (sh) summed over rows in row order, so the result does not
  // depend on the threads.
  std::vector<double> terms(static_cast<size_t>(rows * num_sink * heads));
  const int threads = threads_for(double(rows * heads * d), kMinElemsPerThread);
  parallel_for(rows, threads, [&](int64_t r) {
    std::vector<double> o(static_cast<size_t>(d)), g(static_cast<size_t>(d));
    for (int64_t h = 0; h < heads; ++h) {
      load_row(element_ptr(out, r, h), out.dtype, d, o.data());
      load_row(element_ptr(dout, r, h), dout.dtype, d, g.data());
      double dsum = 0;
      for (int64_t e = 0; e < d; ++e) dsum += o[e] * g[e];
      const double l = load_scalar(lse, r, h);
      const SinkRow s = sinks_of(sink, r, h);
      for (int64_t i = 0; i < num_sink; ++i) {
        // A -inf logit (no sink) has probability 0, also where lse is -inf (exp(nan) there).
        const double logit = s.first[i * s.stride];
        const double p = std::isinf(logit) && logit < 0 ? 0.0 : std::exp(logit - l);
        terms[(r * num_sink + i) * heads + h] = -p * dsum;
      }
    }
  });
  if (sink.layout == SinkLayout::kSSH) {
    for (size_t i = 0; i < terms.size(); ++i) ds[i] += static_cast<float>(terms[i]);
    return;
  }
  std::vector<double> acc(static_cast<size_t>(num_sink * heads), 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    for (size_t i = 0; i < acc.size(); ++i) acc[i] += terms[r * acc.size() + i];
  }
  for (size_t i = 0; i < acc.size(); ++i) ds[i] += static_cast<float>(acc[i]);
}

void sum_rows(const TensorView& src, const TensorView& dst, double scale) {
  const int64_t n = src.shape[0], m = dst.numel();
  const float* s = src.ptr<const float>();
  float* t = dst.ptr<float>();
  for (int64_t i = 0; i < m; ++i) {
    double acc = 0;
    for (int64_t r = 0; r < n; ++r) acc += s[r * m + i];
    t[i] = static_cast<float>(scale * acc);
  }
}

}  // namespace magi::cpu
