// NcclCommunicator (nccl_comm.h): all_to_all_v as grouped ncclSend/ncclRecv on the
// communicator's own stream, ordered after the producer stream and completed by an event.
#include "magi/nccl_comm.h"

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <cstring>
#include <functional>
#include <numeric>
#include <string>

#include "comm/nccl/nccl_check.h"
#include "kernels/cuda/cuda_check.h"

namespace magi {
namespace {

/// Makes `device` current for a scope and restores the caller's device.
class DeviceScope {
 public:
  explicit DeviceScope(int device) {
    MAGI_CUDA_CHECK(cudaGetDevice(&previous_));
    if (previous_ != device) MAGI_CUDA_CHECK(cudaSetDevice(device));
  }
  ~DeviceScope() { cudaSetDevice(previous_); }
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  int previous_ = 0;
};

/// The end of one exchange: an event recorded on the communicator's stream after the group.
class EventHandle final : public CommHandle {
 public:
  EventHandle(cudaEvent_t done, int device) : done_(done), device_(device) {}
  ~EventHandle() override {
    // NOTE: destroying a pending event is allowed (CUDA frees it once it completes); an
    // unwaited handle therefore leaves the exchange running, as comm.h's contract forbids
    // touching the buffers anyway.
    cudaEventDestroy(done_);
  }
  void wait() override {
    finish();
    MAGI_CUDA_CHECK(cudaEventSynchronize(done_));
  }
  void wait_on(void* stream) override {
    finish();
    DeviceScope scope(device_);
    MAGI_CUDA_CHECK(cudaStreamWaitEvent(static_cast<cudaStream_t>(stream), done_, 0));
  }

