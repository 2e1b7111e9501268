// The executor's exchanges: K and V of a stage travel as one all_to_all_v of K|V rows, and the
// partial dK|dV of a stage as one on the way back (half the collectives, the same bytes), each
// posted on the call's stream and consumed through wait_on(that stream).
#include <gtest/gtest.h>

#include <deque>
#include <mutex>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "magi/dist_attn.h"
#include "testing/forwarding_comm.h"
#include "testing/host_tensor.h"
#include "testing/seed.h"

namespace magi {
namespace {

/// One exchange as a rank posted it.
struct Posted {
  int64_t row_bytes = 0, send_rows = 0, recv_rows = 0;
  void* stream = nullptr;
  bool waited_on_stream = false;
};

/// Forwards to another communicator, logging every exchange and how its handle was completed.
class LoggingComm final : public testing::ForwardingComm {
 public:
  explicit LoggingComm(Communicator& c) : ForwardingComm(c) {}
  std::unique_ptr<CommHandle> all_to_all_v(const TensorView& send,
                                           std::span<const int64_t> send_counts,
                                           const TensorView& recv,
                                           std::span<const int64_t> recv_counts, int64_t row_bytes,
                                           void* stream) override {
    struct Handle final : CommHandle {
      std::unique_ptr<CommHandle> inner;
      Posted* log;
      void wait() override { inner->wait(); }
      void wait_on(void* s) override {
        log->waited_on_stream = s == log->stream;
        inner->wait_on(s);
      }
    };
    log_.push_back({row_bytes, std::accumulate(send_counts.begin(), send_counts.end(), int64_t{0}),
                    std::accumulate(recv_counts.begin(), recv_counts.end(), int64_t{0}), stream});
    auto h = std::make_unique<Handle>();
    h->inner =
        ForwardingComm::all_to_all_v(send, send_counts, recv, recv_counts, row_bytes, stream);
    h->log = &log_.back();  // a deque: stays valid as more are logged
    return h;
  }
  std::vector<Posted> take() {
    std::vector<Posted> out(log_.begin(), log_.end());
    log_.clear();
    return out;
  }

 private:
  std::deque<Posted> log_;
};

TEST(PackedExchange, KAndVTravelAsOneExchangePerStageAndDkDvAsOneOnTheWayBack) {
  const int64_t total = 48, hq = 4, hkv = 2, d = 8;
  const std::vector<AttnSlice> slices = {{{0, 48}, {0, 48}, AttnMaskType::kCausal}};
  for (int64_t cp : {2, 3}) {
    for (int64_t degree : {0, 1, 2}) {
      SCOPED_TRACE("cp " + std::to_string(cp) + " degree " + std::to_string(degree));
      clear_key_cache();
      std::mutex mu;
      std::vector<std::vector<Posted>> fwd(cp), bwd(cp);
      std::vector<size_t> stages(cp);
      run_local_ranks(cp, [&](Communicator& local) {
        DistAttnConfig config;
        config.overlap_config.degree = degree;
        config.overlap_config.min_chunk_size = 1;
        const auto rt = make_flex_key(slices, total, total, hq, hkv, d, local, config, 4);
        const int64_t n = rt->shard_seqlen();
        std::mt19937_64 rng(testing::seed(7 + local.rank()));
        auto random = [&](std::vector<int64_t> shape) {
          testing::HostTensor t(DType::kBFloat16, shape);
          t.set(testing::random_values(rng, t.numel()));
          return t;
        };
        const testing::HostTensor q = random({n, hq, d}), k = random({n, hkv, d}),
                                  v = random({n, hkv, d}), dout = random({n, hq, d});
        testing::HostTensor out(DType::kBFloat16, {n, hq, d}), lse(DType::kFloat32, {n, hq});
        testing::HostTensor dq(DType::kBFloat16, {n, hq, d}), dk(DType::kBFloat16, {n, hkv, d}),
            dv(DType::kBFloat16, {n, hkv, d});
        LoggingComm comm(local);
        calc_attn(*rt, comm, q.view(), k.view(), v.view(), {}, out.view(), lse.view());
        std::vector<Posted> f = comm.take();
        calc_attn_backward(*rt, comm, q.view(), k.view(), v.view(), out.view(), lse.view(),
                           dout.view(), {}, dq.view(), dk.view(), dv.view());
        std::vector<Posted> b = comm.take();
        std::lock_guard lock(mu);
        stages[local.rank()] = rt->rank_plan().stages.size();
        fwd[local.rank()] = std::move(f);
        bwd[local.rank()] = std::move(b);
      });
      const int64_t kv_row = 2 * hkv * d * 2;   // K|V rows in bf16
      const int64_t dkv_row = 2 * hkv * d * 4;  // dK|dV partials in fp32
      for (int64_t r = 0; r < cp; ++r) {
        SCOPED_TRACE("rank " + std::to_string(r));
        const size_t ns = stages[r];
        ASSERT_EQ(fwd[r].size(), ns);      // one fetch per stage
        ASSERT_EQ(bwd[r].size(), 2 * ns);  // one fetch and one reduce per stage
        for (size_t s = 0; s < ns; ++s) {
          EXPECT_EQ(fwd[r][s].row_bytes, kv_row);
          EXPECT_EQ(bwd[r][s].row_bytes, kv_row);
          EXPECT_EQ(bwd[r][ns + s].row_bytes, dkv_row);
          // The reduce is the fetch reversed: the rows that came in go home.
          EXPECT_EQ(bwd[r][ns + s].send_rows, bwd[r][s].recv_rows);
          EXPECT_EQ(bwd[r][ns + s].recv_rows, bwd[r][s].send_rows);
        }
        for (const auto* log : {&fwd[r], &bwd[r]}) {
          for (const Posted& p : *log) EXPECT_TRUE(p.waited_on_stream);
        }
      }
    }
  }
}

}  // namespace
}  // namespace magi
