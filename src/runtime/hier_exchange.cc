// The hierarchical exchange (magi/hier_plan.h, runtime/hier_work.h). One buffer per call, the
// holdings [local; relayed (inter.recv of every stage); delivered (intra.recv of every stage)],
// holds every row that takes part:
//   start    local K|V into the holdings; per stage, the inter level (rows gathered from the
//            local ones) into the stage's relayed rows;
//   wait(s)  the intra level of stage s (rows gathered from [local; relayed of stages <= s])
//            into its delivered rows, then one gather of the stage's receive buffer.
// The backward sums in reverse over a holdings-shaped buffer of partials: reduce(s)
// scatter-adds the stage's partials through its assemble rows and sends its delivered share
// back (the intra level reversed); finish() adds those at the intra send rows, then returns
// each stage's relayed sums to their owners (the inter level reversed: only now, since any
// later stage may read a relayed row), and adds everything that reached local rows into dk, dv.
// NOTE: the dK/dV of a row are then summed in another order than by the flat exchange
// (partials meet at the relay first), so they agree with it up to rounding, not bit for bit.
#include "kernels/tensor_ops.h"
#include "runtime/kv_exchange.h"
#include "runtime/rank_work.h"

namespace magi::runtime {
namespace {

class HierExchange final : public KvExchange {
 public:
  HierExchange(const CallContext& c, const TensorView& k, const TensorView& v,
               std::vector<TensorView> received, bool backward, DType acc, Arena& a)
      : c_(c),
        plan_(c.rt.hier_plan()->ranks.front()),
        work_(*c.rt.work().hier),
        received_(std::move(received)),
        shard_(k.shape[0]),
        backward_(backward) {
    const PairShape shape = PairShape::of(k, v);
    holdings_ = take_pair(a, k.dtype, work_.rows, shape);
    for (const HierStagePlan& st : plan_.stages) {
      inter_send_.push_back(take_pair(a, k.dtype, st.inter.num_send(), shape));
      intra_send_.push_back(take_pair(a, k.dtype, st.intra.num_send(), shape));
      if (!backward) continue;
      intra_home_.push_back(take_pair(a, acc, st.intra.num_send(), shape));
      inter_home_.push_back(take_pair(a, acc, st.inter.num_send(), shape));
    }
    if (backward) sums_ = take_pair(a, acc, work_.rows, shape);
    inter_.resize(plan_.stages.size());
    intra_.resize(plan_.stages.size());
  }

  void start(const TensorView& k, const TensorView& v) override {
    const RankWork& w = c_.rt.work();
    const RowPair local = holdings_.slice(0, shard_);
    c_.backend.range_gather(k, w.all_local_kv, local.first, c_.stream);
    c_.backend.range_gather(v, w.all_local_kv, local.second, c_.stream);
    if (backward_) c_.backend.fill(sums_.both, 0.0, c_.stream);
    for (size_t s = 0; s < plan_.stages.size(); ++s) {
      const ExchangeTable& ex = plan_.stages[s].inter;
      const HierStageWork& sw = work_.stages[s];
      c_.backend.range_gather(holdings_.both, sw.inter_send, inter_send_[s].both, c_.stream);
      inter_[s] =
          post(inter_send_[s].both, ex.send_counts, relayed(holdings_, s).both, ex.recv_counts);
    }
  }

  void wait(size_t s) override {
    const ExchangeTable& ex = plan_.stages[s].intra;
    const HierStageWork& sw = work_.stages[s];
    complete(inter_[s]);
    c_.backend.range_gather(holdings_.both, sw.intra_send, intra_send_[s].both, c_.stream);
    intra_[s] =
        post(intra_send_[s].both, ex.send_counts, delivered(holdings_, s).both, ex.recv_counts);
    complete(intra_[s]);
    c_.backend.range_gather(holdings_.both, sw.assemble, received_[s], c_.stream);
  }

  void reduce(size_t s, const TensorView& partial) override {
    const ExchangeTable& ex = plan_.stages[s].intra;
    c_.scatter_add(partial, work_.stages[s].assemble, sums_.both);
    intra_[s] = post(delivered(sums_, s).both, ex.recv_counts, intra_home_[s].both, ex.send_counts);
  }

  void finish(const TensorView& dk, const TensorView& dv) override {
    const size_t stages = plan_.stages.size();
    for (size_t s = 0; s < stages; ++s) {
      complete(intra_[s]);
      c_.scatter_add(intra_home_[s].both, work_.stages[s].intra_send, sums_.both);
    }
    for (size_t s = 0; s < stages; ++s) {
      const ExchangeTable& ex = plan_.stages[s].inter;
      inter_[s] = post(relayed(sums_, s).both, ex.recv_counts, inter_home_[s].both, ex.send_counts);
    }
    const RankWork& w = c_.rt.work();
    for (size_t s = 0; s < stages; ++s) {
      complete(inter_[s]);
      c_.scatter_add(inter_home_[s].first, work_.stages[s].inter_send, dk);
      c_.scatter_add(inter_home_[s].second, work_.stages[s].inter_send, dv);
    }
    const RowPair local = sums_.slice(0, shard_);
    c_.scatter_add(local.first, w.all_local_kv, dk);
    c_.scatter_add(local.second, w.all_local_kv, dv);
  }

 private:
  // Stage s's relayed (inter.recv) and delivered (intra.recv) rows of a holdings-shaped pair.
  RowPair relayed(const RowPair& p, size_t s) const {
    const int64_t at = work_.stages[s].relayed_at;
    return p.slice(at, at + plan_.stages[s].inter.num_recv());
  }
  RowPair delivered(const RowPair& p, size_t s) const {
    const int64_t at = work_.stages[s].delivered_at;
    return p.slice(at, at + plan_.stages[s].intra.num_recv());
  }
  std::unique_ptr<CommHandle> post(const TensorView& send, std::span<const int64_t> send_counts,
                                   const TensorView& recv, std::span<const int64_t> recv_counts) {
    return c_.comm.all_to_all_v(send, send_counts, recv, recv_counts, row_bytes(send), c_.stream);
  }
  // Orders the call's stream after the exchange.
  void complete(std::unique_ptr<CommHandle>& h) {
    h->wait_on(c_.stream);
    h.reset();
  }

  const CallContext& c_;
  const HierRankPlan& plan_;
  const HierWork& work_;
  std::vector<TensorView> received_;  // per stage: K|V rows, [num_recv, Hkv * (D + Dv)]
  int64_t shard_;                     // local K/V rows
  bool backward_;
  RowPair holdings_;                 // work_.rows rows of K|V
  RowPair sums_;                     // backward: holdings-shaped partial dK|dV
  std::vector<RowPair> inter_send_;  // per stage: [inter.num_send]
  std::vector<RowPair> intra_send_;  // per stage: [intra.num_send]
  std::vector<RowPair> intra_home_;  // backward, per stage: [intra.num_send]
  std::vector<RowPair> inter_home_;  // backward, per stage: [inter.num_send]
  std::vector<std::unique_ptr<CommHandle>> inter_, intra_;  // per stage: pending exchanges
};

}  // namespace

std::unique_ptr<KvExchange> layout_hier_exchange(const CallContext& c, const TensorView& k,
                                                 const TensorView& v,
                                                 std::vector<TensorView> received, bool backward,
                                                 DType acc, Arena& a) {
  return std::make_unique<HierExchange>(c, k, v, std::move(received), backward, acc, a);
}

}  // namespace magi::runtime
