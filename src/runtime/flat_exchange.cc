// The flat exchange: per stage, the plan's tables as one all_to_all_v of K|V rows (gathered at
// send_rows) straight into the stage's receive buffer, and in the backward the same tables
// reversed, the owner scatter-adding what comes home at send_rows.
#include "kernels/tensor_ops.h"
#include "runtime/kv_exchange.h"
#include "runtime/rank_work.h"

namespace magi::runtime {
namespace {

class FlatExchange final : public KvExchange {
 public:
  FlatExchange(const CallContext& c, const TensorView& k, const TensorView& v,
               std::vector<TensorView> received, bool backward, DType acc, Arena& a)
      : c_(c), received_(std::move(received)), moves_(c.comm.size() > 1) {
    const RankPlan& rp = c.rt.rank_plan();
    const PairShape shape = PairShape::of(k, v);
    handles_.resize(rp.stages.size());
    if (!moves_) return;
    for (const StagePlan& st : rp.stages) {
      send_.push_back(take_pair(a, k.dtype, st.num_send(), shape));
      if (backward) home_.push_back(take_pair(a, acc, st.num_send(), shape));
    }
  }

  void start(const TensorView& k, const TensorView& v) override {
    if (!moves_) return;
    const RankPlan& rp = c_.rt.rank_plan();
    const RankWork& w = c_.rt.work();
    for (size_t s = 0; s < rp.stages.size(); ++s) {
      const StagePlan& st = rp.stages[s];
      c_.backend.range_gather(k, w.stages[s].send_rows, send_[s].first, c_.stream);
      c_.backend.range_gather(v, w.stages[s].send_rows, send_[s].second, c_.stream);
      handles_[s] = c_.comm.all_to_all_v(send_[s].both, st.send_counts, received_[s],
                                         st.recv_counts, row_bytes(send_[s].both), c_.stream);
    }
  }

  void wait(size_t s) override {
    if (handles_[s]) handles_[s]->wait_on(c_.stream);
    handles_[s].reset();
  }

  void reduce(size_t s, const TensorView& partial) override {
    if (!moves_) return;
    const StagePlan& st = c_.rt.rank_plan().stages[s];
    handles_[s] = c_.comm.all_to_all_v(partial, st.recv_counts, home_[s].both, st.send_counts,
                                       row_bytes(partial), c_.stream);
  }

  void finish(const TensorView& dk, const TensorView& dv) override {
    if (!moves_) return;
    const RankWork& w = c_.rt.work();
    for (size_t s = 0; s < home_.size(); ++s) {
      wait(s);
      c_.scatter_add(home_[s].first, w.stages[s].send_rows, dk);
      c_.scatter_add(home_[s].second, w.stages[s].send_rows, dv);
    }
  }

 private:
  const CallContext& c_;
  std::vector<TensorView> received_;  // per stage: K|V rows, [num_recv, Hkv * (D + Dv)]
  bool moves_;                        // a group of one exchanges nothing
  std::vector<RowPair> send_;         // per stage: K|V rows gathered at send_rows
  std::vector<RowPair> home_;         // backward, per stage: partial dK|dV of send_rows
  std::vector<std::unique_ptr<CommHandle>> handles_;  // per stage: the pending exchange
};

}  // namespace

std::unique_ptr<KvExchange> layout_flat_exchange(const CallContext& c, const TensorView& k,
                                                 const TensorView& v,
                                                 std::vector<TensorView> received, bool backward,
                                                 DType acc, Arena& a) {
  return std::make_unique<FlatExchange>(c, k, v, std::move(received), backward, acc, a);
}

}  // namespace magi::runtime
