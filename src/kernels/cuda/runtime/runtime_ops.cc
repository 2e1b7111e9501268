// Host wrappers of the runtime's CUDA kernels: TensorViews in, launches out.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_memory.h"
#include "kernels/cuda/range_ops_cuda.h"
#include "kernels/cuda/runtime/launch.h"
#include "kernels/cuda/runtime/tensor_ops_cuda.h"
#include "kernels/cuda/sink_cuda.h"
#include "kernels/range_layers.h"

namespace magi::cuda {
namespace {

static_assert(static_cast<int>(DType::kFloat32) == rt::kF32 &&
              static_cast<int>(DType::kFloat64) == rt::kF64 &&
              static_cast<int>(DType::kBFloat16) == rt::kBF16 &&
              static_cast<int>(DType::kFloat16) == rt::kF16);

int elem(const TensorView& t, const char* fn) {
  MAGI_CHECK(is_floating(t.dtype), fn, ": ", t.describe(), ": expected a floating dtype");
  return static_cast<int>(t.dtype);
}

rt::Strided strided(const TensorView& t) {
  rt::Strided s;
  s.ndim = t.ndim;
  for (int d = 0; d < t.ndim; ++d) {
    s.shape[d] = t.shape[d];
    s.strides[d] = t.strides[d];
  }
  return s;
}

int64_t row_elems(const TensorView& t) {
  int64_t n = 1;
  for (int d = 1; d < t.ndim; ++d) n *= t.shape[d];
  return n;
}

/// Host image of a range table: starts [n], packed offsets [n], total rows, and with
/// `with_layers` each range's layer [n] (range_layers.h: for the ordered scatter-add);
/// `layers` is their count (0 without them).
struct HostTable {
  std::vector<int64_t> data;
  int64_t layers = 0;
};

HostTable table_of(const RangeList& list, bool with_layers) {
  const int64_t n = static_cast<int64_t>(list.ranges().size());
  HostTable t;
  t.data.resize((with_layers ? 3 : 2) * n + 1);
  int64_t rows = 0;
  for (int64_t i = 0; i < n; ++i) {
    t.data[i] = list.ranges()[i].start;
    t.data[n + i] = rows;
    rows += list.ranges()[i].size();
  }
  t.data[2 * n] = rows;
  if (!with_layers) return t;
  const std::vector<int64_t> layer = disjoint_layers(list.ranges());
  for (int64_t i = 0; i < n; ++i) {
    t.data[2 * n + 1 + i] = layer[i];
    t.layers = std::max(t.layers, layer[i] + 1);
  }
  return t;
}

struct CudaRangeTable : PreparedState {
  std::unique_ptr<UploadedBuffer> buffer;
  int64_t layers = 0;
};

/// The list's table on the current device, `device`: prepared once (with the layers: a key's
/// lists serve the ordered scatter-add too), or for a transient list uploaded for this call
/// (stream-ordered; freed in stream order with the object), its layers only when `layers`.
class DeviceRanges {
 public:
  DeviceRanges(const RangeList& list, int device, void* stream, bool layers = false)
      : stream_(stream) {
    n_ = static_cast<int64_t>(list.ranges().size());
    if (list.total_rows() == 0) return;
    if (!list.transient()) {
      const CudaRangeTable& t =
          list.prepared().get<CudaRangeTable>(Device{DeviceType::kCUDA, device}, [&] {
            const HostTable host = table_of(list, true);
            auto made = std::make_unique<CudaRangeTable>();
            made->buffer = std::make_unique<UploadedBuffer>(
                host.data.data(), host.data.size() * sizeof(int64_t), device, stream,
                "the key's range tables");
            made->layers = host.layers;
            return made;
          });
      dev_ = static_cast<const int64_t*>(t.buffer->data());
      layers_ = t.layers;
      return;
    }
    const HostTable host = table_of(list, layers);
    const auto s = static_cast<cudaStream_t>(stream);
    MAGI_CUDA_CHECK(cudaMallocAsync(&owned_, host.data.size() * sizeof(int64_t), s));
    // NOTE: from pageable memory the copy is staged before cudaMemcpyAsync returns, so `host`
    // may die right after.
    MAGI_CUDA_CHECK(cudaMemcpyAsync(owned_, host.data.data(), host.data.size() * sizeof(int64_t),
                                    cudaMemcpyHostToDevice, s));
    dev_ = static_cast<const int64_t*>(owned_);
    layers_ = host.layers;
  }
  ~DeviceRanges() {
    if (owned_) cudaFreeAsync(owned_, static_cast<cudaStream_t>(stream_));
  }
  DeviceRanges(const DeviceRanges&) = delete;
  DeviceRanges& operator=(const DeviceRanges&) = delete;
  const int64_t* starts() const { return dev_; }
  const int64_t* offsets() const { return dev_ + n_; }
  /// Each range's layer (range_layers.h), and how many layers there are (0: not computed).
  const int64_t* layer_of() const { return dev_ + 2 * n_ + 1; }
  int64_t layers() const { return layers_; }
  int64_t n() const { return n_; }

