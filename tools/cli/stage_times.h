// Per-stage times of the CPU pipeline, measured from the exchanges a rank posts and waits on:
// the executor posts every stage's fetch first, runs the host stage, then waits on stage s and
// runs its kernel; backward posts each stage's reduce when the stage's kernel ends and waits on
// all reduces at the end. So the gaps between waits are the kernels.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "magi/comm.h"

namespace magi::cli {

/// A Communicator that forwards to another and records, per exchange, when it was posted and
/// when its wait began and ended (seconds since the last start_pass()).
class RecordingComm : public Communicator {
 public:
  struct Event {
    double post = 0, wait_begin = 0, wait_end = 0;
  };
  explicit RecordingComm(Communicator& c) : c_(c), origin_(Clock::now()) {}
  int64_t rank() const override { return c_.rank(); }
  int64_t size() const override { return c_.size(); }
  std::string group_id() const override { return c_.group_id(); }
  std::unique_ptr<CommHandle> all_to_all_v(const TensorView& send, std::span<const int64_t> sc,
                                           const TensorView& recv, std::span<const int64_t> rc,
                                           int64_t row_bytes, void* stream) override;
  /// Starts a new pass: clears the events and restarts the clock.
  void start_pass();
  double now() const;
  const std::vector<Event>& events() const { return events_; }

 private:
  using Clock = std::chrono::steady_clock;
  Communicator& c_;
  Clock::time_point origin_;
  std::vector<Event> events_;
};

/// One rank's pass, cut into stages.
struct MeasuredPass {
  double host_s = 0;            // host-stage kernel
  std::vector<double> stage_s;  // per stage: kernel
  double wait_s = 0;            // inside waits (LocalGroup copies included)
  double end_s = 0;             // pass end
};

/// The forward pass from its events (num_stages fetches, each of one or more exchanges).
MeasuredPass forward_stages(const std::vector<RecordingComm::Event>& ev, int64_t num_stages,
                            double end_s);
/// The backward pass: fetches, then as many reduces.
MeasuredPass backward_stages(const std::vector<RecordingComm::Event>& ev, int64_t num_stages,
                             double end_s);

/// Returns when every rank of the group has called it (an empty exchange).
void barrier(Communicator& comm);

}  // namespace magi::cli
