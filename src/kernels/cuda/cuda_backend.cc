// The CUDA backend. Registered with the core when the library is loaded (a static registrar:
// binaries link magi_cuda whole, see CMakeLists.txt), so the core never names CUDA.
#include "kernels/backend.h"
#include "kernels/cuda/cuda_pool.h"
#include "kernels/cuda/ffa_cuda.h"
#include "kernels/cuda/range_ops_cuda.h"
#include "kernels/cuda/runtime/tensor_ops_cuda.h"
#include "kernels/cuda/sink_cuda.h"

namespace magi::cuda {
namespace {

class CudaBackend final : public Backend {
 public:
  std::string_view name() const override { return "cuda"; }

  void check_ffa_forward(std::string_view fn, const FfaFwdArgs& a) const override {
    cuda::check_ffa_forward(fn, a);
  }
  void check_ffa_backward(std::string_view fn, const FfaBwdArgs& a) const override {
    cuda::check_ffa_backward(fn, a);
  }
  size_t ffa_forward_workspace_bytes(const FfaFwdArgs& a) const override {
    return cuda::ffa_forward_workspace_bytes(a);
  }
  size_t ffa_backward_workspace_bytes(const FfaBwdArgs& a) const override {
    return cuda::ffa_backward_workspace_bytes(a);
  }
  void ffa_forward(const FfaFwdArgs& a) const override { cuda::ffa_forward(a); }
  void ffa_backward(const FfaBwdArgs& a) const override { cuda::ffa_backward(a); }

  void range_gather(const TensorView& src, const RangeList& ranges, const TensorView& dst,
                    void* stream) const override {
    cuda::range_gather(src, ranges, dst, stream);
  }
  void range_scatter_add(const TensorView& src, const RangeList& ranges, const TensorView& dst,
                         void* stream) const override {
    cuda::range_scatter_add(src, ranges, dst, stream, false);
  }
  void range_scatter_add_ordered(const TensorView& src, const RangeList& ranges,
                                 const TensorView& dst, void* stream) const override {
    cuda::range_scatter_add(src, ranges, dst, stream, true);
  }
  void merge_out_lse(const TensorView& out_acc, const TensorView& lse_acc,
                     const TensorView& out_part, const TensorView& lse_part,
                     void* stream) const override {
    cuda::merge_out_lse(out_acc, lse_acc, out_part, lse_part, stream);
  }

  bool has_sink() const override { return true; }
  void sink_merge(const TensorView& out, const TensorView& lse, const AttnSink& sink,
                  void* stream) const override {
    cuda::sink_merge(out, lse, sink, stream);
  }
  void sink_backward(const TensorView& out, const TensorView& lse, const TensorView& dout,
                     const AttnSink& sink, const TensorView& dsink, void* workspace,
                     void* stream) const override {
    cuda::sink_backward(out, lse, dout, sink, dsink, workspace, stream);
  }
  size_t sink_backward_workspace_bytes(const TensorView& out, const AttnSink& sink) const override {
    return cuda::sink_backward_workspace_bytes(out, sink);
  }
  void sum_rows(const TensorView& src, const TensorView& dst, double scale,
                void* stream) const override {
    cuda::sum_rows(src, dst, scale, stream);
  }
  void max_rows(const TensorView& src, const TensorView& dst, void* stream) const override {
    cuda::max_rows(src, dst, stream);
  }

  void fill(const TensorView& dst, double value, void* stream) const override {
    cuda::fill(dst, value, stream);
  }
  void copy_cast(const TensorView& src, const TensorView& dst, void* stream) const override {
    cuda::copy_cast(src, dst, stream);
  }

  Allocator& allocator() const override { return pool_allocator(); }
  void release_cached_memory() const override { release_pool(); }
};

const CudaBackend kBackend;
// NOTE: runs when the library's objects are loaded; register_backend's registry is a
// function-local static, so the order of static initialisation does not matter.
[[maybe_unused]] const bool kRegistered = (register_backend(DeviceType::kCUDA, &kBackend), true);

}  // namespace
}  // namespace magi::cuda