 private:
  void* stream_;
  void* owned_ = nullptr;
  const int64_t* dev_ = nullptr;
  int64_t n_ = 0, layers_ = 0;
};

}  // namespace

void fill(const TensorView& dst, double value, void* stream) {
  const int e = elem(dst, "fill");
  if (dst.numel() == 0) return;
  if (value == 0.0 && dst.is_contiguous()) {  // all-zero bits are 0 in every float type
    MAGI_CUDA_CHECK(cudaMemsetAsync(dst.data, 0, dst.numel() * dtype_size(dst.dtype),
                                    static_cast<cudaStream_t>(stream)));
    return;
  }
  rt::launch_fill(dst.data, e, strided(dst), dst.numel(), value, stream);
  MAGI_CUDA_CHECK(cudaGetLastError());
}

void copy_cast(const TensorView& src, const TensorView& dst, void* stream) {
  const int se = elem(src, "copy_cast"), de = elem(dst, "copy_cast");
  if (dst.numel() == 0) return;
  if (se == de && src.is_contiguous() && dst.is_contiguous()) {
    MAGI_CUDA_CHECK(cudaMemcpyAsync(dst.data, src.data, dst.numel() * dtype_size(dst.dtype),
                                    cudaMemcpyDeviceToDevice, static_cast<cudaStream_t>(stream)));
    return;
  }
  if (src.dtype == DType::kFloat32 && src.is_contiguous() && dst.is_contiguous() &&
      rt::launch_cast_f32_contig(src.data, dst.data, de, dst.numel(), stream)) {
    MAGI_CUDA_CHECK(cudaGetLastError());
    return;
  }
  rt::launch_cast(src.data, se, strided(src), dst.data, de, strided(dst), dst.numel(), stream);
  MAGI_CUDA_CHECK(cudaGetLastError());
}

void range_gather(const TensorView& src, const RangeList& ranges, const TensorView& dst,
                  void* stream) {
  if (ranges.total_rows() == 0) return;
  DeviceGuard guard(src.device.index);
  const DeviceRanges r(ranges, src.device.index, stream);
  const int64_t es = static_cast<int64_t>(dtype_size(src.dtype));
  rt::launch_gather(src.data, src.strides[0] * es, dst.data, dst.strides[0] * es,
                    row_elems(src) * es, r.starts(), r.offsets(), r.n(), ranges.total_rows(),
                    stream);
  MAGI_CUDA_CHECK(cudaGetLastError());
}

void range_scatter_add(const TensorView& src, const RangeList& ranges, const TensorView& dst,
                       void* stream, bool ordered) {
  MAGI_CHECK(dst.dtype == DType::kFloat32 || dst.dtype == DType::kFloat64,
             "range_scatter_add on CUDA: dst = ", dst.describe(), ": fp32 or fp64 only");
  if (ranges.total_rows() == 0) return;
  DeviceGuard guard(src.device.index);
  const DeviceRanges r(ranges, src.device.index, stream, ordered);
  // Ordered: one launch per layer, in order; a layer's ranges are disjoint, so its atomics add
  // into distinct elements. One layer: no two ranges overlap, one launch is ordered already.
  const bool by_layer = ordered && r.layers() > 1;
  for (int64_t layer = 0; layer < (by_layer ? r.layers() : 1); ++layer) {
    rt::launch_scatter_add(src.data, elem(src, "range_scatter_add"), src.strides[0], dst.data,
                           elem(dst, "range_scatter_add"), dst.strides[0], row_elems(src),
                           r.starts(), r.offsets(), r.n(), ranges.total_rows(),
                           by_layer ? r.layer_of() : nullptr, layer, stream);
    MAGI_CUDA_CHECK(cudaGetLastError());
  }
}

void merge_out_lse(const TensorView& out_acc, const TensorView& lse_acc, const TensorView& out_part,
                   const TensorView& lse_part, void* stream) {
  const int64_t rows_heads = out_acc.shape[0] * out_acc.shape[1];
  if (rows_heads == 0) return;
  rt::launch_merge(out_acc.data, elem(out_acc, "merge"), strided(out_acc), lse_acc.data,
                   elem(lse_acc, "merge"), strided(lse_acc), out_part.data, elem(out_part, "merge"),
                   strided(out_part), lse_part.data, elem(lse_part, "merge"), strided(lse_part),
                   rows_heads, out_acc.shape[2], stream);
  MAGI_CUDA_CHECK(cudaGetLastError());
}

rt::SinkLogits sink_logits(const AttnSink& sink) {
  const TensorView& x = sink.logits;  // fp32, contiguous (check_sink)
  const bool per_row = sink.layout == SinkLayout::kSSH;
  const int64_t num_sink = x.shape[x.ndim - 2], heads = x.shape[x.ndim - 1];
  return {x.ptr<const float>(), num_sink, heads, per_row ? num_sink * heads : 0};
}

void sink_merge(const TensorView& out, const TensorView& lse, const AttnSink& sink, void* stream) {
  const int64_t rows_heads = out.shape[0] * out.shape[1];
  if (rows_heads == 0) return;
  DeviceGuard guard(out.device.index);
  rt::launch_sink_merge(out.data, elem(out, "sink_merge"), strided(out), lse.data,
                        elem(lse, "sink_merge"), strided(lse), sink_logits(sink), rows_heads,
                        out.shape[2], stream);
  MAGI_CUDA_CHECK(cudaGetLastError());
}

size_t sink_backward_workspace_bytes(const TensorView& out, const AttnSink& sink) {
  // Layout sh: D per (row, head), summed over rows by a second kernel.
  return sink.layout == SinkLayout::kSH ? size_t(out.shape[0] * out.shape[1]) * sizeof(float) : 0;
}

void sink_backward(const TensorView& out, const TensorView& lse, const TensorView& dout,
                   const AttnSink& sink, const TensorView& dsink, void* workspace, void* stream) {
  if (out.shape[0] * out.shape[1] == 0) return;
  DeviceGuard guard(out.device.index);
  rt::launch_sink_backward(
      out.data, elem(out, "sink_backward"), strided(out), lse.data, elem(lse, "sink_backward"),
      strided(lse), dout.data, elem(dout, "sink_backward"), strided(dout), sink_logits(sink),
      dsink.ptr<float>(), static_cast<float*>(workspace), out.shape[0], out.shape[2], stream);
  MAGI_CUDA_CHECK(cudaGetLastError());
}

void max_rows(const TensorView& src, const TensorView& dst, void* stream) {
  if (dst.numel() == 0) return;
  DeviceGuard guard(dst.device.index);
  rt::launch_max_rows(src.ptr<const float>(), dst.ptr<float>(), src.shape[0], dst.numel(), stream);
  MAGI_CUDA_CHECK(cudaGetLastError());
}

void sum_rows(const TensorView& src, const TensorView& dst, double scale, void* stream) {
  if (dst.numel() == 0) return;
  DeviceGuard guard(dst.device.index);
  rt::launch_sum_rows(src.ptr<const float>(), dst.ptr<float>(), src.shape[0], dst.numel(), scale,
                      stream);
  MAGI_CUDA_CHECK(cudaGetLastError());
}

}  // namespace magi::cuda
