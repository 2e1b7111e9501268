// The Communicator trampoline: Python subclasses of _C.Communicator (magi_attention.dist) pass
// their rank, size and group id to the constructor (fixed for the communicator's life, so the
// core reads them without calling into Python) and implement all_to_all_v, which the core calls
// through this class.
//
// Python's all_to_all_v receives each buffer as (address, nbytes, is_cuda, device_index) plus the
// per-rank row counts, the row size and the producer stream (a cudaStream_t as an int, 0 for
// none), and returns an object whose wait() completes the exchange on the host and whose
// optional wait_on(stream) orders that stream after it (without it, wait_on means wait()). The GIL stays held by the caller of the core (the core calls back on the calling
// thread); every entry here still acquires it so a call from another thread is safe too.
#pragma once

#include <pybind11/pybind11.h>

#include "magi/comm.h"

namespace magi::python {

class PyCommunicator : public Communicator {
 public:
  PyCommunicator(int64_t rank, int64_t size, std::string group_id);
  int64_t rank() const override { return rank_; }
  int64_t size() const override { return size_; }
  std::string group_id() const override { return group_id_; }
  std::unique_ptr<CommHandle> all_to_all_v(const TensorView& send,
                                           std::span<const int64_t> send_counts,
                                           const TensorView& recv,
                                           std::span<const int64_t> recv_counts,
                                           int64_t row_bytes, void* stream) override;

 private:
  int64_t rank_, size_;
  std::string group_id_;
};

void register_communicator(pybind11::module_& m);

}  // namespace magi::python
