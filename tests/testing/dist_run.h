// Runs one distributed attention case on simulated ranks (threads): dispatch -> calc_attn
// forward and backward -> undispatch, returning the global results of rank 0. Outputs are
// poisoned with NaN first, so an element the pipeline never writes shows up.
#pragma once

#include <mutex>
#include <vector>

#include "magi/dist_attn.h"
#include "testing/host_tensor.h"

namespace magi::testing {

struct CaseSpec {
  std::vector<AttnSlice> slices;
  int64_t total = 0, hq = 2, hkv = 1, d = 8, cp = 2, chunk = 0;
  DType dtype = DType::kFloat64;
  DistAttnConfig config;
  FfaOptions opts;
};

struct Result {
  std::vector<double> out, lse, dq, dk, dv;
};

inline Result run(const CaseSpec& s, const std::vector<double>& q, const std::vector<double>& k,
                  const std::vector<double>& v, const std::vector<double>& dout) {
  Result res;
  std::mutex mu;
  run_local_ranks(s.cp, [&](Communicator& comm) {
    const auto rt =
        make_flex_key(s.slices, s.total, s.total, s.hq, s.hkv, s.d, comm, s.config, s.chunk);
    const int64_t n = rt->shard_seqlen(), S = s.total;
    HostTensor Q(s.dtype, {S, s.hq, s.d}), K(s.dtype, {S, s.hkv, s.d}), V(s.dtype, {S, s.hkv, s.d}),
        dO(s.dtype, {S, s.hq, s.d});
    Q.set(q);
    K.set(k);
    V.set(v);
    dO.set(dout);
    HostTensor lq(s.dtype, {n, s.hq, s.d}), lk(s.dtype, {n, s.hkv, s.d}),
        lv(s.dtype, {n, s.hkv, s.d}), ldo(s.dtype, {n, s.hq, s.d});
    dispatch(*rt, Q.view(), lq.view());
    dispatch(*rt, K.view(), lk.view());
    dispatch(*rt, V.view(), lv.view());
    dispatch(*rt, dO.view(), ldo.view());
    const DType lse_dtype = s.dtype == DType::kFloat64 ? DType::kFloat64 : DType::kFloat32;
    HostTensor o(s.dtype, {n, s.hq, s.d}), l(lse_dtype, {n, s.hq});
    o.fill(NAN);  // poison: every element must be written
    l.fill(NAN);
    calc_attn(*rt, comm, lq.view(), lk.view(), lv.view(), s.opts, o.view(), l.view());
    HostTensor gq(s.dtype, {n, s.hq, s.d}), gk(s.dtype, {n, s.hkv, s.d}),
        gv(s.dtype, {n, s.hkv, s.d});
    gq.fill(NAN);
    gk.fill(NAN);
    gv.fill(NAN);
    calc_attn_backward(*rt, comm, lq.view(), lk.view(), lv.view(), o.view(), l.view(), ldo.view(),
                       s.opts, gq.view(), gk.view(), gv.view());
    HostTensor go(s.dtype, {S, s.hq, s.d}), gl(lse_dtype, {S, s.hq}), gdq(s.dtype, {S, s.hq, s.d}),
        gdk(s.dtype, {S, s.hkv, s.d}), gdv(s.dtype, {S, s.hkv, s.d});
    undispatch(*rt, comm, o.view(), go.view());
    undispatch(*rt, comm, l.view(), gl.view());
    undispatch(*rt, comm, gq.view(), gdq.view());
    undispatch(*rt, comm, gk.view(), gdk.view());
    undispatch(*rt, comm, gv.view(), gdv.view());
    if (comm.rank() == 0) {
      std::lock_guard lock(mu);
      res = {go.get(), gl.get(), gdq.get(), gdk.get(), gdv.get()};
    }
  });
  return res;
}

}  // namespace magi::testing
