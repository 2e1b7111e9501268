// Host side of the CUDA row-range kernels (contracts: src/kernels/range_ops.h; arguments are
// validated by the dispatcher in src/kernels/range_ops.cc). The row maps are built on the
// host per call and uploaded stream-ordered.
#include "kernels/cuda/range_ops_cuda.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/range_ops_kernels.h"

namespace magi::cuda {
namespace {

int64_t row_numel(const TensorView& t) {
  int64_t n = 1;
  for (int i = 1; i < t.ndim; ++i) n *= t.shape[i];
  return n;
}

/// Device copy of `host` (int64), freed stream-ordered by the caller with cudaFreeAsync.
int64_t* upload(const std::vector<int64_t>& host, cudaStream_t s) {
  int64_t* dev = nullptr;
  MAGI_CUDA_CHECK(cudaMallocAsync(reinterpret_cast<void**>(&dev),
                                  std::max<size_t>(1, host.size()) * sizeof(int64_t), s));
  if (!host.empty()) {
    MAGI_CUDA_CHECK(cudaMemcpyAsync(dev, host.data(), host.size() * sizeof(int64_t),
                                    cudaMemcpyHostToDevice, s));
  }
  return dev;
}

class DeviceScope {
 public:
  explicit DeviceScope(int device) {
    MAGI_CUDA_CHECK(cudaGetDevice(&prev_));
    if (prev_ != device) MAGI_CUDA_CHECK(cudaSetDevice(device));
  }
  ~DeviceScope() { cudaSetDevice(prev_); }
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  int prev_ = 0;
};

}  // namespace

void range_gather(const TensorView& src, std::span<const AttnRange> ranges, const TensorView& dst,
                  void* cuda_stream) {
  DeviceScope scope(src.device.index);
  const cudaStream_t s = static_cast<cudaStream_t>(cuda_stream);
  std::vector<int64_t> map;
  map.reserve(static_cast<size_t>(dst.shape[0]));
  for (const AttnRange& r : ranges) {
    for (int64_t i = r.start; i < r.end; ++i) map.push_back(i);
  }
  if (map.empty()) return;
  const int64_t es = static_cast<int64_t>(dtype_size(src.dtype));
  int64_t* dmap = upload(map, s);
  launch_range_gather(src.data, src.strides[0] * es, dst.data, dst.strides[0] * es, dmap,
                      static_cast<int64_t>(map.size()), row_numel(src) * es, cuda_stream);
  MAGI_CUDA_CHECK(cudaFreeAsync(dmap, s));
}

void range_scatter_add(const TensorView& src, std::span<const AttnRange> ranges,
                       const TensorView& dst, void* cuda_stream) {
  DeviceScope scope(src.device.index);
  const cudaStream_t s = static_cast<cudaStream_t>(cuda_stream);
  // (dst row, src row) in range order; a stable sort by dst row keeps that order per row.
  std::vector<std::pair<int64_t, int64_t>> pairs;
  int64_t off = 0;
  for (const AttnRange& r : ranges) {
    for (int64_t i = r.start; i < r.end; ++i) pairs.emplace_back(i, off + (i - r.start));
    off += r.size();
  }
  if (pairs.empty()) return;
  std::stable_sort(pairs.begin(), pairs.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<int64_t> buf;  // [rows (n)] [offsets (n + 1)] [srcs (pairs)]
  std::vector<int64_t> rows, offs{0}, srcs;
  for (size_t i = 0; i < pairs.size(); ++i) {
    if (i == 0 || pairs[i].first != pairs[i - 1].first) {
      if (i) offs.push_back(static_cast<int64_t>(i));
      rows.push_back(pairs[i].first);
    }
    srcs.push_back(pairs[i].second);
  }
  offs.push_back(static_cast<int64_t>(pairs.size()));
  const int64_t n = static_cast<int64_t>(rows.size());
  buf.insert(buf.end(), rows.begin(), rows.end());
  buf.insert(buf.end(), offs.begin(), offs.end());
  buf.insert(buf.end(), srcs.begin(), srcs.end());
  int64_t* dbuf = upload(buf, s);
  launch_range_scatter_add(src.data, static_cast<int>(src.dtype), src.strides[0], dst.data,
                           static_cast<int>(dst.dtype), dst.strides[0], dbuf, dbuf + n,
                           dbuf + 2 * n + 1, n, row_numel(dst), cuda_stream);
  MAGI_CUDA_CHECK(cudaFreeAsync(dbuf, s));
}

void merge_out_lse(const TensorView& out_acc, const TensorView& lse_acc, const TensorView& out_part,
                   const TensorView& lse_part, void* cuda_stream) {
  DeviceScope scope(out_acc.device.index);
  MergeArgs a{};
  a.out_acc = out_acc.data;
  a.lse_acc = lse_acc.data;
  a.out_part = out_part.data;
  a.lse_part = lse_part.data;
  a.out_acc_dtype = static_cast<int>(out_acc.dtype);
  a.lse_acc_dtype = static_cast<int>(lse_acc.dtype);
  a.out_part_dtype = static_cast<int>(out_part.dtype);
  a.lse_part_dtype = static_cast<int>(lse_part.dtype);
  a.oa_s0 = out_acc.strides[0];
  a.oa_s1 = out_acc.strides[1];
  a.la_s0 = lse_acc.strides[0];
  a.la_s1 = lse_acc.strides[1];
  a.op_s0 = out_part.strides[0];
  a.op_s1 = out_part.strides[1];
  a.lp_s0 = lse_part.strides[0];
  a.lp_s1 = lse_part.strides[1];
  a.n = out_acc.shape[0];
  a.h = out_acc.shape[1];
  a.d = out_acc.shape[2];
  launch_merge_out_lse(a, cuda_stream);
}

}  // namespace magi::cuda
