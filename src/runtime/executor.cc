#include "runtime/executor.h"

#include <limits>
#include <memory>
#include <vector>

#include "kernels/scoped_block.h"
#include "kernels/tensor_ops.h"
#include "magi/check.h"
#include "runtime/arena.h"
#include "runtime/rank_work.h"

namespace magi::runtime {
namespace {

// fp64 inputs accumulate (and travel) in fp64, everything else in fp32.
DType acc_dtype(const TensorView& q) {
  return q.dtype == DType::kFloat64 ? DType::kFloat64 : DType::kFloat32;
}

// Two tensors of [rows, H, D] travelling as one: row r of `both` ([rows, 2, H, D], contiguous)
// is row r of `first` then row r of `second`, which are views of it with row stride 2·H·D.
// NOTE: interleaving by row (not [first; second]) keeps each rank's share of an exchange one
// run of rows, so a pair costs one all_to_all_v with rows of 2·row_bytes.
struct RowPair {
  TensorView both, first, second;
};

RowPair take_pair(Arena& a, DType dtype, int64_t rows, int64_t h, int64_t d) {
  RowPair p;
  p.both = a.take(dtype, {rows, 2, h, d});
  p.first = p.both;
  p.first.ndim = 3;
  p.first.shape = {rows, h, d, 0};
  p.first.strides = {2 * h * d, d, 1, 0};
  p.second = p.first;
  p.second.data = static_cast<std::byte*>(p.both.data) + h * d * dtype_size(dtype);
  return p;
}

// K and V of one stage on their way in (group-cast: gather + one all_to_all_v of K|V rows) into
// the stage buffer: [local rows (reads_local); received rows], the received ones already in the
// stage's layout.
struct Fetch {
  RowPair kv;              // [local_rows + num_recv, 2, Hkv, D]: first = K, second = V
  int64_t local_rows = 0;  // StageWork::local_rows
  RowPair send_kv;         // [num_send, 2, Hkv, D] (remote exchanges only)
  std::unique_ptr<CommHandle> h;
  void wait_on(void* stream) {
    if (h) h->wait_on(stream);
    h.reset();
  }
  TensorView received() const { return row_slice(kv.both, local_rows, kv.both.shape[0]); }
  const TensorView& k() const { return kv.first; }
  const TensorView& v() const { return kv.second; }
};

std::vector<Fetch> layout_fetches(const RankWork& w, const RankPlan& rp, bool remote,
                                  const TensorView& k, Arena& a) {
  std::vector<Fetch> fetches(rp.stages.size());
  const int64_t h = k.shape[1], d = k.shape[2];
  for (size_t s = 0; s < rp.stages.size(); ++s) {
    const StagePlan& st = rp.stages[s];
    fetches[s].local_rows = w.stages[s].local_rows;
    fetches[s].kv = take_pair(a, k.dtype, fetches[s].local_rows + st.num_recv(), h, d);
    if (remote) fetches[s].send_kv = take_pair(a, k.dtype, st.num_send(), h, d);
  }
  return fetches;
}

// Posts every stage's group-cast (nothing to exchange in a group of one).
void start_fetches(const CallContext& c, const RankWork& w, const TensorView& k,
                   const TensorView& v, std::vector<Fetch>& fetches) {
  if (c.comm.size() == 1) return;
  const RankPlan& rp = c.rt.rank_plan();
  for (size_t s = 0; s < fetches.size(); ++s) {
    const StagePlan& st = rp.stages[s];
    Fetch& f = fetches[s];
    c.backend.range_gather(k, w.stages[s].send_rows, f.send_kv.first, c.stream);
    c.backend.range_gather(v, w.stages[s].send_rows, f.send_kv.second, c.stream);
    f.h = c.comm.all_to_all_v(f.send_kv.both, st.send_counts, f.received(), st.recv_counts,
                              row_bytes(f.kv.both), c.stream);
  }
}

// Completes stage s's buffer for its kernel: its received rows, and the local ones in front.
void finish_fetch(const CallContext& c, const RankWork& w, const TensorView& k, const TensorView& v,
                  Fetch& f) {
  f.wait_on(c.stream);
  if (f.local_rows == 0) return;
  c.backend.range_gather(k, w.all_local, row_slice(f.kv.first, 0, f.local_rows), c.stream);
  c.backend.range_gather(v, w.all_local, row_slice(f.kv.second, 0, f.local_rows), c.stream);
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
  std::vector<Fetch> fetches;
  TensorView acc, lse_acc;        // out / lse themselves when they have the accumulation dtype
  TensorView max_send, max_recv;  // [cp, Hq]: max_logits' all-reduce
};

struct BwdLayout {
  std::vector<Fetch> fetches;
  TensorView dq_acc, dk_acc, dv_acc;
  std::vector<RowPair> dkv_part;      // per stage: dK|dV of the stage buffer's rows
  std::vector<RowPair> dkv_home;      // per stage: [num_send, 2, Hkv, D] (remote)
  void* ffa_ws = nullptr;             // the largest FFA backward's scratch, reused by each call
  TensorView dsink_send, dsink_recv;  // [cp, sink numel]: dsink's all-reduce
};

// ---- forward ---------------------------------------------------------------------------------

FwdLayout layout_forward(const CallContext& c, const TensorView& q, const TensorView& k,
                         const TensorView& v, const TensorView& out, const TensorView& lse,
                         Arena& a) {
  const RankPlan& rp = c.rt.rank_plan();
  const DType at = acc_dtype(q);
  const int64_t sq = q.shape[0], hq = q.shape[1], d = q.shape[2];
  FwdLayout l;
  l.fetches = layout_fetches(c.rt.work(), rp, c.comm.size() > 1, k, a);
  l.acc = out.dtype == at ? out : a.take(at, {sq, hq, d});
  l.lse_acc = lse.dtype == at ? lse : a.take(at, {sq, hq});
  if (c.max_logits.ndim > 0 && c.comm.size() > 1) {
    l.max_send = a.take(DType::kFloat32, {c.comm.size(), hq});
    l.max_recv = a.take(DType::kFloat32, {c.comm.size(), hq});
  }
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
  FfaFwdArgs a{q, k, v, l.acc, l.lse_acc, &w.host, c.scores, false, c.stream, c.max_logits};
  c.backend.check_ffa_forward("calc_attn", a);  // the device's limits, once per call

  if (c.max_logits.ndim > 0) {
    c.backend.fill(c.max_logits, -std::numeric_limits<double>::infinity(), c.stream);
  }
  // Every exchange is posted before the first kernel, so communication overlaps the host stage.
  start_fetches(c, w, k, v, l.fetches);
  // NOTE: the host stage runs even without slices: it initialises out and lse (0 and -inf),
  // into which every stage merges.
  c.backend.ffa_forward(a);
  a.accumulate = true;
  for (size_t s = 0; s < l.fetches.size(); ++s) {
    finish_fetch(c, w, k, v, l.fetches[s]);
    if (w.stages[s].ffa.slices().empty()) continue;
    a.k = l.fetches[s].k();
    a.v = l.fetches[s].v();
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
  const RankPlan& rp = c.rt.rank_plan();
  const RankWork& w = c.rt.work();
  const bool remote = c.comm.size() > 1;
  const TensorView &q = a.q, &k = a.k;
  const DType at = acc_dtype(q);
  const int64_t s_len = k.shape[0], hkv = k.shape[1], d = k.shape[2];
  BwdLayout l;
  l.fetches = layout_fetches(w, rp, remote, k, ar);
  l.dq_acc = ar.take(at, {q.shape[0], q.shape[1], d});
  l.dk_acc = ar.take(at, {s_len, hkv, d});
  l.dv_acc = ar.take(at, {s_len, hkv, d});
  for (const Fetch& f : l.fetches) {
    l.dkv_part.push_back(take_pair(ar, at, f.kv.both.shape[0], hkv, d));
  }
  if (remote) {
    for (const StagePlan& st : rp.stages) {
      l.dkv_home.push_back(take_pair(ar, at, st.num_send(), hkv, d));
    }
  }
  // Every FFA call of this backward has the same q and fp32 (fp64) accumulators and runs in
  // stream order, so one scratch area, as large as the largest call needs, serves them all.
  FfaBwdArgs probe = a;
  probe.dq = l.dq_acc;
  probe.dk = l.dk_acc;
  probe.dv = l.dv_acc;
  size_t ws = c.backend.ffa_backward_workspace_bytes(probe);
  for (size_t s = 0; s < l.fetches.size(); ++s) {
    if (w.stages[s].ffa.slices().empty()) continue;  // no call
    probe.k = l.fetches[s].k();
    probe.v = l.fetches[s].v();
    probe.dk = l.dkv_part[s].first;
    probe.dv = l.dkv_part[s].second;
    probe.work = &w.stages[s].ffa;
    ws = std::max(ws, c.backend.ffa_backward_workspace_bytes(probe));
  }
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
  c.backend.sink_backward(out, lse, dout, *c.sink, dsink, c.stream);
  if (!reduces_dsink(c)) return;
  all_gather_rows(c, dsink, l.dsink_send, l.dsink_recv);
  const double scale = c.dsink_reduce == DsinkReduce::kAvg ? 1.0 / double(c.comm.size()) : 1.0;
  c.backend.sum_rows(l.dsink_recv, dsink, scale, c.stream);
}

void run_backward(const CallContext& c, FfaBwdArgs a, const TensorView& dq, const TensorView& dk,
                  const TensorView& dv, BwdLayout& l) {
  const RankPlan& rp = c.rt.rank_plan();
  const RankWork& w = c.rt.work();
  const bool remote = c.comm.size() > 1;
  const TensorView k = a.k, v = a.v;
  a.dq = l.dq_acc;
  a.dk = l.dk_acc;
  a.dv = l.dv_acc;
  a.workspace = l.ffa_ws;
  c.backend.check_ffa_backward("calc_attn_backward", a);  // the device's limits, once per call

  const auto zero = [&](const TensorView& t) { c.backend.fill(t, 0.0, c.stream); };
  start_fetches(c, w, k, v, l.fetches);
  zero(l.dq_acc);
  zero(l.dk_acc);
  zero(l.dv_acc);
  // The partial dK|dV rows of one stage on their way home (group-reduce: one all_to_all_v
  // with the stage's tables reversed, then scatter-add at send_rows).
  std::vector<std::unique_ptr<CommHandle>> homes;
  c.backend.ffa_backward(a);
  for (size_t s = 0; s < l.fetches.size(); ++s) {
    Fetch& f = l.fetches[s];
    const RowPair& part = l.dkv_part[s];
    finish_fetch(c, w, k, v, f);
    zero(part.both);
    if (!w.stages[s].ffa.slices().empty()) {
      a.k = f.k();
      a.v = f.v();
      a.dk = part.first;
      a.dv = part.second;
      a.work = &w.stages[s].ffa;
      c.backend.ffa_backward(a);
      if (f.local_rows > 0) {  // the local rows' share stays here
        c.backend.range_scatter_add(row_slice(part.first, 0, f.local_rows), w.all_local, l.dk_acc,
                                    c.stream);
        c.backend.range_scatter_add(row_slice(part.second, 0, f.local_rows), w.all_local, l.dv_acc,
                                    c.stream);
      }
    }
    if (remote) {
      const StagePlan& st = rp.stages[s];
      const TensorView sent = row_slice(part.both, f.local_rows, part.both.shape[0]);
      homes.push_back(c.comm.all_to_all_v(sent, st.recv_counts, l.dkv_home[s].both, st.send_counts,
                                          row_bytes(sent), c.stream));
    }
  }
  for (size_t s = 0; s < homes.size(); ++s) {
    homes[s]->wait_on(c.stream);
    c.backend.range_scatter_add(l.dkv_home[s].first, w.stages[s].send_rows, l.dk_acc, c.stream);
    c.backend.range_scatter_add(l.dkv_home[s].second, w.stages[s].send_rows, l.dv_acc, c.stream);
  }
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
