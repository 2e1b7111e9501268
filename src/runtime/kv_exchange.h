// KvExchange: how one call's stages get their remote K|V rows (group-cast) and, in the backward,
// send the partial dK|dV of those rows back to their owners, summed (group-reduce). Two
// strategies behind one interface, chosen by the key:
//   flat          (flat_exchange.cc) one all_to_all_v per stage with the plan's tables;
//   hierarchical  (hier_exchange.cc, DistAttnConfig::hier_mesh) per stage an inter-node and an
//                 intra-node all_to_all_v and a gather; the reduce in reverse.
// Both deliver each stage's received rows in the flat plan's order, so the stage's FFA work is
// the same. Every exchange is posted on the call's stream and consumed through wait_on(it).
//
// Call order (the same on every rank: exchanges are collective and matched in order): start();
// then for each stage s in order, wait(s) and, in the backward, reduce(s); then finish().
#pragma once

#include <memory>
#include <utility>
#include <vector>

#include "runtime/arena.h"
#include "runtime/executor.h"
#include "runtime/row_pair.h"

namespace magi::runtime {

class KvExchange {
 public:
  virtual ~KvExchange() = default;
  /// Posts what can travel before the first kernel (flat: every stage; hierarchical: the
  /// inter-node level of every stage). k, v: the local K/V [shard_kv, Hkv, D] and [.., Dv].
  virtual void start(const TensorView& k, const TensorView& v) = 0;
  /// After it, work queued on the call's stream sees stage s's received rows in place.
  virtual void wait(size_t s) = 0;
  /// Backward: the partial dK|dV of stage s's received rows (a RowPair's `both`, num_recv rows
  /// in the accumulation dtype, in the order they were received) leave for their owners. `partial`
  /// must stay untouched until finish().
  virtual void reduce(size_t s, const TensorView& partial) = 0;
  /// Backward, after the last reduce: adds what came home into dk and dv (shaped like k and v,
  /// the accumulation dtype).
  virtual void finish(const TensorView& dk, const TensorView& dv) = 0;
};

/// The exchange of a call whose stages receive into `received` (per stage the `both` of a
/// RowPair of num_recv rows in k's dtype), its buffers laid out in `a`. k, v: the local K / V
/// (for their shapes). `backward`: the group-reduce's buffers too, partials in `acc`.
std::unique_ptr<KvExchange> layout_flat_exchange(const CallContext& c, const TensorView& k,
                                                 const TensorView& v,
                                                 std::vector<TensorView> received, bool backward,
                                                 DType acc, Arena& a);
std::unique_ptr<KvExchange> layout_hier_exchange(const CallContext& c, const TensorView& k,
                                                 const TensorView& v,
                                                 std::vector<TensorView> received, bool backward,
                                                 DType acc, Arena& a);

/// The key's strategy (with one rank nothing moves: flat, whose tables are empty).
inline std::unique_ptr<KvExchange> layout_exchange(const CallContext& c, const TensorView& k,
                                                   const TensorView& v,
                                                   std::vector<TensorView> received, bool backward,
                                                   DType acc, Arena& a) {
  if (c.rt.hier_plan() != nullptr && c.comm.size() > 1) {
    return layout_hier_exchange(c, k, v, std::move(received), backward, acc, a);
  }
  return layout_flat_exchange(c, k, v, std::move(received), backward, acc, a);
}

}  // namespace magi::runtime
