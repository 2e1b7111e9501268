// The hierarchical exchange (src/runtime/hier_exchange.cc) against the flat one, on simulated
// ranks (threads), for several meshes and overlap degrees, over self-attention's K/V and
// cross-attention's own (padded or uneven) K/V dispatch:
//   - alone, over integer-valued rows: each stage receives exactly the flat plan's rows in the
//     flat order, and the group-reduce returns to every owner the exact sum of the partials of
//     its rows (flat and hierarchical alike);
//   - inside calc_attn: outputs bit for bit those of the flat path, gradients equal up to the
//     order of the sums; every exchange stays within one level, and the rows that cross nodes
//     are what the plan reports (each remote row at most once per destination node: a full mask
//     moves exactly intra times fewer rows across nodes than flat).
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <mutex>
#include <numeric>
#include <random>
#include <string>

#include "kernels/backend.h"
#include "magi/dist_attn.h"
#include "runtime/kv_exchange.h"
#include "testing/dist_run.h"
#include "testing/forwarding_comm.h"
#include "testing/host_tensor.h"
#include "testing/random_mask.h"
#include "testing/rel_err.h"
#include "testing/seed.h"

namespace magi {
namespace {

using runtime::Arena;
using runtime::KvExchange;
using runtime::RowPair;
using testing::HostTensor;

struct MeshCase {
  int64_t inter, intra;
};
const MeshCase kMeshes[] = {{2, 2}, {2, 4}, {4, 2}, {1, 4}, {4, 1}, {3, 2}};

// The K/V layouts an exchange serves: K/V dispatched with q (self-attention) or on its own
// (cross-attention, padded or with uneven shards).
struct KvLayout {
  const char* name;
  bool cross, uneven;
};
const KvLayout kLayouts[] = {
    {"self-attention", false, false}, {"cross", true, false}, {"cross, uneven", true, true}};

std::string name(const MeshCase& m, int64_t degree) {
  return "mesh " + std::to_string(m.inter) + "x" + std::to_string(m.intra) + " degree " +
         std::to_string(degree);
}

// Global row ids of a layout, in order.
std::vector<int64_t> ids_of(const AttnRanges& layout) {
  std::vector<int64_t> ids;
  for (const AttnRange& r : layout)
    for (int64_t x = r.start; x < r.end; ++x) ids.push_back(x);
  return ids;
}

// One call's stage receive buffers and exchange, laid out as the executor does (measured, then
// over one block).
struct ExchangeCall {
  std::vector<std::byte> block;
  std::vector<RowPair> received;
  std::unique_ptr<KvExchange> exchange;
};

ExchangeCall lay_out(const runtime::CallContext& c, const TensorView& k, const TensorView& v,
                     bool hier) {
  const RankPlan& rp = c.rt.rank_plan();
  auto layout = [&](Arena& a, ExchangeCall& call) {
    std::vector<TensorView> views;
    call.received.clear();
    for (const StagePlan& st : rp.stages) {
      call.received.push_back(
          runtime::take_pair(a, k.dtype, st.num_recv(), runtime::PairShape::of(k, v)));
      views.push_back(call.received.back().both);
    }
    call.exchange = hier ? runtime::layout_hier_exchange(c, k, v, views, true, k.dtype, a)
                         : runtime::layout_flat_exchange(c, k, v, views, true, k.dtype, a);
  };
  ExchangeCall call;
  Arena measure(Device{});
  layout(measure, call);
  call.block.resize(measure.used() + Arena::kAlign);
  const auto base = reinterpret_cast<uintptr_t>(call.block.data());
  const uintptr_t aligned = (base + Arena::kAlign - 1) / Arena::kAlign * Arena::kAlign;
  Arena arena(Device{}, reinterpret_cast<void*>(aligned), measure.used());
  layout(arena, call);
  return call;
}

// Rows are K/V rows: in cross-attention they have their own dispatch, and each comes from its
// K/V owner.
TEST(HierExchange, RoutesEveryRowAsTheFlatPlanAndSumsExactly) {
  std::mt19937_64 rng(testing::seed(3));
  for (const MeshCase& m : kMeshes) {
    for (int64_t degree : {0, 1, 2, 3}) {
      for (const KvLayout& layout : kLayouts) {
        const int64_t cp = m.inter * m.intra, total = 8 * cp + 5;
        const int64_t total_kv = layout.cross ? 5 * cp + 3 : total;
        const auto slices = testing::random_slices(rng, total, total_kv, 7);
        SCOPED_TRACE(name(m, degree) + " " + layout.name);
        clear_key_cache();
        run_local_ranks(cp, [&](Communicator& comm) {
          for (bool hier : {false, true}) {
            SCOPED_TRACE(hier ? "hierarchical" : "flat");
            DistAttnConfig config;
            config.overlap_config.degree = degree;
            config.overlap_config.min_chunk_size = 1;
            config.dispatch_config.uneven_shard = layout.uneven;
            if (layout.uneven) config.dispatch_config.alg.type = DispatchAlgType::kSequential;
            if (hier) config.hier_mesh = CommMesh{m.inter, m.intra};
            const auto rt =
                make_flex_key(slices, total, total_kv, 1, 1, 2, comm, config, 2, !layout.cross);
            ASSERT_EQ(rt->hier_plan() != nullptr, hier);
            const runtime::CallContext c{*rt, comm, cpu_backend(), ScoreParams{}};
            const std::vector<int64_t> mine = rt->position_ids_kv();
            const int64_t n = rt->shard_seqlen_kv();
            // K = global id, V = 1000 + global id, in every element; V's head dim (3) is not
            // K's (2), as in MLA, so a K|V row is 5 elements.
            HostTensor k(DType::kFloat64, {n, 1, 2}), v(DType::kFloat64, {n, 1, 3});
            std::vector<double> kv(2 * n), vv(3 * n);
            for (int64_t i = 0; i < 2 * n; ++i) kv[i] = static_cast<double>(mine[i / 2]);
            for (int64_t i = 0; i < 3 * n; ++i) vv[i] = 1000.0 + static_cast<double>(mine[i / 3]);
            k.set(kv);
            v.set(vv);
            ExchangeCall call = lay_out(c, k.view(), v.view(), hier);
            call.exchange->start(k.view(), v.view());
            // Every rank's plan, for the sums expected at the owners.
            const Plan all = make_plan(slices, rt->dispatch_meta(), rt->dispatch_meta_kv(),
                                       config.overlap_config);
            const RankPlan& rp = rt->rank_plan();
            std::vector<HostTensor> partials;
            for (size_t s = 0; s < rp.stages.size(); ++s) {
              call.exchange->wait(s);
              const std::vector<int64_t> want = ids_of(rp.stages[s].recv_global);
              const RowPair& got = call.received[s];
              for (size_t j = 0; j < want.size(); ++j) {
                const double* row = static_cast<const double*>(got.both.data) + 5 * j;
                ASSERT_EQ(row[0], static_cast<double>(want[j])) << "stage " << s << " row " << j;
                ASSERT_EQ(row[1], static_cast<double>(want[j]));
                for (int e = 2; e < 5; ++e)
                  ASSERT_EQ(row[e], 1000.0 + static_cast<double>(want[j]));
              }
              // Partial dK of a received row at rank r, stage s: (r + 1) + 10 (s + 1); dV: twice.
              HostTensor p(DType::kFloat64, {static_cast<int64_t>(want.size()), 5});
              std::vector<double> pv(5 * want.size());
              const double x = static_cast<double>(comm.rank() + 1 + 10 * (s + 1));
              for (size_t j = 0; j < pv.size(); ++j) pv[j] = j % 5 < 2 ? x : 2 * x;
              p.set(pv);
              call.exchange->reduce(s, p.view());
              partials.push_back(std::move(p));
            }
            HostTensor dk(DType::kFloat64, {n, 1, 2}), dv(DType::kFloat64, {n, 1, 3});
            dk.fill(0.0);
            dv.fill(0.0);
            call.exchange->finish(dk.view(), dv.view());
            std::map<int64_t, double> sums;
            for (const RankPlan& other : all.ranks) {
              for (size_t s = 0; s < other.stages.size(); ++s) {
                for (int64_t id : ids_of(other.stages[s].recv_global)) {
                  sums[id] += static_cast<double>(other.rank + 1 + 10 * (s + 1));
                }
              }
            }
            const std::vector<double> got_k = dk.get(), got_v = dv.get();
            const auto want = [&](int64_t row) {
              return sums.count(mine[row]) ? sums[mine[row]] : 0.0;
            };
            for (int64_t i = 0; i < 2 * n; ++i) {
              ASSERT_EQ(got_k[i], want(i / 2))
                  << "local row " << i / 2 << " (global " << mine[i / 2] << ")";
            }
            for (int64_t i = 0; i < 3 * n; ++i) ASSERT_EQ(got_v[i], 2 * want(i / 3));
          }
        });
        if (HasFailure()) return;
      }
    }
  }
  clear_key_cache();
}

/// Forwards to another communicator, adding up the rows each exchange moves within and across
/// the nodes of `mesh`, and checking that an exchange stays within one level.
class LevelCountingComm final : public testing::ForwardingComm {
 public:
  LevelCountingComm(Communicator& c, CommMesh mesh) : ForwardingComm(c), mesh_(mesh) {}
  std::unique_ptr<CommHandle> all_to_all_v(const TensorView& send,
                                           std::span<const int64_t> send_counts,
                                           const TensorView& recv,
                                           std::span<const int64_t> recv_counts, int64_t row_bytes,
                                           void* stream) override {
    int64_t inter = 0, intra = 0;
    bool rail = true, node = true;  // every peer on my rail / in my node
    for (int64_t r = 0; r < size(); ++r) {
      if (recv_counts[r] == 0 && send_counts[r] == 0) continue;
      const bool same_node = mesh_.node(r) == mesh_.node(rank());
      (same_node ? intra : inter) += recv_counts[r];
      node = node && same_node;
      rail = rail && (mesh_.local(r) == mesh_.local(rank()));
    }
    one_level = one_level && (node || rail);
    inter_rows += inter;
    intra_rows += intra;
    return ForwardingComm::all_to_all_v(send, send_counts, recv, recv_counts, row_bytes, stream);
  }
  void reset() {
    inter_rows = intra_rows = 0;
    one_level = true;
  }
  int64_t inter_rows = 0, intra_rows = 0;  // received
  bool one_level = true;

