#include "runtime/executor.h"

#include <memory>
#include <vector>

#include "kernels/range_ops.h"
#include "kernels/tensor_ops.h"
#include "magi/check.h"
#include "runtime/workspace.h"

namespace magi::runtime {
namespace {

// K and V of one stage on their way in (group-cast: gather + all_to_all_v; the receive buffer
// is already in the stage's layout).
struct Fetch {
  TensorView k, v;
  std::unique_ptr<CommHandle> hk, hv;
  void wait() {
    if (hk) hk->wait();
    if (hv) hv->wait();
    hk.reset();
    hv.reset();
  }
};

Fetch start_fetch(const StagePlan& st, Communicator& comm, Workspace& ws, const TensorView& k,
                  const TensorView& v, void* stream) {
  Fetch f;
  const int64_t h = k.shape[1], d = k.shape[2];
  f.k = ws.empty(k.dtype, {st.num_recv(), h, d});
  f.v = ws.empty(v.dtype, {st.num_recv(), h, d});
  if (comm.size() == 1) return f;  // nothing remote (the plan has no rows to fetch)
  const TensorView send_k = ws.empty(k.dtype, {st.num_send(), h, d});
  const TensorView send_v = ws.empty(v.dtype, {st.num_send(), h, d});
  range_gather(k, st.send_rows.items(), send_k, stream);
  range_gather(v, st.send_rows.items(), send_v, stream);
  f.hk = comm.all_to_all_v(send_k, st.send_counts, f.k, st.recv_counts, row_bytes(k));
  f.hv = comm.all_to_all_v(send_v, st.send_counts, f.v, st.recv_counts, row_bytes(v));
  return f;
}

// [local; remote] rows in one buffer (degree 0).
TensorView concat_rows(Workspace& ws, const TensorView& local, const TensorView& remote,
                       void* stream) {
  const int64_t s = local.shape[0], r = remote.shape[0];
  TensorView all = ws.empty(local.dtype, {s + r, local.shape[1], local.shape[2]});
  const AttnRange a[] = {{0, s}}, b[] = {{0, r}};
  range_gather(local, a, row_slice(all, 0, s), stream);
  range_gather(remote, b, row_slice(all, s, s + r), stream);
  return all;
}

// The partial dK/dV of one stage on their way home (group-reduce: all_to_all_v with the
// stage's tables reversed, then scatter-add at send_rows).
struct Reduce {
  TensorView dk, dv;
  std::unique_ptr<CommHandle> hk, hv;
};

Reduce start_reduce(const StagePlan& st, Communicator& comm, Workspace& ws,
                    const TensorView& dk_part, const TensorView& dv_part) {
  Reduce r;
  const int64_t h = dk_part.shape[1], d = dk_part.shape[2];
  r.dk = ws.empty(dk_part.dtype, {st.num_send(), h, d});
  r.dv = ws.empty(dv_part.dtype, {st.num_send(), h, d});
  r.hk = comm.all_to_all_v(dk_part, st.recv_counts, r.dk, st.send_counts, row_bytes(dk_part));
  r.hv = comm.all_to_all_v(dv_part, st.recv_counts, r.dv, st.send_counts, row_bytes(dv_part));
  return r;
}

// fp64 inputs accumulate (and travel) in fp64, everything else in fp32.
DType acc_dtype(const TensorView& q) {
  return q.dtype == DType::kFloat64 ? DType::kFloat64 : DType::kFloat32;
}

void check_local(const Plan& plan, const TensorView& t, const char* name) {
  MAGI_CHECK(t.ndim == 3 && t.shape[0] == plan.dispatch.shard_seqlen(), "calc_attn: ", name, " = ",
             t.describe(), ": expected [", plan.dispatch.shard_seqlen(),
             " (the local length), heads, head_dim]");
}

}  // namespace

void forward(const Plan& plan, const RankPlan& rp, Communicator& comm, const TensorView& q,
             const TensorView& k, const TensorView& v, const FfaOptions& opts,
             const TensorView& out, const TensorView& lse) {
  check_local(plan, q, "q");
  check_local(plan, k, "k");
  check_local(plan, v, "v");
  void* stream = opts.cuda_stream;
  Workspace ws(q.device, stream);
  // Every exchange is posted before the first kernel, so communication overlaps the host stage.
  std::vector<Fetch> fetches;
  for (const StagePlan& st : rp.stages) fetches.push_back(start_fetch(st, comm, ws, k, v, stream));

  const DType at = acc_dtype(q);
  const bool direct_out = out.dtype == at, direct_lse = lse.dtype == at;
  const TensorView acc = direct_out ? out : ws.empty(at, {q.shape[0], q.shape[1], q.shape[2]});
  const TensorView lse_acc = direct_lse ? lse : ws.empty(at, {q.shape[0], q.shape[1]});
  if (plan.degree == 0) {
    fetches[0].wait();
    const TensorView k_all = concat_rows(ws, k, fetches[0].k, stream);
    const TensorView v_all = concat_rows(ws, v, fetches[0].v, stream);
    ffa_forward(q, k_all, v_all, rp.merged_slices, opts, acc, lse_acc, false);
  } else {
    ffa_forward(q, k, v, rp.host_slices, opts, acc, lse_acc, false);
    for (size_t s = 0; s < rp.stages.size(); ++s) {
      fetches[s].wait();
      if (rp.stages[s].slices.empty()) continue;
      ffa_forward(q, fetches[s].k, fetches[s].v, rp.stages[s].slices, opts, acc, lse_acc, true);
    }
  }
  if (!direct_out) copy_cast(acc, out, stream);
  if (!direct_lse) copy_cast(lse_acc, lse, stream);
}

void backward(const Plan& plan, const RankPlan& rp, Communicator& comm, const TensorView& q,
              const TensorView& k, const TensorView& v, const TensorView& out,
              const TensorView& lse, const TensorView& dout, const FfaOptions& opts,
              const TensorView& dq, const TensorView& dk, const TensorView& dv) {
  check_local(plan, q, "q");
  check_local(plan, k, "k");
  check_local(plan, v, "v");
  void* stream = opts.cuda_stream;
  Workspace ws(q.device, stream);
  const int64_t s_len = k.shape[0], hkv = k.shape[1], d = k.shape[2];
  std::vector<Fetch> fetches;
  for (const StagePlan& st : rp.stages) fetches.push_back(start_fetch(st, comm, ws, k, v, stream));

  const DType at = acc_dtype(q);
  const TensorView dq_acc = ws.zeros(at, {q.shape[0], q.shape[1], q.shape[2]});
  const TensorView dk_acc = ws.zeros(at, {s_len, hkv, d});
  const TensorView dv_acc = ws.zeros(at, {s_len, hkv, d});
  std::vector<Reduce> reduces;
  if (plan.degree == 0) {
    fetches[0].wait();
    const StagePlan& st = rp.stages[0];
    const int64_t r_len = st.num_recv();
    const TensorView k_all = concat_rows(ws, k, fetches[0].k, stream);
    const TensorView v_all = concat_rows(ws, v, fetches[0].v, stream);
    const TensorView dk_all = ws.zeros(at, {s_len + r_len, hkv, d});
    const TensorView dv_all = ws.zeros(at, {s_len + r_len, hkv, d});
    ffa_backward(q, k_all, v_all, out, lse, dout, rp.merged_slices, opts, dq_acc, dk_all, dv_all);
    copy_cast(row_slice(dk_all, 0, s_len), dk_acc, stream);
    copy_cast(row_slice(dv_all, 0, s_len), dv_acc, stream);
    if (comm.size() > 1) {
      reduces.push_back(start_reduce(st, comm, ws, row_slice(dk_all, s_len, s_len + r_len),
                                     row_slice(dv_all, s_len, s_len + r_len)));
    }
  } else {
    ffa_backward(q, k, v, out, lse, dout, rp.host_slices, opts, dq_acc, dk_acc, dv_acc);
    for (size_t s = 0; s < rp.stages.size(); ++s) {
      const StagePlan& st = rp.stages[s];
      fetches[s].wait();
      const TensorView dk_part = ws.zeros(at, {st.num_recv(), hkv, d});
      const TensorView dv_part = ws.zeros(at, {st.num_recv(), hkv, d});
      if (!st.slices.empty()) {
        ffa_backward(q, fetches[s].k, fetches[s].v, out, lse, dout, st.slices, opts, dq_acc,
                     dk_part, dv_part);
      }
      if (comm.size() > 1) reduces.push_back(start_reduce(st, comm, ws, dk_part, dv_part));
    }
  }
  for (size_t s = 0; s < reduces.size(); ++s) {
    reduces[s].hk->wait();
    reduces[s].hv->wait();
    const AttnRanges& rows = rp.stages[s].send_rows;
    range_scatter_add(reduces[s].dk, rows.items(), dk_acc, stream);
    range_scatter_add(reduces[s].dv, rows.items(), dv_acc, stream);
  }
  copy_cast(dq_acc, dq, stream);
  copy_cast(dk_acc, dk, stream);
  copy_cast(dv_acc, dv, stream);
}

}  // namespace magi::runtime
