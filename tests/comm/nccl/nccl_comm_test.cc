// NcclCommunicator on real GPUs against LocalGroup: the same exchange (random counts, zero
// counts included, the rank itself included) must deliver the same bytes. One rank always (when
// a GPU exists); N ranks as threads of one process, one GPU each, when the host has N >= 2.
// The exchange must run on the communicator's own stream, after the producer stream, and be
// seen by a consumer stream through wait_on. Every test skips without a CUDA device.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "kernels/cuda/cuda_check.h"
#include "magi/comm.h"
#include "magi/nccl_comm.h"

namespace magi {
namespace {

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) return 0;
  return n;
}

#define MAGI_SKIP_WITHOUT_GPUS(n)                                                   \
  do {                                                                              \
    if (device_count() < (n)) GTEST_SKIP() << "needs " << (n) << " CUDA device(s)"; \
  } while (0)

/// counts[src][dst]: rows rank src sends to rank dst (some zero), and each rank's send bytes.
struct Pattern {
  std::vector<std::vector<int64_t>> counts;
  std::vector<std::vector<std::byte>> send;
  int64_t row_bytes = 0;
  std::vector<int64_t> send_counts(int64_t r) const { return counts[r]; }
  std::vector<int64_t> recv_counts(int64_t r) const {
    std::vector<int64_t> c;
    for (const auto& row : counts) c.push_back(row[r]);
    return c;
  }
};

Pattern make_pattern(int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Pattern p;
  p.row_bytes = 24;  // not a multiple of a word: the exchange is over bytes
  p.counts.assign(n, std::vector<int64_t>(n));
  for (auto& row : p.counts) {
    for (auto& c : row) c = static_cast<int64_t>(rng() % 4);  // 0..3 rows
  }
  p.counts[0][n - 1] = 0;  // at least one empty pair
  for (int64_t r = 0; r < n; ++r) {
    const int64_t rows = std::accumulate(p.counts[r].begin(), p.counts[r].end(), int64_t{0});
    std::vector<std::byte> bytes(static_cast<size_t>(rows * p.row_bytes));
    for (auto& b : bytes) b = static_cast<std::byte>(rng());
    p.send.push_back(std::move(bytes));
  }
  return p;
}

TensorView bytes_view(void* data, size_t n, Device device) {
  return TensorView::contiguous(data, DType::kFloat32, {static_cast<int64_t>(n / 4 + 1)}, device);
}

/// What LocalGroup delivers to every rank for `p`.
std::vector<std::vector<std::byte>> local_result(const Pattern& p) {
  const int64_t n = static_cast<int64_t>(p.counts.size());
  std::vector<std::vector<std::byte>> recv(n);
  run_local_ranks(n, [&](Communicator& comm) {
    const int64_t r = comm.rank();
    const auto rc = p.recv_counts(r);
    const int64_t rows = std::accumulate(rc.begin(), rc.end(), int64_t{0});
    std::vector<std::byte> out(static_cast<size_t>(rows * p.row_bytes) + 4);
    std::vector<std::byte> in = p.send[r];
    in.resize(in.size() + 4);
    comm.all_to_all_v(bytes_view(in.data(), in.size(), {}), p.send_counts(r),
                      bytes_view(out.data(), out.size(), {}), rc, p.row_bytes)
        ->wait();
    out.resize(static_cast<size_t>(rows * p.row_bytes));
    recv[r] = std::move(out);
  });
  return recv;
}

/// One rank's exchange of `p` on `comm`: the send bytes are uploaded on a producer stream (so
/// the exchange must wait for them), the received bytes read back on a consumer stream after
/// wait_on. Returns the received bytes.
std::vector<std::byte> nccl_exchange(NcclCommunicator& comm, const Pattern& p) {
  const int64_t r = comm.rank();
  const auto sc = p.send_counts(r), rc = p.recv_counts(r);
  const size_t send_bytes = p.send[r].size();
  const size_t recv_bytes =
      static_cast<size_t>(std::accumulate(rc.begin(), rc.end(), int64_t{0}) * p.row_bytes);
  MAGI_CUDA_CHECK(cudaSetDevice(comm.device()));
  cudaStream_t producer = nullptr, consumer = nullptr;
  MAGI_CUDA_CHECK(cudaStreamCreateWithFlags(&producer, cudaStreamNonBlocking));
  MAGI_CUDA_CHECK(cudaStreamCreateWithFlags(&consumer, cudaStreamNonBlocking));
  EXPECT_NE(comm.stream(), static_cast<void*>(producer));
  EXPECT_NE(comm.stream(), static_cast<void*>(consumer));
  void *send = nullptr, *recv = nullptr;
  MAGI_CUDA_CHECK(cudaMalloc(&send, send_bytes + 4));
  MAGI_CUDA_CHECK(cudaMalloc(&recv, recv_bytes + 4));
  MAGI_CUDA_CHECK(cudaMemsetAsync(recv, 0xAB, recv_bytes + 4, consumer));
  MAGI_CUDA_CHECK(cudaStreamSynchronize(consumer));
  // NOTE: pageable host memory makes this copy synchronous on some drivers; a pinned staging
  // buffer keeps it truly asynchronous, so the exchange's wait on the producer is exercised.
  void* staged = nullptr;
  MAGI_CUDA_CHECK(cudaMallocHost(&staged, send_bytes + 4));
  if (send_bytes > 0) std::memcpy(staged, p.send[r].data(), send_bytes);
  MAGI_CUDA_CHECK(cudaMemcpyAsync(send, staged, send_bytes, cudaMemcpyHostToDevice, producer));
  const Device dev{DeviceType::kCUDA, comm.device()};
  auto handle = comm.all_to_all_v(bytes_view(send, send_bytes, dev), sc,
                                  bytes_view(recv, recv_bytes, dev), rc, p.row_bytes, producer);
  handle->wait_on(consumer);
  std::vector<std::byte> out(recv_bytes);
  MAGI_CUDA_CHECK(cudaMemcpyAsync(out.data(), recv, recv_bytes, cudaMemcpyDeviceToHost, consumer));
  MAGI_CUDA_CHECK(cudaStreamSynchronize(consumer));
  MAGI_CUDA_CHECK(cudaFreeHost(staged));
  MAGI_CUDA_CHECK(cudaFree(send));
  MAGI_CUDA_CHECK(cudaFree(recv));
  MAGI_CUDA_CHECK(cudaStreamDestroy(producer));
  MAGI_CUDA_CHECK(cudaStreamDestroy(consumer));
  return out;
}