 private:
  void finish() {
    MAGI_CHECK(!waited_, "CommHandle: wait/wait_on called twice");
    waited_ = true;
  }
  cudaEvent_t done_;
  int device_;
  bool waited_ = false;
};

/// Bytes of the buffer behind `t` (contiguous, on `device`), checked to hold `rows` rows.
void check_buffer(const TensorView& t, int64_t rows, int64_t row_bytes, int device,
                  const char* name) {
  MAGI_CHECK(t.device.type == DeviceType::kCUDA && t.device.index == device,
             "NcclCommunicator::all_to_all_v: ", name, " = ", t.describe(),
             ": expected a buffer on cuda:", device);
  MAGI_CHECK(t.is_contiguous(), "NcclCommunicator::all_to_all_v: ", name, " = ", t.describe(),
             ": must be contiguous");
  MAGI_CHECK(rows * row_bytes <= t.numel() * static_cast<int64_t>(dtype_size(t.dtype)),
             "NcclCommunicator::all_to_all_v: ", name, " = ", t.describe(), " holds fewer than ",
             rows, " rows of ", row_bytes, " bytes");
}

}  // namespace

struct NcclCommunicator::Impl {
  int64_t rank = 0, size = 0;
  int device = 0;
  std::string group_id;
  ncclComm_t comm = nullptr;
  cudaStream_t stream = nullptr;  // every exchange runs here
  cudaEvent_t ready = nullptr;    // the producer stream's point, re-recorded per exchange
};

NcclCommunicator::NcclCommunicator(std::string_view unique_id, int64_t rank, int64_t size,
                                   int device)
    : impl_(std::make_unique<Impl>()) {
  MAGI_CHECK(size >= 1 && rank >= 0 && rank < size, "NcclCommunicator: rank = ", rank,
             ", size = ", size, ": need 0 <= rank < size");
  ncclUniqueId id;
  MAGI_CHECK(unique_id.size() == sizeof(id.internal), "NcclCommunicator: the unique id has ",
             unique_id.size(), " bytes, expected ", sizeof(id.internal),
             " (nccl_new_unique_id's bytes)");
  std::memcpy(id.internal, unique_id.data(), sizeof(id.internal));
  Impl& m = *impl_;
  m.rank = rank;
  m.size = size;
  m.device = device;
  m.group_id = "nccl:" + std::to_string(std::hash<std::string_view>{}(unique_id));
  DeviceScope scope(device);
  MAGI_CUDA_CHECK(cudaStreamCreateWithFlags(&m.stream, cudaStreamNonBlocking));
  MAGI_CUDA_CHECK(cudaEventCreateWithFlags(&m.ready, cudaEventDisableTiming));
  MAGI_NCCL_CHECK(ncclCommInitRank(&m.comm, static_cast<int>(size), id, static_cast<int>(rank)));
}

NcclCommunicator::~NcclCommunicator() {
  Impl& m = *impl_;
  DeviceScope scope(m.device);
  // NOTE: finish what was posted before the communicator and its stream go away.
  if (m.stream != nullptr) cudaStreamSynchronize(m.stream);
  if (m.comm != nullptr) ncclCommDestroy(m.comm);
  if (m.ready != nullptr) cudaEventDestroy(m.ready);
  if (m.stream != nullptr) cudaStreamDestroy(m.stream);
}

int64_t NcclCommunicator::rank() const { return impl_->rank; }
int64_t NcclCommunicator::size() const { return impl_->size; }
std::string NcclCommunicator::group_id() const { return impl_->group_id; }
void* NcclCommunicator::stream() const { return impl_->stream; }
int NcclCommunicator::device() const { return impl_->device; }

std::unique_ptr<CommHandle> NcclCommunicator::all_to_all_v(const TensorView& send,
                                                           std::span<const int64_t> send_counts,
                                                           const TensorView& recv,
                                                           std::span<const int64_t> recv_counts,
                                                           int64_t row_bytes, void* stream) {
  const Impl& m = *impl_;
  MAGI_CHECK(static_cast<int64_t>(send_counts.size()) == m.size &&
                 static_cast<int64_t>(recv_counts.size()) == m.size,
             "NcclCommunicator::all_to_all_v: send_counts and recv_counts need ", m.size,
             " entries");
  MAGI_CHECK(row_bytes >= 0, "NcclCommunicator::all_to_all_v: row_bytes = ", row_bytes);
  const int64_t send_rows = std::accumulate(send_counts.begin(), send_counts.end(), int64_t{0});
  const int64_t recv_rows = std::accumulate(recv_counts.begin(), recv_counts.end(), int64_t{0});
  if (send_rows > 0) check_buffer(send, send_rows, row_bytes, m.device, "send");
  if (recv_rows > 0) check_buffer(recv, recv_rows, row_bytes, m.device, "recv");

  DeviceScope scope(m.device);
  // The exchange reads `send` only after the producer's work queued so far.
  MAGI_CUDA_CHECK(cudaEventRecord(m.ready, static_cast<cudaStream_t>(stream)));
  MAGI_CUDA_CHECK(cudaStreamWaitEvent(m.stream, m.ready, 0));

  const auto* src = static_cast<const std::byte*>(send.data);
  auto* dst = static_cast<std::byte*>(recv.data);
  MAGI_NCCL_CHECK(ncclGroupStart());
  // NOTE: every peer's calls go into the group before any error is raised, so that a failing
  // call still leaves the group closed (ncclGroupEnd) and the communicator usable.
  ncclResult_t first_error = ncclSuccess;
  const char* failed = nullptr;
  int64_t send_off = 0, recv_off = 0;
  for (int64_t peer = 0; peer < m.size; ++peer) {
    const size_t send_bytes = static_cast<size_t>(send_counts[peer] * row_bytes);
    const size_t recv_bytes = static_cast<size_t>(recv_counts[peer] * row_bytes);
    if (send_bytes > 0 && first_error == ncclSuccess) {
      first_error =
          ncclSend(src + send_off, send_bytes, ncclUint8, static_cast<int>(peer), m.comm, m.stream);
      if (first_error != ncclSuccess) failed = "ncclSend";
    }
    if (recv_bytes > 0 && first_error == ncclSuccess) {
      first_error =
          ncclRecv(dst + recv_off, recv_bytes, ncclUint8, static_cast<int>(peer), m.comm, m.stream);
      if (first_error != ncclSuccess) failed = "ncclRecv";
    }
    send_off += static_cast<int64_t>(send_bytes);
    recv_off += static_cast<int64_t>(recv_bytes);
  }
  const ncclResult_t end = ncclGroupEnd();
  MAGI_CHECK(first_error == ncclSuccess, "NCCL error '", ncclGetErrorString(first_error), "' from ",
             failed, " in NcclCommunicator::all_to_all_v");
  MAGI_CHECK(end == ncclSuccess, "NCCL error '", ncclGetErrorString(end),
             "' from ncclGroupEnd() in NcclCommunicator::all_to_all_v");

  cudaEvent_t done = nullptr;
  MAGI_CUDA_CHECK(cudaEventCreateWithFlags(&done, cudaEventDisableTiming));
  auto handle = std::make_unique<EventHandle>(done, m.device);  // owns `done` from here
  MAGI_CUDA_CHECK(cudaEventRecord(done, m.stream));
  return handle;
}

}  // namespace magi
