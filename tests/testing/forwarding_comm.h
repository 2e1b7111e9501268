// A communicator that forwards every call to another one: the base of the test communicators
// that watch or adjust exchanges (they override all_to_all_v and call this one's).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "magi/comm.h"

namespace magi::testing {

class ForwardingComm : public Communicator {
 public:
  explicit ForwardingComm(Communicator& inner) : inner_(inner) {}
  int64_t rank() const override { return inner_.rank(); }
  int64_t size() const override { return inner_.size(); }
  std::string group_id() const override { return inner_.group_id(); }
  std::unique_ptr<CommHandle> all_to_all_v(const TensorView& send,
                                           std::span<const int64_t> send_counts,
                                           const TensorView& recv,
                                           std::span<const int64_t> recv_counts, int64_t row_bytes,
                                           void* stream) override {
    return inner_.all_to_all_v(send, send_counts, recv, recv_counts, row_bytes, stream);
  }

 private:
  Communicator& inner_;
};

}  // namespace magi::testing
