// NcclCommunicator: the Communicator of comm.h over NCCL point-to-point, for C++ users (CUDA
// builds with NCCL; target magi_nccl). The header names no CUDA or NCCL type: streams are the
// opaque `void*` of comm.h (a cudaStream_t) and the group's unique id travels as bytes.
//
// An exchange runs on the communicator's own stream, after the producer stream's work queued so
// far (an event), as one ncclGroupStart/ncclGroupEnd of ncclSend/ncclRecv to every peer with a
// non-zero count (the rank itself included). Its handle is an event recorded on that stream
// when the group ends: wait() synchronises the host with it, wait_on(s) makes stream s wait.
//
// Bootstrap: every rank needs the same id. nccl_new_unique_id() makes one (on one rank); ship
// its bytes to the others however the program likes (MPI, a store, a shared file:
// nccl_unique_id_from_file), then construct NcclCommunicator on every rank.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "magi/comm.h"

namespace magi {

/// A fresh NCCL unique id (ncclGetUniqueId): an opaque byte string of NCCL_UNIQUE_ID_BYTES
/// (128) bytes. Call it on one rank and give the same bytes to every rank of the group.
std::string nccl_new_unique_id();

/// Shares a unique id through a file every rank can read (a shared file system or one host's
/// /tmp): rank 0 makes a fresh id and publishes it at `path` atomically (written beside it, then
/// renamed); the other ranks poll until it exists, for at most `timeout`. Returns the id on every
/// rank. The file must not exist beforehand (a stale one from an earlier run would hand out its
/// dead id: rank 0 refuses to overwrite it); rank 0 may remove it once the communicators exist.
std::string nccl_unique_id_from_file(const std::string& path, int64_t rank,
                                     std::chrono::milliseconds timeout = std::chrono::minutes(5));

class NcclCommunicator final : public Communicator {
 public:
  /// Joins the group of `size` ranks named by `unique_id` as `rank`, on CUDA device `device`.
  /// Collective: blocks until every rank has joined (ncclCommInitRank), so in one process the
  /// ranks must be constructed from concurrent threads. Creates the communicator's own stream
  /// (non-blocking) on `device`.
  NcclCommunicator(std::string_view unique_id, int64_t rank, int64_t size, int device);
  ~NcclCommunicator() override;
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int64_t rank() const override;
  int64_t size() const override;
  /// "nccl:" + a hash of the unique id: the same on every member, different across groups.
  std::string group_id() const override;

  /// comm.h's contract. `send` and `recv` are contiguous CUDA buffers on this communicator's
  /// device; `stream` (a cudaStream_t; nullptr: the legacy default stream) produced `send`.
  /// Returns at once; NCCL errors of the launch throw here, naming the failing call.
  std::unique_ptr<CommHandle> all_to_all_v(const TensorView& send,
                                           std::span<const int64_t> send_counts,
                                           const TensorView& recv,
                                           std::span<const int64_t> recv_counts, int64_t row_bytes,
                                           void* stream) override;
  using Communicator::all_to_all_v;

  /// The stream every exchange runs on (a cudaStream_t), e.g. to find it in a trace.
  void* stream() const;
  /// The CUDA device of this rank.
  int device() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace magi
