// Runs one distributed attention case on simulated ranks (threads): dispatch -> calc_attn
// forward and backward (`calls` times) -> undispatch, returning the global results of rank 0
// (RankHooks: another communicator per rank, and calls between the steps).
// Outputs are poisoned with NaN first, so an element the pipeline never writes shows up. The
// tensors claim `device` (host memory: a CUDA claim needs a test backend, recording_backend.h).
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <span>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "magi/dist_attn.h"
#include "testing/dense_attention.h"
#include "testing/forwarding_comm.h"
#include "testing/host_tensor.h"
#include "testing/random_mask.h"
#include "testing/rel_err.h"

namespace magi::testing {

struct CaseSpec {
  std::vector<AttnSlice> slices;
  int64_t total = 0, hq = 2, hkv = 1, d = 8, cp = 2, chunk = 0;
  int64_t total_kv = 0;  // cross-attention's K/V length; 0: self-attention (total)
  int64_t dv = 0;        // v's (out's) head dim; 0: d
  int64_t vd() const { return dv != 0 ? dv : d; }
  DType dtype = DType::kFloat64;
  DistAttnConfig config;
  FfaOptions opts;
  Device device{};
  int calls = 1;
};

/// Forwards to a LocalGroup member with every buffer's device set to the CPU: the recording
/// backend's "CUDA" tensors live in host memory.
class HostMemoryComm final : public ForwardingComm {
 public:
  explicit HostMemoryComm(Communicator& c) : ForwardingComm(c) {}
  std::unique_ptr<CommHandle> all_to_all_v(const TensorView& send,
                                           std::span<const int64_t> send_counts,
                                           const TensorView& recv,
                                           std::span<const int64_t> recv_counts, int64_t row_bytes,
                                           void* stream) override {
    TensorView s = send, r = recv;
    s.device = r.device = Device{};
    return ForwardingComm::all_to_all_v(s, send_counts, r, recv_counts, row_bytes, stream);
  }
};

/// Random overlap settings for a pipeline case: min_chunk_size 1-4, at most 8 chunks, degree
/// 0, 1, 2, 4 or dynamic. Returns the degree (-1: dynamic).
inline int64_t random_stages(std::mt19937_64& rng, OverlapConfig& o) {
  o.min_chunk_size = 1 + static_cast<int64_t>(rng() % 4);
  o.max_num_chunks = 8;
  const int64_t degrees[] = {0, 1, 2, 4, -1};
  const int64_t deg = degrees[rng() % 5];
  if (deg < 0) {
    o.mode = AttnOverlapMode::kDynamic;
    o.degree.reset();
  } else {
    o.degree = deg;
  }
  return deg;
}

struct Result {
  std::vector<double> out, lse, dq, dk, dv;
};

/// What a test adds to each rank of run(), called from the rank's thread: the communicator the
/// rank runs on, wrapping its LocalGroup member (default HostMemoryComm), and calls after the key
/// is made, after the last forward and after the last backward (before the undispatches).
struct RankHooks {
  std::function<std::unique_ptr<Communicator>(Communicator& local)> comm;
  std::function<void(Communicator&, const DistAttnRuntime&)> after_key, after_forward,
      after_backward;
};

inline Result run(const CaseSpec& s, const std::vector<double>& q, const std::vector<double>& k,
                  const std::vector<double>& v, const std::vector<double>& dout,
                  const RankHooks& hooks = {}) {
  Result res;
  std::mutex mu;
  run_local_ranks(s.cp, [&](Communicator& local) {
    const std::unique_ptr<Communicator> owned =
        hooks.comm ? hooks.comm(local) : std::make_unique<HostMemoryComm>(local);
    Communicator& comm = *owned;
    const bool cross = s.total_kv != 0;
    const int64_t S = s.total, Sk = cross ? s.total_kv : s.total;
    const auto rt =
        make_flex_key(s.slices, S, Sk, s.hq, s.hkv, s.d, comm, s.config, s.chunk, !cross);
    if (hooks.after_key) hooks.after_key(comm, *rt);
    // NOTE: K/V-side tensors always go through dispatch_kv / undispatch_kv, which self-attention
    // must serve like dispatch / undispatch.
    const int64_t n = rt->shard_seqlen(), nk = rt->shard_seqlen_kv();
    auto on = [&](const HostTensor& t) {
      TensorView v = t.view();
      v.device = s.device;
      return v;
    };
    const int64_t dv = s.vd();
    HostTensor Q(s.dtype, {S, s.hq, s.d}), K(s.dtype, {Sk, s.hkv, s.d}),
        V(s.dtype, {Sk, s.hkv, dv}), dO(s.dtype, {S, s.hq, dv});
    Q.set(q);
    K.set(k);
    V.set(v);
    dO.set(dout);
    HostTensor lq(s.dtype, {n, s.hq, s.d}), lk(s.dtype, {nk, s.hkv, s.d}),
        lv(s.dtype, {nk, s.hkv, dv}), ldo(s.dtype, {n, s.hq, dv});
    dispatch(*rt, on(Q), on(lq));
    dispatch_kv(*rt, on(K), on(lk));
    dispatch_kv(*rt, on(V), on(lv));
    dispatch(*rt, on(dO), on(ldo));
    const DType lse_dtype = s.dtype == DType::kFloat64 ? DType::kFloat64 : DType::kFloat32;
    HostTensor o(s.dtype, {n, s.hq, dv}), l(lse_dtype, {n, s.hq});
    HostTensor gq(s.dtype, {n, s.hq, s.d}), gk(s.dtype, {nk, s.hkv, s.d}),
        gv(s.dtype, {nk, s.hkv, dv});
    for (int call = 0; call < s.calls; ++call) {
      o.fill(NAN);  // poison: every element must be written
      l.fill(NAN);
      calc_attn(*rt, comm, on(lq), on(lk), on(lv), s.opts, on(o), on(l));
      if (hooks.after_forward && call + 1 == s.calls) hooks.after_forward(comm, *rt);
      gq.fill(NAN);
      gk.fill(NAN);
      gv.fill(NAN);
      calc_attn_backward(*rt, comm, on(lq), on(lk), on(lv), on(o), on(l), on(ldo), s.opts, on(gq),
                         on(gk), on(gv));
    }
    if (hooks.after_backward) hooks.after_backward(comm, *rt);
    HostTensor go(s.dtype, {S, s.hq, dv}), gl(lse_dtype, {S, s.hq}), gdq(s.dtype, {S, s.hq, s.d}),
        gdk(s.dtype, {Sk, s.hkv, s.d}), gdv(s.dtype, {Sk, s.hkv, dv});
    undispatch(*rt, comm, on(o), on(go));
    undispatch(*rt, comm, on(l), on(gl));
    undispatch(*rt, comm, on(gq), on(gdq));
    undispatch_kv(*rt, comm, on(gk), on(gdk));
    undispatch_kv(*rt, comm, on(gv), on(gdv));
    if (comm.rank() == 0) {
      std::lock_guard lock(mu);
      res = {go.get(), gl.get(), gdq.get(), gdk.get(), gdv.get()};
    }
  });
  return res;
}

/// run() on fresh random inputs (rounded to s.dtype) against the dense fp64 reference: out,
/// lse, dq, dk and dv within relative error `tol` (cross-attention when s.total_kv is set).
inline void check_against_dense(const CaseSpec& s, std::mt19937_64& rng, double tol) {
  const int64_t Sq = s.total, Sk = s.total_kv ? s.total_kv : s.total;
  const auto q = rounded(s.dtype, random_values(rng, Sq * s.hq * s.d));
  const auto k = rounded(s.dtype, random_values(rng, Sk * s.hkv * s.d));
  const auto v = rounded(s.dtype, random_values(rng, Sk * s.hkv * s.vd()));
  const auto dout = rounded(s.dtype, random_values(rng, Sq * s.hq * s.vd()));
  const DenseAttnSpec spec{Sq, Sk, s.hq, s.hkv, s.d, s.opts.softmax_scale, s.opts.softcap, s.dv};
  const auto mask = dense_mask(s.slices, Sq, Sk);
  const auto ref = dense_forward(spec, q, k, v, mask);
  const auto grads = dense_backward(spec, q, k, v, dout, mask);
  const Result got = run(s, q, k, v, dout);
  EXPECT_LE(rel_err(got.out, ref.out), tol) << "out";
  EXPECT_LE(rel_err(got.lse, ref.lse), tol) << "lse";
  const GradSlack slack = cancel_slack(spec, grads, s.dtype == DType::kFloat64);
  EXPECT_LE(rel_err(got.dq, grads.dq, &slack.dq), tol) << "dq";
  EXPECT_LE(rel_err(got.dk, grads.dk, &slack.dk), tol) << "dk";
  EXPECT_LE(rel_err(got.dv, grads.dv, &slack.dv), tol) << "dv";
}

}  // namespace magi::testing
