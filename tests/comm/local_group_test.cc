// LocalGroup under the stream-aware interface: the producer stream plays no part and wait_on
// completes the exchange like wait() (host buffers are already in order).
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "magi/comm.h"
#include "testing/expect_error.h"

namespace magi {
namespace {

using testing::expect_error;

TEST(LocalGroup, WaitOnCompletesTheExchangeWhateverTheStream) {
  int stream_token = 0;  // any pointer: LocalGroup never dereferences a stream
  for (void* stream : {static_cast<void*>(nullptr), static_cast<void*>(&stream_token)}) {
    std::vector<std::vector<float>> got(3);
    run_local_ranks(3, [&](Communicator& comm) {
      const int64_t r = comm.rank();
      // Rank r sends rows {10r + d} to rank d (one row each, two floats per row).
      std::vector<float> send, recv(6, -1.0f);
      for (int64_t d = 0; d < 3; ++d) send.insert(send.end(), {10.0f * r + d, 0.5f});
      const std::vector<int64_t> one(3, 1);
      auto h = comm.all_to_all_v(TensorView::contiguous(send.data(), DType::kFloat32, {3, 2}), one,
                                 TensorView::contiguous(recv.data(), DType::kFloat32, {3, 2}), one,
                                 8, stream);
      h->wait_on(stream);
      got[r] = recv;
    });
    for (int64_t r = 0; r < 3; ++r) {
      EXPECT_EQ(got[r], (std::vector<float>{0.0f + r, 0.5f, 10.0f + r, 0.5f, 20.0f + r, 0.5f}));
    }
  }
}

// Counts that the buffers cannot hold, or negative ones, are named before anything is copied,
// and the call aborts the group (its exchanges no longer match its peers').
TEST(LocalGroup, CountsBeyondTheBuffersAreRefused) {
  std::vector<float> buf(4, 0.0f);
  const TensorView two = TensorView::contiguous(buf.data(), DType::kFloat32, {2, 2});
  const std::vector<int64_t> eight{8}, minus{-1}, one{1};
  const auto refused = [&](auto call, const std::string& needle) {
    LocalGroup group(1);
    expect_error([&] { call(group.member(0)); }, needle);
    expect_error([&] { group.member(0).all_to_all_v(two, one, two, one, 8, nullptr)->wait(); },
                 "abandoned");
  };
  refused([&](Communicator& c) { c.all_to_all_v(two, one, two, eight, 8, nullptr); },
          "recv = float32[2, 2] cpu holds 16 bytes, less than 8 rows");
  refused([&](Communicator& c) { c.all_to_all_v(two, minus, two, minus, 8, nullptr); },
          "send_counts[0] = -1");
  refused([&](Communicator& c) { c.all_to_all_v(two, one, two, one, 0, nullptr); },
          "row_bytes = 0");
  LocalGroup group(1);
  group.member(0).all_to_all_v(two, one, two, one, 8, nullptr)->wait();  // sound counts
}

// A rank that fails its own checks releases its peer at once (not after the 5-minute timeout).
TEST(LocalGroup, APeerOfARefusedCallIsReleased) {
  std::vector<float> buf(4, 0.0f);
  const TensorView two = TensorView::contiguous(buf.data(), DType::kFloat32, {2, 2});
  LocalGroup group(2);
  std::string peer_error;
  std::thread peer([&] {
    try {
      const std::vector<int64_t> one{1, 1};
      group.member(1).all_to_all_v(two, one, two, one, 8, nullptr)->wait();
    } catch (const Error& e) {
      peer_error = e.what();
    }
  });
  const std::vector<int64_t> bad{1, -1};
  expect_error([&] { group.member(0).all_to_all_v(two, bad, two, bad, 8, nullptr); },
               "send_counts[1] = -1");
  peer.join();
  EXPECT_NE(peer_error.find("abandoned"), std::string::npos) << peer_error;
}

// A handle that outlives its group fails its wait (the group is gone), with no use after free.
TEST(LocalGroup, AHandleMayOutliveItsGroup) {
  std::vector<float> buf(4, 0.0f);
  const TensorView two = TensorView::contiguous(buf.data(), DType::kFloat32, {2, 2});
  std::unique_ptr<CommHandle> pending;
  {
    LocalGroup group(2);
    const std::vector<int64_t> one{1, 1};
    pending = group.member(0).all_to_all_v(two, one, two, one, 8, nullptr);
  }
  expect_error([&] { pending->wait(); }, "abandoned");
  pending.reset();
}

}  // namespace
}  // namespace magi
