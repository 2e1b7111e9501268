// Ranks that disagree on the key (issue 15, item 6) all get an error naming the difference at
// key creation, through one small collective per new key; the knob turns it off.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "magi/check.h"
#include "magi/dist_attn.h"
#include "testing/host_tensor.h"

namespace magi {
namespace {

using testing::HostTensor;

using Slices = std::vector<AttnSlice>;
const Slices kCausal = {{{0, 64}, {0, 64}, AttnMaskType::kCausal}};
const Slices kFull = {{{0, 64}, {0, 64}, AttnMaskType::kFull}};

/// Counts a communicator's exchanges.
class CountingComm : public Communicator {
 public:
  explicit CountingComm(Communicator& c, std::atomic<int>& n) : c_(c), n_(n) {}
  int64_t rank() const override { return c_.rank(); }
  int64_t size() const override { return c_.size(); }
  std::string group_id() const override { return c_.group_id(); }
  std::unique_ptr<CommHandle> all_to_all_v(const TensorView& s, std::span<const int64_t> sc,
                                           const TensorView& r, std::span<const int64_t> rc,
                                           int64_t row_bytes, void* stream) override {
    ++n_;
    return c_.all_to_all_v(s, sc, r, rc, row_bytes, stream);
  }

 private:
  Communicator& c_;
  std::atomic<int>& n_;
};

/// Errors of every rank when rank r calls make(r, comm); "" where it returned.
std::vector<std::string> errors_of(int64_t cp,
                                   const std::function<void(int64_t, Communicator&)>& make) {
  std::vector<std::string> out(static_cast<size_t>(cp));
  std::mutex mu;
  run_local_ranks(cp, [&](Communicator& comm) {
    try {
      make(comm.rank(), comm);
    } catch (const Error& e) {
      std::lock_guard lock(mu);
      out[static_cast<size_t>(comm.rank())] = e.what();
    }
  });
  return out;
}

void expect_all(const std::vector<std::string>& errors, const std::string& needle) {
  for (size_t r = 0; r < errors.size(); ++r) {
    EXPECT_NE(errors[r].find(needle), std::string::npos) << "rank " << r << ": " << errors[r];
    EXPECT_EQ(errors[r], errors[0]) << "every rank raises the same error";
  }
}

TEST(KeyAgreement, DisagreeingMasksFailOnEveryRank) {
  clear_key_cache();
  expect_all(errors_of(3,
                       [](int64_t r, Communicator& c) {
                         make_flex_key(r == 2 ? kFull : kCausal, 64, 64, 2, 2, 8, c, {}, 8);
                       }),
             "disagree on the mask: rank 0 has 1 slices");
}

TEST(KeyAgreement, DisagreeingLengthsHeadsChunksAndConfigsAreNamed) {
  clear_key_cache();
  expect_all(errors_of(2,
                       [](int64_t r, Communicator& c) {
                         make_flex_key(kCausal, r ? 96 : 64, r ? 96 : 64, 2, 2, 8, c, {}, 8);
                       }),
             "total_seqlen_q: rank 0 has 64, rank 1 has 96");
  expect_all(errors_of(2,
                       [](int64_t r, Communicator& c) {
                         make_flex_key(kCausal, 64, 64, 2, 2, r ? 16 : 8, c, {}, 8);
                       }),
             "head_dim: rank 0 has 8, rank 1 has 16");
  expect_all(errors_of(2,
                       [](int64_t r, Communicator& c) {
                         make_flex_key(kCausal, 64, 64, 2, 2, 8, c, {}, r ? 4 : 8);
                       }),
             "chunk_size");
  expect_all(errors_of(2,
                       [](int64_t r, Communicator& c) {
                         DistAttnConfig cfg;
                         cfg.overlap_config.degree = r;
                         make_flex_key(kCausal, 64, 64, 2, 2, 8, c, cfg, 8);
                       }),
             "dist_attn_config");
  expect_all(errors_of(2,
                       [](int64_t r, Communicator& c) {
                         DistAttnConfig cfg;
                         if (r) cfg.hier_mesh = CommMesh{2, 1};
                         make_flex_key(kCausal, 64, 64, 2, 2, 8, c, cfg, 8);
                       }),
             "dist_attn_config");
}

// A request that disagreed (nothing cached) can be made again: still an error, still on every
// rank; after the ranks agree once, the key is cached and asking again costs no exchange.
TEST(KeyAgreement, ErrorsRepeatAndAgreementCaches) {
  clear_key_cache();
  for (int i = 0; i < 2; ++i) {
    expect_all(errors_of(2,
                         [](int64_t r, Communicator& c) {
                           make_flex_key(r ? kCausal : kFull, 64, 64, 2, 2, 8, c, {}, 8);
                         }),
               "the mask");
  }
  errors_of(2, [](int64_t, Communicator& c) { make_flex_key(kCausal, 64, 64, 2, 2, 8, c, {}, 8); });
  EXPECT_EQ(key_cache_size(), 2u);
}

TEST(KeyAgreement, OneCollectivePerNewKeyAndNoneWhenSwitchedOff) {
  clear_key_cache();
  std::atomic<int> n{0};
  run_local_ranks(2, [&](Communicator& base) {
    CountingComm c(base, n);
    make_flex_key(kCausal, 64, 64, 2, 2, 8, c, {}, 8);
    make_flex_key(kCausal, 64, 64, 2, 2, 8, c, {}, 8);  // cached: no exchange
  });
  EXPECT_EQ(n.load(), 2);  // 2 ranks x 1 new key
  ASSERT_EQ(setenv("MAGI_ATTENTION_CHECK_KEY_CONSISTENCY", "0", 1), 0);
  n = 0;
  const auto errors = errors_of(2, [&](int64_t r, Communicator& base) {
    CountingComm c(base, n);
    make_flex_key(r ? kFull : kCausal, 64, 64, 2, 2, 8, c, {}, 8);
  });
  EXPECT_EQ(errors, (std::vector<std::string>{"", ""}));
  EXPECT_EQ(n.load(), 0);
  ASSERT_EQ(setenv("MAGI_ATTENTION_CHECK_KEY_CONSISTENCY", "maybe", 1), 0);
  clear_key_cache();  // a new key reads the knob
  expect_all(
      errors_of(
          2, [](int64_t, Communicator& c) { make_flex_key(kCausal, 64, 64, 2, 2, 8, c, {}, 8); }),
      "MAGI_ATTENTION_CHECK_KEY_CONSISTENCY = 'maybe'");
  unsetenv("MAGI_ATTENTION_CHECK_KEY_CONSISTENCY");
}

// Ranks that are threads of one process share the cache; each must evict by its own calls only.
// Three ranks making 334 keys each (1002 in all, above the default capacity of 1000) and then the
// same keys again, with an exchange after each: with one LRU for the group, which rank's key was
// evicted depended on the threads' timing, so ranks disagreed on what was cached and paired the
// key check's collective with another exchange.
TEST(KeyAgreement, RanksThatAreThreadsEvictAlike) {
  clear_key_cache();
  const auto errors = errors_of(3, [](int64_t, Communicator& c) {
    for (int pass = 0; pass < 2; ++pass) {
      for (int i = 0; i < 334; ++i) {
        const std::vector<AttnSlice> m = {{{0, 16}, {0, 16}, AttnMaskType::kFull},
                                          {{0, 1 + i % 16},
                                           {0, 1 + (i / 16) % 16},
                                           i < 256 ? AttnMaskType::kFull : AttnMaskType::kCausal}};
        const auto rt = make_flex_key(m, 16, 16, 0, 0, 0, c, {}, 4);
        HostTensor x(DType::kFloat64, {rt->shard_seqlen(), 3}), y(DType::kFloat64, {16, 3});
        undispatch(*rt, c, x.view(), y.view());
      }
    }
  });
  EXPECT_EQ(errors, (std::vector<std::string>{"", "", ""}));
  EXPECT_EQ(key_cache_size(), 3u * 334u);
  clear_key_cache();
}

}  // namespace
}  // namespace magi
