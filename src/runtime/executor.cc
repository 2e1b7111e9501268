#include "runtime/executor.h"

#include <algorithm>
#include <limits>
#include <memory>
#include <vector>

#include "kernels/scoped_block.h"
#include "kernels/tensor_ops.h"
#include "magi/check.h"
#include "runtime/arena.h"
#include "runtime/kv_exchange.h"
#include "runtime/rank_work.h"
#include "runtime/row_pair.h"

namespace magi::runtime {
namespace {

// fp64 inputs accumulate (and travel) in fp64, everything else in fp32.
DType acc_dtype(const TensorView& q) {
  return q.dtype == DType::kFloat64 ? DType::kFloat64 : DType::kFloat32;
}

// The K|V rows one stage computes with: [local rows (StageWork::local_rows); received rows],
// the received ones filled by the call's exchange in the stage's layout.
struct StageKv {
  RowPair kv;              // local_rows + num_recv rows: first = K, second = V
  int64_t local_rows = 0;  // StageWork::local_rows
  RowPair received() const { return kv.slice(local_rows, kv.rows()); }
};

struct Stages {
  std::vector<StageKv> kv;
  std::unique_ptr<KvExchange> exchange;
};

// The stage buffers and the exchange that fills them (backward: and sums dK|dV back in `acc`).
Stages layout_stages(const CallContext& c, const TensorView& k, const TensorView& v, bool backward,
                     DType acc, Arena& a) {
  const RankPlan& rp = c.rt.rank_plan();
  const RankWork& w = c.rt.work();
  Stages out;
  std::vector<TensorView> received;
  for (size_t s = 0; s < rp.stages.size(); ++s) {
    StageKv& st = out.kv.emplace_back();
    st.local_rows = w.stages[s].local_rows;
    st.kv = take_pair(a, k.dtype, st.local_rows + rp.stages[s].num_recv(), PairShape::of(k, v));
    received.push_back(st.received().both);
  }
  out.exchange = layout_exchange(c, k, v, std::move(received), backward, acc, a);
  return out;
}

// Stage s's buffer, complete for work queued next on the call's stream.
void fill_stage(const CallContext& c, const TensorView& k, const TensorView& v, Stages& st,
                size_t s) {
  st.exchange->wait(s);
  const StageKv& sk = st.kv[s];
  if (sk.local_rows == 0) return;
  const RowPair local = sk.kv.slice(0, sk.local_rows);
  c.backend.range_gather(k, c.rt.work().all_local_kv, local.first, c.stream);
  c.backend.range_gather(v, c.rt.work().all_local_kv, local.second, c.stream);
}

/// Lays a call out with layout(Arena&) twice, without memory to learn its bytes and then over
/// one block of the call's allocator, and runs body(layout) while the block is held.
template <class LayoutFn, class Body>
void with_workspace(const CallContext& c, Device device, LayoutFn&& layout, Body&& body) {
  Arena measure(device);
  layout(measure);
  Allocator& allocator = c.allocator != nullptr ? *c.allocator : c.backend.allocator();
  const ScopedBlock block(allocator, measure.used(), device, c.stream);
  Arena arena(device, block.data(), block.bytes());
  body(layout(arena));
}

// Whether dsink is all-reduced across the group (layout sh, a group of several ranks).
bool reduces_dsink(const CallContext& c) {
  return c.sink != nullptr && c.sink->layout == SinkLayout::kSH &&
         c.dsink_reduce != DsinkReduce::kNone && c.comm.size() > 1;
}

struct FwdLayout {
  Stages stages;
  TensorView acc, lse_acc;        // out / lse themselves when they have the accumulation dtype
  TensorView max_send, max_recv;  // [cp, Hq]: max_logits' all-reduce
  void* ffa_ws = nullptr;         // the largest FFA forward's scratch, reused by each call
};

struct BwdLayout {
  Stages stages;
  TensorView dq_acc, dk_acc, dv_acc;
  std::vector<RowPair> dkv_part;      // per stage: dK|dV of the stage buffer's rows
  void* ffa_ws = nullptr;             // the largest FFA backward's scratch, reused by each call
  TensorView dsink_send, dsink_recv;  // [cp, sink numel]: dsink's all-reduce
};

// ---- forward ---------------------------------------------------------------------------------

// Whether this rank's forward is one kernel that writes every row once with nothing merged
// after it (no stage with work, no sink): it then writes out in out's own dtype, with no
// accumulator to cast (at cp 1 the cast cost a quarter of the kernel).
bool one_pass_forward(const CallContext& c, const TensorView& out) {
  if (c.sink != nullptr || !out.is_contiguous()) return false;
  for (const auto& s : c.rt.work().stages) {
    if (!s.ffa.slices().empty()) return false;
  }
  return true;
}

FwdLayout layout_forward(const CallContext& c, const TensorView& q, const TensorView& k,
                         const TensorView& v, const TensorView& out, const TensorView& lse,
                         Arena& a) {
  const DType at = acc_dtype(q);
  const int64_t sq = q.shape[0], hq = q.shape[1], dv = v.shape[2];
  FwdLayout l;
  l.stages = layout_stages(c, k, v, false, at, a);
  l.acc = out.dtype == at || one_pass_forward(c, out) ? out : a.take(at, {sq, hq, dv});
  l.lse_acc = lse.dtype == at ? lse : a.take(at, {sq, hq});
  if (c.max_logits.ndim > 0 && c.comm.size() > 1) {
    l.max_send = a.take(DType::kFloat32, {c.comm.size(), hq});
    l.max_recv = a.take(DType::kFloat32, {c.comm.size(), hq});
  }
  // The FFA calls run in stream order: one scratch area, as large as the largest call needs.
  const RankWork& w = c.rt.work();
  FfaFwdArgs probe{q, k, v, l.acc, l.lse_acc, &w.host, c.scores, false, c.stream, c.max_logits};
  size_t ws = c.backend.ffa_forward_workspace_bytes(probe);
  probe.accumulate = true;
  for (size_t s = 0; s < w.stages.size(); ++s) {
    if (w.stages[s].ffa.slices().empty()) continue;  // no call
    probe.k = l.stages.kv[s].kv.first;
    probe.v = l.stages.kv[s].kv.second;
    probe.work = &w.stages[s].ffa;
    ws = std::max(ws, c.backend.ffa_forward_workspace_bytes(probe));
  }
  l.ffa_ws = a.take_bytes(ws);
  return l;
}

// Every rank's `mine` (fp32, contiguous) into recv [cp, numel] in rank order: an all-gather as
// one all_to_all_v of the same row to every rank (send: [cp, numel] scratch). Reducing recv in
// rank order then gives every rank the same bits.
void all_gather_rows(const CallContext& c, const TensorView& mine, const TensorView& send,
                     const TensorView& recv) {
  const int64_t cp = c.comm.size();
  const TensorView flat =
      TensorView::contiguous(mine.data, DType::kFloat32, {1, mine.numel()}, mine.device);
  for (int64_t r = 0; r < cp; ++r) c.backend.copy_cast(flat, row_slice(send, r, r + 1), c.stream);
  const std::vector<int64_t> ones(static_cast<size_t>(cp), 1);
  c.comm.all_to_all_v(send, ones, recv, ones, row_bytes(send), c.stream)->wait_on(c.stream);
}

// max_logits: this rank's maximum over its stages (the kernels merge into it by max), then
// the maximum over the group (NaN kept).
void reduce_max_logits(const CallContext& c, FwdLayout& l) {
  if (c.comm.size() == 1) return;
  all_gather_rows(c, c.max_logits, l.max_send, l.max_recv);
  c.backend.max_rows(l.max_recv, c.max_logits, c.stream);
}

void run_forward(const CallContext& c, const TensorView& q, const TensorView& k,
                 const TensorView& v, const TensorView& out, const TensorView& lse, FwdLayout& l) {
  const RankWork& w = c.rt.work();
  FfaFwdArgs a{q,        k,     v,        l.acc,        l.lse_acc, &w.host,
               c.scores, false, c.stream, c.max_logits, l.ffa_ws};
  c.backend.check_ffa_forward("calc_attn", a);  // the device's limits, once per call

  if (c.max_logits.ndim > 0) {
    c.backend.fill(c.max_logits, -std::numeric_limits<double>::infinity(), c.stream);
  }
  // Exchanges are posted before the first kernel, so communication overlaps the host stage.
  l.stages.exchange->start(k, v);
  // NOTE: the host stage runs even without slices: it initialises out and lse (0 and -inf),
  // into which every stage merges.
  c.backend.ffa_forward(a);
  a.accumulate = true;
  for (size_t s = 0; s < w.stages.size(); ++s) {
    fill_stage(c, k, v, l.stages, s);
    if (w.stages[s].ffa.slices().empty()) continue;
    a.k = l.stages.kv[s].kv.first;
    a.v = l.stages.kv[s].kv.second;
    a.work = &w.stages[s].ffa;
    c.backend.ffa_forward(a);
  }
  // The sink once per row, after every stage's merge, in the accumulation dtype.
  if (c.sink != nullptr) c.backend.sink_merge(l.acc, l.lse_acc, *c.sink, c.stream);
  if (c.max_logits.ndim > 0) reduce_max_logits(c, l);
  if (l.acc.data != out.data) c.backend.copy_cast(l.acc, out, c.stream);
  if (l.lse_acc.data != lse.data) c.backend.copy_cast(l.lse_acc, lse, c.stream);
}

// ---- backward --------------------------------------------------------------------------------

BwdLayout layout_backward(const CallContext& c, const FfaBwdArgs& a, Arena& ar) {
  const RankWork& w = c.rt.work();
  const TensorView &q = a.q, &k = a.k, &v = a.v;
  const DType at = acc_dtype(q);
  const int64_t s_len = k.shape[0], hkv = k.shape[1];
  BwdLayout l;
  l.stages = layout_stages(c, k, v, true, at, ar);
  l.dq_acc = ar.take(at, {q.shape[0], q.shape[1], q.shape[2]});
  l.dk_acc = ar.take(at, {s_len, hkv, k.shape[2]});
  l.dv_acc = ar.take(at, {s_len, hkv, v.shape[2]});
  for (const StageKv& st : l.stages.kv)
    l.dkv_part.push_back(take_pair(ar, at, st.kv.rows(), PairShape::of(k, v)));
  // Every FFA call of this backward has the same q and fp32 (fp64) accumulators and runs in
  // stream order, so one scratch area, as large as the largest call needs, serves them all.
  FfaBwdArgs probe = a;
  probe.dq = l.dq_acc;
  probe.dk = l.dk_acc;
  probe.dv = l.dv_acc;
  size_t ws = c.backend.ffa_backward_workspace_bytes(probe);
  for (size_t s = 0; s < w.stages.size(); ++s) {
    if (w.stages[s].ffa.slices().empty()) continue;  // no call
    probe.k = l.stages.kv[s].kv.first;
    probe.v = l.stages.kv[s].kv.second;
    probe.dk = l.dkv_part[s].first;
    probe.dv = l.dkv_part[s].second;
    probe.work = &w.stages[s].ffa;
    ws = std::max(ws, c.backend.ffa_backward_workspace_bytes(probe));
  }
  // The sink's backward runs after the last FFA call (stream order): the same scratch.
  if (c.sink != nullptr) ws = std::max(ws, c.backend.sink_backward_workspace_bytes(a.out, *c.sink));
  l.ffa_ws = ar.take_bytes(ws);
  if (reduces_dsink(c)) {
    const int64_t cp = c.comm.size(), n = c.sink->logits.numel();
    l.dsink_send = ar.take(DType::kFloat32, {cp, n});
    l.dsink_recv = ar.take(DType::kFloat32, {cp, n});
  }
  return l;
}

// dsink = this rank's partial over its rows, then (reduces_dsink) the sum or mean of every
// rank's partial, summed in rank order.
void sink_grad(const CallContext& c, const TensorView& out, const TensorView& lse,
               const TensorView& dout, const TensorView& dsink, BwdLayout& l) {
  c.backend.fill(dsink, 0.0, c.stream);
  c.backend.sink_backward(out, lse, dout, *c.sink, dsink, l.ffa_ws, c.stream);
  if (!reduces_dsink(c)) return;
  all_gather_rows(c, dsink, l.dsink_send, l.dsink_recv);
  const double scale = c.dsink_reduce == DsinkReduce::kAvg ? 1.0 / double(c.comm.size()) : 1.0;
  c.backend.sum_rows(l.dsink_recv, dsink, scale, c.stream);
}

void run_backward(const CallContext& c, FfaBwdArgs a, const TensorView& dq, const TensorView& dk,
                  const TensorView& dv, BwdLayout& l) {
  const RankWork& w = c.rt.work();
  const TensorView k = a.k, v = a.v;
  a.dq = l.dq_acc;
  a.dk = l.dk_acc;
  a.dv = l.dv_acc;
  a.workspace = l.ffa_ws;
  c.backend.check_ffa_backward("calc_attn_backward", a);  // the device's limits, once per call

  const auto zero = [&](const TensorView& t) { c.backend.fill(t, 0.0, c.stream); };
  l.stages.exchange->start(k, v);
  zero(l.dq_acc);
  zero(l.dk_acc);
  zero(l.dv_acc);
  c.backend.ffa_backward(a);
  for (size_t s = 0; s < w.stages.size(); ++s) {
    const StageKv& st = l.stages.kv[s];
    const RowPair& part = l.dkv_part[s];
    fill_stage(c, k, v, l.stages, s);
    zero(part.both);
    if (!w.stages[s].ffa.slices().empty()) {
      a.k = st.kv.first;
      a.v = st.kv.second;
      a.dk = part.first;
      a.dv = part.second;
      a.work = &w.stages[s].ffa;
      c.backend.ffa_backward(a);
      if (st.local_rows > 0) {  // the local rows' share stays here
        const RowPair local = part.slice(0, st.local_rows);
        c.scatter_add(local.first, w.all_local_kv, l.dk_acc);
        c.scatter_add(local.second, w.all_local_kv, l.dv_acc);
      }
    }
    // The received rows' share goes home, to be summed by the owners (group-reduce).
    l.stages.exchange->reduce(s, part.slice(st.local_rows, part.rows()).both);
  }
  l.stages.exchange->finish(l.dk_acc, l.dv_acc);
  c.backend.copy_cast(l.dq_acc, dq, c.stream);
  c.backend.copy_cast(l.dk_acc, dk, c.stream);
  c.backend.copy_cast(l.dv_acc, dv, c.stream);
}

}  // namespace

void forward(const CallContext& c, const TensorView& q, const TensorView& k, const TensorView& v,
             const TensorView& out, const TensorView& lse) {
  with_workspace(
      c, q.device, [&](Arena& a) { return layout_forward(c, q, k, v, out, lse, a); },
      [&](FwdLayout l) { run_forward(c, q, k, v, out, lse, l); });
}

void backward(const CallContext& c, const TensorView& q, const TensorView& k, const TensorView& v,
              const TensorView& out, const TensorView& lse, const TensorView& dout,
              const TensorView& dq, const TensorView& dk, const TensorView& dv,
              const TensorView& dsink) {
  FfaBwdArgs a{q, k, v, out, lse, dout, {}, {}, {}, &c.rt.work().host, c.scores, c.stream};
  a.deterministic = c.deterministic;
  with_workspace(
      c, q.device, [&](Arena& ar) { return layout_backward(c, a, ar); },
      [&](BwdLayout l) {
        run_backward(c, a, dq, dk, dv, l);
        // NOTE: collective when reducing: every rank has a sink here (the same call on each).
        if (dsink.ndim > 0) sink_grad(c, out, lse, dout, dsink, l);
      });
}

}  // namespace magi::runtime