/// Runs `p` over NCCL with one thread and one GPU per rank; returns every rank's bytes.
std::vector<std::vector<std::byte>> nccl_result(const Pattern& p) {
  const int64_t n = static_cast<int64_t>(p.counts.size());
  const std::string id = nccl_new_unique_id();
  std::vector<std::vector<std::byte>> recv(n);
  std::vector<std::string> errors(n);
  std::vector<std::thread> threads;
  for (int64_t r = 0; r < n; ++r) {
    threads.emplace_back([&, r] {
      try {
        MAGI_CUDA_CHECK(cudaSetDevice(static_cast<int>(r)));
        NcclCommunicator comm(id, r, n, static_cast<int>(r));
        EXPECT_EQ(comm.rank(), r);
        EXPECT_EQ(comm.size(), n);
        recv[r] = nccl_exchange(comm, p);
      } catch (const std::exception& e) {
        errors[r] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int64_t r = 0; r < n; ++r) EXPECT_EQ(errors[r], "") << "rank " << r;
  return recv;
}

TEST(NcclCommunicator, OneRankMatchesLocalGroup) {
  MAGI_SKIP_WITHOUT_GPUS(1);
  for (uint64_t seed : {1, 2, 3}) {
    const Pattern p = make_pattern(1, seed);
    EXPECT_EQ(nccl_result(p), local_result(p)) << "seed " << seed;
  }
}

TEST(NcclCommunicator, RanksAsThreadsOneGpuEachMatchLocalGroup) {
  MAGI_SKIP_WITHOUT_GPUS(2);
  const int64_t n = std::min(device_count(), 8);
  for (uint64_t seed : {4, 5}) {
    const Pattern p = make_pattern(n, seed);
    EXPECT_EQ(nccl_result(p), local_result(p)) << "n " << n << " seed " << seed;
  }
}

TEST(NcclCommunicator, HostWaitAndBadArgumentsAreReported) {
  MAGI_SKIP_WITHOUT_GPUS(1);
  MAGI_CUDA_CHECK(cudaSetDevice(0));
  NcclCommunicator comm(nccl_new_unique_id(), 0, 1, 0);
  void* buf = nullptr;
  MAGI_CUDA_CHECK(cudaMalloc(&buf, 64));
  MAGI_CUDA_CHECK(cudaMemset(buf, 7, 32));
  const Device dev{DeviceType::kCUDA, 0};
  const TensorView send = TensorView::contiguous(buf, DType::kFloat32, {8}, dev);
  const TensorView recv =
      TensorView::contiguous(static_cast<std::byte*>(buf) + 32, DType::kFloat32, {8}, dev);
  const std::vector<int64_t> one{1};
  comm.all_to_all_v(send, one, recv, one, 32)->wait();  // host wait, no producer stream
  std::vector<unsigned char> back(32);
  MAGI_CUDA_CHECK(cudaMemcpy(back.data(), recv.data, 32, cudaMemcpyDeviceToHost));
  EXPECT_EQ(back, std::vector<unsigned char>(32, 7));
  // Too many rows for the buffer; host memory; a wrong number of counts: errors, not hangs.
  EXPECT_THROW(comm.all_to_all_v(send, one, recv, one, 64), Error);
  float host[8] = {};
  EXPECT_THROW(
      comm.all_to_all_v(TensorView::contiguous(host, DType::kFloat32, {8}), one, recv, one, 32),
      Error);
  EXPECT_THROW(comm.all_to_all_v(send, std::vector<int64_t>{1, 0}, recv, one, 32), Error);
  MAGI_CUDA_CHECK(cudaFree(buf));
}

TEST(NcclCommunicator, UniqueIdThroughAFile) {
  MAGI_SKIP_WITHOUT_GPUS(1);  // ncclGetUniqueId initialises NCCL's bootstrap network
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("magi_nccl_id_" + std::to_string(std::random_device{}())))
                               .string();
  std::string id1;
  std::thread reader([&] { id1 = nccl_unique_id_from_file(path, 1); });
  const std::string id0 = nccl_unique_id_from_file(path, 0);
  reader.join();
  EXPECT_EQ(id0.size(), 128u);
  EXPECT_EQ(id0, id1);
  EXPECT_THROW(nccl_unique_id_from_file(path, 0), Error);  // a stale file is refused
  std::filesystem::remove(path);
  EXPECT_THROW(nccl_unique_id_from_file(path, 1, std::chrono::milliseconds(50)), Error);
}

}  // namespace
}  // namespace magi
