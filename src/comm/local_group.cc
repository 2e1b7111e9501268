// LocalGroup: ranks as threads of one process. An exchange is matched across ranks by its
// sequence number (each rank counts its own calls); the data moves in wait(), when every rank
// has posted: each receiver copies its pieces straight out of the senders' buffers, and no
// rank leaves until all have copied, so send buffers stay valid.
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "magi/check.h"
#include "magi/comm.h"

namespace magi {

// NOTE: shared with the handles (enable_shared_from_this): a handle that outlives its group
// finds the state aborted, not freed.
struct LocalGroup::State : std::enable_shared_from_this<LocalGroup::State> {
  struct Post {
    const std::byte* send = nullptr;
    std::vector<int64_t> send_counts;
    std::byte* recv = nullptr;
    std::vector<int64_t> recv_counts;
    int64_t row_bytes = 0;
  };
  struct Exchange {
    std::vector<Post> posts;
    int64_t posted = 0, copied = 0, left = 0;
  };

  class Member;
  class Handle;

  explicit State(int64_t n) : size(n) {}
  int64_t size;
  std::mutex mu;
  std::condition_variable cv;
  std::map<uint64_t, Exchange> exchanges;
  std::vector<std::unique_ptr<Member>> members;
  std::string id = "local:" + std::to_string(reinterpret_cast<uintptr_t>(this));
  bool aborted = false;

  void abort() {
    {
      std::lock_guard lock(mu);
      aborted = true;
    }
    cv.notify_all();
  }

  // Waits for pred under the lock; a rank that never comes is an error, not a hang.
  template <typename Pred>
  void wait_for(std::unique_lock<std::mutex>& lock, int64_t rank, uint64_t seq, Pred pred) {
    if (!cv.wait_for(lock, std::chrono::minutes(5), [&] { return aborted || pred(); })) {
      MAGI_FAIL("LocalGroup: rank ", rank, " waited 5 minutes in exchange #", seq,
                ": some rank did not take part");
    }
    MAGI_CHECK(!aborted, "LocalGroup: exchange #", seq, " on rank ", rank,
               " abandoned: another rank failed");
  }
};

class LocalGroup::State::Handle : public CommHandle {
 public:
  Handle(std::shared_ptr<State> s, int64_t rank, uint64_t seq)
      : keep_(std::move(s)), s_(*keep_), rank_(rank), seq_(seq) {}
  ~Handle() override {
    if (!waited_) {
      try {
        wait();
      } catch (...) {
      }
    }
  }
  void wait() override {
    MAGI_CHECK(!waited_, "CommHandle::wait called twice");
    waited_ = true;
    std::unique_lock lock(s_.mu);
    Exchange& ex = s_.exchanges[seq_];
    s_.wait_for(lock, rank_, seq_, [&] { return ex.posted == s_.size; });
    const Post& me = ex.posts[rank_];
    int64_t dst_row = 0;
    for (int64_t src = 0; src < s_.size; ++src) {
      const Post& p = ex.posts[src];
      MAGI_CHECK(p.row_bytes == me.row_bytes, "all_to_all_v #", seq_, ": rank ", src,
                 " sends rows of ", p.row_bytes, " bytes, rank ", rank_, " expects ", me.row_bytes);
      MAGI_CHECK(p.send_counts[rank_] == me.recv_counts[src], "all_to_all_v #", seq_, ": rank ",
                 src, " sends ", p.send_counts[rank_], " rows to rank ", rank_, ", which expects ",
                 me.recv_counts[src]);
      int64_t src_row = 0;
      for (int64_t r = 0; r < rank_; ++r) src_row += p.send_counts[r];
      const size_t bytes = static_cast<size_t>(me.recv_counts[src] * me.row_bytes);
      if (bytes) {
        std::memcpy(me.recv + dst_row * me.row_bytes, p.send + src_row * p.row_bytes, bytes);
      }
      dst_row += me.recv_counts[src];
    }
    ++ex.copied;
    s_.cv.notify_all();
    s_.wait_for(lock, rank_, seq_, [&] { return ex.copied == s_.size; });
    if (++ex.left == s_.size) s_.exchanges.erase(seq_);
  }

 private:
  std::shared_ptr<State> keep_;
  State& s_;
  int64_t rank_;
  uint64_t seq_;
  bool waited_ = false;
};

class LocalGroup::State::Member : public Communicator {
 public:
  Member(State& s, int64_t rank) : s_(s), rank_(rank) {}
  int64_t rank() const override { return rank_; }
  int64_t size() const override { return s_.size; }
  std::string group_id() const override { return s_.id; }

