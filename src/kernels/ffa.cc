// The FFA entries (include/magi/ffa.h): validate every argument once, resolve the options once
// (one rule on every device), then run the backend of the tensors' device.
#include "magi/ffa.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <tuple>

#include "common/env.h"
#include "kernels/backend.h"
#include "kernels/ffa_entry.h"
#include "kernels/ffa_work_cache.h"
#include "kernels/scoped_block.h"
#include "kernels/sink.h"
#include "kernels/tensor_checks.h"
#include "magi/check.h"

namespace magi {
namespace {

using checks::kFloating;
using checks::kWide;

struct Sizes {
  int64_t sq, sk, hq, hkv, d;
  int64_t dv;  // v's head dim (out's and dout's); may differ from q / k's d (MLA: 192 / 128)

  std::array<int64_t, 3> out() const { return {sq, hq, dv}; }
};

constexpr std::string_view kOutLayout = "[Sq, Hq, Dv] (q's rows and heads, v's head dim)";

/// Checks q, k, v against each other and the work's totals; returns the problem sizes.
Sizes check_inputs(std::string_view fn, const TensorView& q, const TensorView& k,
                   const TensorView& v, const FfaWork& work) {
  checks::ndim(fn, "q", q, 3, "[Sq, Hq, D]");
  checks::ndim(fn, "k", k, 3, "[Sk, Hkv, D]");
  checks::ndim(fn, "v", v, 3, "[Sk, Hkv, Dv]");
  const Sizes s{q.shape[0], k.shape[0], q.shape[1], k.shape[1], q.shape[2], v.shape[2]};
  MAGI_CHECK(s.hq >= 1 && s.hkv >= 1 && s.d >= 1, fn, ": q = ", q.describe(),
             ", k = ", k.describe(), ": head counts and head dim must be >= 1");
  MAGI_CHECK(k.shape[2] == s.d, fn, ": head dim of k (", k.shape[2], ") differs from q's (", s.d,
             ")");
  MAGI_CHECK(s.dv >= 1, fn, ": v = ", v.describe(), ": its head dim must be >= 1");
  checks::shape(fn, "v", v, {s.sk, s.hkv, s.dv}, "[Sk, Hkv, Dv] with k's Sk and Hkv");
  MAGI_CHECK(s.hq % s.hkv == 0, fn, ": q has ", s.hq, " heads and k has ", s.hkv,
             ": Hq must be a multiple of Hkv");
  checks::dtype_in(fn, "q", q, kFloating, "a floating dtype");
  MAGI_CHECK(k.dtype == q.dtype && v.dtype == q.dtype, fn,
             ": q, k and v must share one dtype, got ", to_string(q.dtype), ", ",
             to_string(k.dtype), ", ", to_string(v.dtype));
  checks::same_device(fn, "k", k, "q", q);
  checks::same_device(fn, "v", v, "q", q);
  checks::inner_contiguous(fn, "q", q);
  checks::inner_contiguous(fn, "k", k);
  checks::inner_contiguous(fn, "v", v);
  MAGI_CHECK(s.sq == work.total_q(), fn, ": q = ", q.describe(), ": the mask was prepared for ",
             work.total_q(), " query rows");
  MAGI_CHECK(s.sk == work.total_k(), fn, ": k = ", k.describe(), ": the mask was prepared for ",
             work.total_k(), " key rows");
  return s;
}

/// A per-row tensor like lse: [Sq, Hq], fp32 or fp64, on q's device.
void check_lse(std::string_view fn, const TensorView& lse, const TensorView& q, const Sizes& s) {
  checks::ndim(fn, "lse", lse, 2, "[Sq, Hq]");
  checks::shape(fn, "lse", lse, {s.sq, s.hq}, "[Sq, Hq]");
  checks::dtype_in(fn, "lse", lse, kWide, "float32 or float64");
  checks::same_device(fn, "lse", lse, "q", q);
  checks::inner_contiguous(fn, "lse", lse);
}

std::array<int64_t, 3> shape_of(const TensorView& t) {
  return {t.shape[0], t.shape[1], t.shape[2]};
}

/// A tensor of shape `want` (described by `layout`) with a dtype from `allowed`, on q's device.
void check_like(std::string_view fn, std::string_view name, const TensorView& t,
                std::array<int64_t, 3> want, std::string_view layout, const TensorView& q,
                std::initializer_list<DType> allowed, std::string_view what) {
  checks::ndim(fn, name, t, 3, layout);
  checks::shape(fn, name, t, {want[0], want[1], want[2]}, layout);
  checks::dtype_in(fn, name, t, allowed, what);
  checks::same_device(fn, name, t, "q", q);
  checks::inner_contiguous(fn, name, t);
}

/// FfaOptions::max_logits, when given: float32 [Hq], contiguous, on q's device.
void check_max_logits(std::string_view fn, const TensorView& m, const TensorView& q,
                      const Sizes& s) {
  if (m.ndim == 0) return;
  checks::ndim(fn, "max_logits", m, 1, "[Hq]");
  checks::shape(fn, "max_logits", m, {s.hq}, "[Hq]");
  checks::dtype_in(fn, "max_logits", m, {DType::kFloat32}, "float32");
  checks::same_device(fn, "max_logits", m, "q", q);
  checks::inner_contiguous(fn, "max_logits", m);
}

}  // namespace

ScoreParams resolve_scores(std::string_view fn, const FfaOptions& opts, int64_t head_dim) {
  MAGI_CHECK(std::isfinite(opts.softmax_scale) && opts.softmax_scale >= 0, fn,
             ": softmax_scale = ", opts.softmax_scale,
             ": must be finite and >= 0 (0 means head_dim ** -0.5)");
  MAGI_CHECK(std::isfinite(opts.softcap) && opts.softcap >= 0, fn, ": softcap = ", opts.softcap,
             ": must be finite and >= 0 (0 means none)");
  ScoreParams p;
  p.scale = opts.softmax_scale != 0 ? opts.softmax_scale : 1.0 / std::sqrt(double(head_dim));
  p.softcap = opts.softcap;
  return p;
}

FfaFwdArgs check_ffa_forward(std::string_view fn, const TensorView& q, const TensorView& k,
                             const TensorView& v, const FfaWork& work, const FfaOptions& opts,
                             const TensorView& out, const TensorView& lse, bool accumulate) {
  const Sizes s = check_inputs(fn, q, k, v, work);
  if (accumulate) {
    check_like(fn, "out", out, s.out(), kOutLayout, q, kWide,
               "float32 or float64 in accumulate mode");
  } else {
    check_like(fn, "out", out, s.out(), kOutLayout, q, kFloating, "a floating dtype");
  }
  check_lse(fn, lse, q, s);
  checks::rows_disjoint(fn, "out", out);
  checks::rows_disjoint(fn, "lse", lse);
  check_max_logits(fn, opts.max_logits, q, s);
  return {q,
          k,
          v,
          out,
          lse,
          &work,
          resolve_scores(fn, opts, s.d),
          accumulate,
          opts.cuda_stream,
          opts.max_logits};
}

FfaBwdArgs check_ffa_backward_inputs(std::string_view fn, const TensorView& q, const TensorView& k,
                                     const TensorView& v, const TensorView& out,
                                     const TensorView& lse, const TensorView& dout,
                                     const FfaWork& work, const FfaOptions& opts) {
  const Sizes s = check_inputs(fn, q, k, v, work);
  check_like(fn, "out", out, s.out(), kOutLayout, q, kFloating, "a floating dtype");
  check_like(fn, "dout", dout, s.out(), kOutLayout, q, kFloating, "a floating dtype");
  check_lse(fn, lse, q, s);
  FfaBwdArgs a;
  a.q = q;
  a.k = k;
  a.v = v;
  a.out = out;
  a.lse = lse;
  a.dout = dout;
  a.work = &work;
  a.scores = resolve_scores(fn, opts, s.d);
  a.stream = opts.cuda_stream;
  a.deterministic = opts.deterministic || env::flag("MAGI_ATTENTION_DETERMINISTIC_MODE");
  return a;
}

void check_ffa_grads(std::string_view fn, FfaBwdArgs& a, const TensorView& dq, const TensorView& dk,
                     const TensorView& dv) {
  const TensorView& q = a.q;
  const std::array<int64_t, 3> q_shape = shape_of(q), k_shape = shape_of(a.k),
                               v_shape = shape_of(a.v);
  // dq, and dk / dv (both or neither): accumulators, or (CUDA, 16-bit inputs) tensors of q's
  // dtype that are overwritten.
  const auto overwritten = [&](const TensorView& t) {
    return t.dtype == q.dtype && dtype_size(q.dtype) == 2;
  };
  const bool dq_over = overwritten(dq), dkv_over = overwritten(dk);
  const auto grad = [&](const char* name, const TensorView& t, const std::array<int64_t, 3>& want,
                        std::string_view layout, bool over, std::string_view what) {
    if (over) {
      check_like(fn, name, t, want, layout, q, {q.dtype}, what);
    } else {
      check_like(fn, name, t, want, layout, q, kWide, "float32 or float64 (an accumulator)");
    }
  };
  const char* either = "q's dtype (overwritten) or an accumulator";
  grad("dq", dq, q_shape, "[Sq, Hq, D] of q", dq_over, either);
  grad("dk", dk, k_shape, "[Sk, Hkv, D] of k", dkv_over, either);
  grad("dv", dv, v_shape, "[Sk, Hkv, Dv] of v", dkv_over, "q's dtype like dk");
  for (const auto& [name, t, over] :
       {std::tuple{"dq", &dq, dq_over}, std::tuple{"dk", &dk, dkv_over}}) {
    MAGI_CHECK(!over || q.device.type == DeviceType::kCUDA, fn, ": ", name, " = ", t->describe(),
               ": gradients in ", to_string(q.dtype),
               " (overwritten) are supported on CUDA only; pass float32 accumulators");
  }
  checks::rows_disjoint(fn, "dq", dq);
  checks::rows_disjoint(fn, "dk", dk);
  checks::rows_disjoint(fn, "dv", dv);
  a.dq = dq;
  a.dk = dk;
  a.dv = dv;
}

void ffa_forward(const TensorView& q, const TensorView& k, const TensorView& v, const FfaWork& work,
                 const FfaOptions& opts, const TensorView& out, const TensorView& lse,
                 bool accumulate) {
  constexpr std::string_view fn = "ffa_forward";
  FfaFwdArgs a = check_ffa_forward(fn, q, k, v, work, opts, out, lse, accumulate);
  const Backend& be = backend_for(q.device, fn);
  be.check_ffa_forward(fn, a);
  if (opts.sink) check_sink(fn, *opts.sink, q, be);
  const ScopedBlock ws(opts.allocator ? *opts.allocator : be.allocator(),
                       be.ffa_forward_workspace_bytes(a), q.device, opts.cuda_stream);
  a.workspace = ws.data();
  be.ffa_forward(a);
  // The sink after the kernel: once, into this call's (or the accumulated) result.
  if (opts.sink) be.sink_merge(out, lse, *opts.sink, opts.cuda_stream);
}

void ffa_backward(const TensorView& q, const TensorView& k, const TensorView& v,
                  const TensorView& out, const TensorView& lse, const TensorView& dout,
                  const FfaWork& work, const FfaOptions& opts, const TensorView& dq,
                  const TensorView& dk, const TensorView& dv, const TensorView& dsink) {
  constexpr std::string_view fn = "ffa_backward";
  FfaBwdArgs a = check_ffa_backward_inputs(fn, q, k, v, out, lse, dout, work, opts);
  check_ffa_grads(fn, a, dq, dk, dv);
  check_dsink(fn, dsink, opts.sink);
  const Backend& be = backend_for(q.device, fn);
  be.check_ffa_backward(fn, a);
  if (opts.sink) check_sink(fn, *opts.sink, q, be);
  // NOTE: out and lse already include the sink, so the kernels' backward is exact as it is.
  // One block serves both (stream order): the sink's backward, then the kernels'.
  const size_t sink_ws = has_dsink(dsink) ? be.sink_backward_workspace_bytes(out, *opts.sink) : 0;
  const ScopedBlock ws(opts.allocator ? *opts.allocator : be.allocator(),
                       std::max(sink_ws, be.ffa_backward_workspace_bytes(a)), q.device,
                       opts.cuda_stream);
  if (has_dsink(dsink)) {
    be.sink_backward(out, lse, dout, *opts.sink, dsink, ws.data(), opts.cuda_stream);
  }
  a.workspace = ws.data();
  be.ffa_backward(a);
}

void ffa_forward(const TensorView& q, const TensorView& k, const TensorView& v,
                 std::span<const AttnSlice> slices, const FfaOptions& opts, const TensorView& out,
                 const TensorView& lse, bool accumulate) {
  // q and k first: the mask is checked against their lengths, and a bad q must be named as q.
  checks::ndim("ffa_forward", "q", q, 3, "[Sq, Hq, D]");
  checks::ndim("ffa_forward", "k", k, 3, "[Sk, Hkv, D]");
  const auto work = cached_ffa_work(slices, checks::rows(q), checks::rows(k));
  ffa_forward(q, k, v, *work, opts, out, lse, accumulate);
}

void ffa_backward(const TensorView& q, const TensorView& k, const TensorView& v,
                  const TensorView& out, const TensorView& lse, const TensorView& dout,
                  std::span<const AttnSlice> slices, const FfaOptions& opts, const TensorView& dq,
                  const TensorView& dk, const TensorView& dv, const TensorView& dsink) {
  checks::ndim("ffa_backward", "q", q, 3, "[Sq, Hq, D]");
  checks::ndim("ffa_backward", "k", k, 3, "[Sk, Hkv, D]");
  const auto work = cached_ffa_work(slices, checks::rows(q), checks::rows(k));
  ffa_backward(q, k, v, out, lse, dout, *work, opts, dq, dk, dv, dsink);
}

}  // namespace magi