 private:
  CommMesh mesh_;
};

using testing::rel_err;

struct LevelRows {
  int64_t inter = 0, intra = 0;
};

// One forward and backward of every rank (cross-attention when s.total_kv is set; testing::run
// on a LevelCountingComm). Returns rank 0's global results; summed over the ranks, the rows each
// level moved in the forward and in both passes; and whether every rank moved in the forward
// what its comm_rows() says and (hierarchical) kept each exchange within one level.
testing::Result run_counted(const testing::CaseSpec& s, CommMesh mesh, const std::vector<double>& q,
                            const std::vector<double>& k, const std::vector<double>& v,
                            const std::vector<double>& dout, LevelRows* fwd_rows,
                            LevelRows* all_rows, bool* reported) {
  std::mutex mu;
  *fwd_rows = *all_rows = {};
  *reported = true;
  std::vector<LevelRows> fwd(static_cast<size_t>(s.cp));  // per rank
  testing::RankHooks hooks;
  hooks.comm = [&](Communicator& local) {
    return std::make_unique<LevelCountingComm>(local, mesh);
  };
  const auto counting = [](Communicator& c) -> LevelCountingComm& {
    return static_cast<LevelCountingComm&>(c);
  };
  // The key agreement's all-gather is no exchange of rows.
  hooks.after_key = [&](Communicator& c, const DistAttnRuntime&) { counting(c).reset(); };
  hooks.after_forward = [&](Communicator& c, const DistAttnRuntime&) {
    fwd[c.rank()] = {counting(c).inter_rows, counting(c).intra_rows};
  };
  hooks.after_backward = [&](Communicator& c, const DistAttnRuntime& rt) {
    const LevelCountingComm& comm = counting(c);
    const LevelRows f = fwd[c.rank()];
    const CommVolume want = rt.comm_rows();
    const bool as_reported = rt.hier_plan() != nullptr
                                 ? f.inter == want.inter_rows && f.intra == want.intra_rows
                                 : f.inter + f.intra == want.intra_rows;
    std::lock_guard lock(mu);
    fwd_rows->inter += f.inter;
    fwd_rows->intra += f.intra;
    all_rows->inter += comm.inter_rows;
    all_rows->intra += comm.intra_rows;
    *reported = *reported && as_reported && (rt.hier_plan() == nullptr || comm.one_level);
  };
  return testing::run(s, q, k, v, dout, hooks);
}

struct FlatAndHier {
  LevelRows flat_rows, flat_all, hier_rows, hier_all;
};

// Runs case s on fresh random inputs flat, then hierarchical on `mesh`, and checks what holds
// for every case: the same results (dQ stays local: the same sums; dK / dV are summed in
// another order), each run moving in the forward what its plan reports, each hierarchical
// exchange within one level, and no more inter-node rows than flat. Returns the rows moved.
FlatAndHier flat_and_hier(testing::CaseSpec s, CommMesh mesh, std::mt19937_64& rng) {
  const int64_t sk = s.total_kv ? s.total_kv : s.total;
  const auto q = testing::random_values(rng, s.total * s.hq * s.d);
  const auto k = testing::random_values(rng, sk * s.hkv * s.d);
  const auto v = testing::random_values(rng, sk * s.hkv * s.d);
  const auto dout = testing::random_values(rng, s.total * s.hq * s.d);
  clear_key_cache();
  FlatAndHier r;
  bool flat_ok = false, hier_ok = false;
  const testing::Result flat =
      run_counted(s, mesh, q, k, v, dout, &r.flat_rows, &r.flat_all, &flat_ok);
  s.config.hier_mesh = mesh;
  const testing::Result hier =
      run_counted(s, mesh, q, k, v, dout, &r.hier_rows, &r.hier_all, &hier_ok);
  EXPECT_EQ(hier.out, flat.out);
  EXPECT_EQ(hier.lse, flat.lse);
  EXPECT_EQ(hier.dq, flat.dq);
  EXPECT_LE(rel_err(hier.dk, flat.dk), 1e-13);
  EXPECT_LE(rel_err(hier.dv, flat.dv), 1e-13);
  EXPECT_TRUE(flat_ok);
  EXPECT_TRUE(hier_ok) << "an exchange spans both levels, or the rows moved are not the "
                          "plan's comm_rows()";
  EXPECT_LE(r.hier_rows.inter, r.flat_rows.inter);
  return r;
}

TEST(HierExchange, CallsEqualTheFlatOnesAndCrossNodesOncePerNode) {
  std::mt19937_64 rng(testing::seed(17));
  for (const MeshCase& m : kMeshes) {
    for (int64_t degree : {0, 1, 2}) {
      for (bool full : {false, true}) {
        const CommMesh mesh{m.inter, m.intra};
        testing::CaseSpec s;
        s.cp = mesh.size();
        s.total = 6 * s.cp + 3;
        s.chunk = 2;
        s.hq = 2;
        s.hkv = 1;
        s.d = 4;
        s.slices = full ? std::vector<AttnSlice>{{{0, s.total}, {0, s.total}, AttnMaskType::kFull}}
                        : testing::random_slices(rng, s.total, s.total, 6);
        s.config.overlap_config.degree = degree;
        s.config.overlap_config.min_chunk_size = 1;
        SCOPED_TRACE(name(m, degree) + (full ? " full mask" : " random mask"));
        const auto [flat_rows, flat_all, hier_rows, hier_all] = flat_and_hier(s, mesh, rng);
        // The backward fetches again, and its reduce moves every fetched row back.
        for (const auto& [fwd, all] : {std::pair{flat_rows, flat_all}, {hier_rows, hier_all}}) {
          EXPECT_EQ(all.inter, 3 * fwd.inter);
          EXPECT_EQ(all.intra, 3 * fwd.intra);
        }
        if (full) {
          // Every rank needs every row: flat, each of a node's ranks fetches each remote row;
          // hierarchical, one of them does.
          EXPECT_EQ(hier_rows.inter * m.intra, flat_rows.inter);
        }
        if (HasFailure()) return;
      }
    }
  }
  clear_key_cache();
}

// Cross-attention, padded and uneven: the hierarchical path brings the remote K/V rows from
// their K/V owners as the flat one does (outputs bit for bit), each exchange within one level.
TEST(HierExchange, CrossAttentionCallsEqualTheFlatOnes) {
  std::mt19937_64 rng(testing::seed(18));
  int crossing = 0;  // cases where remote K/V rows cross nodes
  for (const MeshCase& m : {MeshCase{2, 2}, MeshCase{2, 4}, MeshCase{3, 2}}) {
    for (int64_t degree : {0, 2}) {
      for (bool uneven : {false, true}) {
        const CommMesh mesh{m.inter, m.intra};
        testing::CaseSpec s;
        s.cp = mesh.size();
        s.total = 4 * s.cp + 3;
        s.total_kv = 7 * s.cp + 1;
        s.chunk = 2;
        s.hq = 2;
        s.hkv = 1;
        s.d = 4;
        s.slices = testing::random_slices(rng, s.total, s.total_kv, 6);
        s.config.overlap_config.degree = degree;
        s.config.overlap_config.min_chunk_size = 1;
        s.config.dispatch_config.uneven_shard = uneven;
        if (uneven) s.config.dispatch_config.alg.type = DispatchAlgType::kSequential;
        SCOPED_TRACE(name(m, degree) + (uneven ? " uneven" : ""));
        const auto [flat_rows, flat_all, hier_rows, hier_all] = flat_and_hier(s, mesh, rng);
        crossing += flat_rows.inter > 0;
        if (HasFailure()) return;
      }
    }
  }
  if (testing::fixed_cases()) {
    EXPECT_GE(crossing, 8);  // of 12: the cases do exercise both levels
  }
  clear_key_cache();
}

}  // namespace
}  // namespace magi