  std::unique_ptr<CommHandle> all_to_all_v(const TensorView& send,
                                           std::span<const int64_t> send_counts,
                                           const TensorView& recv,
                                           std::span<const int64_t> recv_counts, int64_t row_bytes,
                                           void* /*stream*/) override {
    // A call refused here aborts the group: its peers would otherwise wait for it until the
    // timeout (and this rank's exchanges would no longer match theirs).
    try {
      check_call(send, send_counts, recv, recv_counts, row_bytes);
    } catch (...) {
      s_.abort();
      throw;
    }
    const uint64_t seq = next_seq_++;
    {
      std::lock_guard lock(s_.mu);
      Exchange& ex = s_.exchanges[seq];
      if (ex.posts.empty()) ex.posts.resize(s_.size);
      ex.posts[rank_] = {static_cast<const std::byte*>(send.data),
                         {send_counts.begin(), send_counts.end()},
                         static_cast<std::byte*>(recv.data),
                         {recv_counts.begin(), recv_counts.end()},
                         row_bytes};
      ++ex.posted;
    }
    s_.cv.notify_all();
    return std::make_unique<Handle>(s_.shared_from_this(), rank_, seq);
  }

 private:
  /// The call's arguments; the buffers must hold what the counts say (checked here, where a
  /// bad count is named, rather than as a copy past the end on another rank's thread).
  void check_call(const TensorView& send, std::span<const int64_t> send_counts,
                  const TensorView& recv, std::span<const int64_t> recv_counts,
                  int64_t row_bytes) const {
    MAGI_CHECK(static_cast<int64_t>(send_counts.size()) == s_.size &&
                   static_cast<int64_t>(recv_counts.size()) == s_.size,
               "all_to_all_v: send_counts and recv_counts need ", s_.size, " entries");
    MAGI_CHECK(send.device.type == DeviceType::kCPU && recv.device.type == DeviceType::kCPU,
               "LocalGroup: CPU tensors only, got ", send.describe());
    MAGI_CHECK(row_bytes >= 1, "all_to_all_v: row_bytes = ", row_bytes, ": must be >= 1");
    const auto check_rows = [&](const char* what, std::span<const int64_t> counts,
                                const TensorView& buf) {
      int64_t rows = 0;
      for (size_t r = 0; r < counts.size(); ++r) {
        MAGI_CHECK(counts[r] >= 0, "all_to_all_v: ", what, "_counts[", r, "] = ", counts[r],
                   ": must be >= 0");
        rows += counts[r];
      }
      const int64_t bytes = buf.numel() * static_cast<int64_t>(dtype_size(buf.dtype));
      MAGI_CHECK(rows <= bytes / row_bytes && (rows == 0 || buf.data != nullptr),
                 "all_to_all_v: ", what, " = ", buf.describe(), " holds ", bytes,
                 " bytes, less than ", rows, " rows of ", row_bytes, " bytes");
    };
    check_rows("send", send_counts, send);
    check_rows("recv", recv_counts, recv);
  }

  State& s_;
  int64_t rank_;
  uint64_t next_seq_ = 0;
};

LocalGroup::LocalGroup(int64_t size) : state_(std::make_shared<State>(size)) {
  MAGI_CHECK(size >= 1, "cp_size = ", size, ": must be >= 1");
  for (int64_t r = 0; r < size; ++r) {
    state_->members.push_back(std::make_unique<State::Member>(*state_, r));
  }
}

// Handles not yet waited for then fail (their peers are gone) instead of waiting out the timeout.
LocalGroup::~LocalGroup() { state_->abort(); }

Communicator& LocalGroup::member(int64_t rank) {
  MAGI_CHECK(rank >= 0 && rank < state_->size, "rank = ", rank, ": must be in [0, ", state_->size,
             ")");
  return *state_->members[rank];
}

int64_t LocalGroup::size() const { return state_->size; }

void LocalGroup::abort() { state_->abort(); }

void run_local_ranks(int64_t size, const std::function<void(Communicator&)>& fn) {
  LocalGroup group(size);
  std::vector<std::exception_ptr> errors(size);
  std::vector<std::thread> threads;
  for (int64_t r = 0; r < size; ++r) {
    threads.emplace_back([&, r] {
      try {
        fn(group.member(r));
      } catch (...) {
        errors[r] = std::current_exception();
        group.abort();
      }
    });
  }
  for (auto& t : threads) t.join();
  // The first failure in rank order that is not just another rank's abandoned exchange.
  std::exception_ptr first;
  for (auto& e : errors) {
    if (!e) continue;
    try {
      std::rethrow_exception(e);
    } catch (const Error& err) {
      if (std::string(err.what()).find("abandoned") == std::string::npos) {
        std::rethrow_exception(e);
      }
    } catch (...) {
      std::rethrow_exception(e);
    }
    if (!first) first = e;
  }
  if (first) std::rethrow_exception(first);
}

}  // namespace magi
