// Communicator: the one collective the runtime needs, all_to_all_v over rows, asynchronous.
//
// Implementations: LocalGroup (ranks as threads of one process; tests and the CPU demo),
// and in Python one over torch.distributed (gloo on CPU, NCCL on GPU).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "magi/tensor.h"

namespace magi {

/// Completion of an asynchronous exchange. wait() must be called exactly once; until it
/// returns, neither buffer may be touched or freed.
class CommHandle {
 public:
  virtual ~CommHandle() = default;
  virtual void wait() = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int64_t rank() const = 0;
  virtual int64_t size() const = 0;
  /// Identifies the group (the same string on every member, different across groups); keys
  /// are cached per group.
  virtual std::string group_id() const = 0;

  /// Sends send_counts[r] consecutive rows of `send` to rank r (in rank order) and receives
  /// recv_counts[r] rows from rank r into `recv` (in rank order). Rows are `row_bytes` bytes.
  /// Every rank of the group must issue its exchanges in the same order. `send` and `recv`
  /// are workspace buffers of the caller's device: [rows, ...] contiguous.
  virtual std::unique_ptr<CommHandle> all_to_all_v(const TensorView& send,
                                                   std::span<const int64_t> send_counts,
                                                   const TensorView& recv,
                                                   std::span<const int64_t> recv_counts,
                                                   int64_t row_bytes) = 0;
};

/// In-process group: rank i of `size` is the communicator returned by member(i), used from
/// its own thread. Exchanges copy memory directly (CPU tensors).
class LocalGroup {
 public:
  explicit LocalGroup(int64_t size);
  ~LocalGroup();
  LocalGroup(const LocalGroup&) = delete;
  LocalGroup& operator=(const LocalGroup&) = delete;
  Communicator& member(int64_t rank);
  int64_t size() const;
  /// Makes every pending and future exchange throw (a rank failed; the others must not hang).
  void abort();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

/// Runs fn(comm) for every rank of a fresh LocalGroup of `size`, one thread each. If a rank
/// throws, the group is aborted and the first error is rethrown after all threads end.
void run_local_ranks(int64_t size, const std::function<void(Communicator&)>& fn);

}  // namespace magi
