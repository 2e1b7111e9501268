// Communicator: the one collective the runtime needs, all_to_all_v over rows, asynchronous and
// stream-ordered.
//
// An exchange takes the stream its send buffer was produced on and returns a handle that either
// the host waits on or a consumer stream is ordered after. Streams are opaque `void*` (a
// cudaStream_t on CUDA; nullptr for host buffers), so this header stays framework-free.
//
// Implementations: LocalGroup (ranks as threads of one process; tests and the CPU demo),
// NcclCommunicator (nccl_comm.h, CUDA builds: C++ users), and in Python one over
// torch.distributed (gloo on CPU, NCCL on GPU).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "magi/tensor.h"

namespace magi {

/// Completion of an asynchronous exchange. Exactly one of wait() and wait_on() must be called,
/// once. Until the exchange is complete for the waiter (the host after wait(); work queued on the
/// consumer stream after wait_on()), neither buffer may be touched or freed.
class CommHandle {
 public:
  virtual ~CommHandle() = default;
  /// Blocks the host until the exchange is complete: recv holds the rows and send may be reused.
  virtual void wait() = 0;
  /// Orders the consumer `stream` after the exchange without blocking the host (where the
  /// implementation can): work queued on `stream` afterwards sees the received rows and may
  /// overwrite send. On CUDA, nullptr is the default stream. The default is wait(): exchanges
  /// that complete on the host (LocalGroup, gloo) need nothing more.
  virtual void wait_on(void* stream) {
    (void)stream;
    wait();
  }
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
  ///
  /// `stream` is the producer stream: the exchange reads `send` (and writes `recv`) only after
  /// the work queued on it so far. nullptr: host buffers, ready now (on CUDA: the default
  /// stream). The call itself does not block on the exchange; the returned handle completes it.
  virtual std::unique_ptr<CommHandle> all_to_all_v(const TensorView& send,
                                                   std::span<const int64_t> send_counts,
                                                   const TensorView& recv,
                                                   std::span<const int64_t> recv_counts,
                                                   int64_t row_bytes, void* stream) = 0;

  /// The same for host-produced buffers (no producer stream).
  std::unique_ptr<CommHandle> all_to_all_v(const TensorView& send,
                                           std::span<const int64_t> send_counts,
                                           const TensorView& recv,
                                           std::span<const int64_t> recv_counts,
                                           int64_t row_bytes) {
    return all_to_all_v(send, send_counts, recv, recv_counts, row_bytes, nullptr);
  }
};

/// In-process group: rank i of `size` is the communicator returned by member(i), used from
/// its own thread. Exchanges copy memory directly (CPU tensors) when the handle is waited on;
/// producer and consumer streams play no part (host work is already in order).
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
  std::shared_ptr<State> state_;  // shared with pending handles (they may outlive the group)
};

/// Runs fn(comm) for every rank of a fresh LocalGroup of `size`, one thread each. If a rank
/// throws, the group is aborted and the first error is rethrown after all threads end.
void run_local_ranks(int64_t size, const std::function<void(Communicator&)>& fn);

}  // namespace magi
