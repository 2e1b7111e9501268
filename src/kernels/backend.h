// Backend: the kernels of one device type behind one interface. The entries (ffa.cc,
// range_ops.cc, tensor_ops.cc) and the runtime validate their arguments once, resolve the
// options, and then call the backend of the tensors' device; they never name a device type.
// The CPU backend is built into the core; the CUDA library registers its own at load time
// (src/kernels/cuda/cuda_backend.cc), so the core does not link the CUDA library.
#pragma once

#include <cstddef>
#include <string_view>

#include "kernels/range_list.h"
#include "magi/ffa.h"
#include "magi/tensor.h"
#include "magi/workspace.h"

namespace magi {

/// Score parameters resolved once by the entry (ffa.h's rule): scale > 0 and finite (0 was
/// replaced by head_dim ** -0.5), softcap >= 0 and finite (0: none).
struct ScoreParams {
  double scale = 1.0;
  double softcap = 0.0;
};

/// One FFA forward call, validated (ffa.h's contract; q/k/v rows match work's totals).
/// `workspace`: ffa_forward_workspace_bytes() bytes on q's device (nullptr when that is 0).
struct FfaFwdArgs {
  TensorView q, k, v, out, lse;
  const FfaWork* work = nullptr;
  ScoreParams scores;
  bool accumulate = false;
  void* stream = nullptr;
  TensorView max_logits{};  // FfaOptions::max_logits: fp32 [Hq] merged into by max (ndim 0: none)
  void* workspace = nullptr;
};

/// One FFA backward call, validated. `workspace`: ffa_backward_workspace_bytes() bytes on q's
/// device (nullptr when that is 0).
struct FfaBwdArgs {
  TensorView q, k, v, out, lse, dout, dq, dk, dv;
  const FfaWork* work = nullptr;
  ScoreParams scores;
  void* stream = nullptr;
  void* workspace = nullptr;
  bool deterministic = false;  // FfaOptions::deterministic or MAGI_ATTENTION_DETERMINISTIC_MODE
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string_view name() const = 0;

  // ---- FFA (contracts: magi/ffa.h). The checks add the device's own limits to the generic
  // ones (CUDA: bf16/fp16 inputs, head dims of the kernel table, 16-byte aligned rows, fp32
  // lse); each throws magi::Error naming `fn` and the argument. The runs check nothing.
  virtual void check_ffa_forward(std::string_view fn, const FfaFwdArgs& a) const = 0;
  virtual void check_ffa_backward(std::string_view fn, const FfaBwdArgs& a) const = 0;
  virtual size_t ffa_forward_workspace_bytes(const FfaFwdArgs& a) const = 0;
  virtual size_t ffa_backward_workspace_bytes(const FfaBwdArgs& a) const = 0;
  virtual void ffa_forward(const FfaFwdArgs& a) const = 0;
  virtual void ffa_backward(const FfaBwdArgs& a) const = 0;

  // ---- row ranges and merges (contracts: src/kernels/range_ops.h), validated by the caller.
  virtual void range_gather(const TensorView& src, const RangeList& ranges, const TensorView& dst,
                            void* stream) const = 0;
  virtual void range_scatter_add(const TensorView& src, const RangeList& ranges,
                                 const TensorView& dst, void* stream) const = 0;
  /// range_scatter_add adding each row's contributions in list order, so the sums are the same
  /// bits on every run (the deterministic mode). The default is range_scatter_add: right for a
  /// backend whose scatter-add is ordered already (the CPU's).
  virtual void range_scatter_add_ordered(const TensorView& src, const RangeList& ranges,
                                         const TensorView& dst, void* stream) const {
    range_scatter_add(src, ranges, dst, stream);
  }
  virtual void merge_out_lse(const TensorView& out_acc, const TensorView& lse_acc,
                             const TensorView& out_part, const TensorView& lse_part,
                             void* stream) const = 0;

  // ---- attention sink (contracts: src/kernels/sink.h), validated by the caller. A backend
  // that has them overrides the four operations; the defaults refuse, naming the backend.
  virtual bool has_sink() const { return false; }
  virtual void sink_merge(const TensorView& out, const TensorView& lse, const AttnSink& sink,
                          void* stream) const;
  virtual void sink_backward(const TensorView& out, const TensorView& lse, const TensorView& dout,
                             const AttnSink& sink, const TensorView& dsink, void* workspace,
                             void* stream) const;
  /// Bytes of the workspace sink_backward of out ([Sq, Hq, D]) and sink needs (0: none).
  virtual size_t sink_backward_workspace_bytes(const TensorView&, const AttnSink&) const {
    return 0;
  }
  virtual void sum_rows(const TensorView& src, const TensorView& dst, double scale,
                        void* stream) const;
  /// max_logits' reduction over ranks: dst[j] = max over i in order of src[i, j] (src [n, m]
  /// and dst [m] fp32, contiguous), a NaN in any row kept. The default refuses, naming the
  /// backend.
  virtual void max_rows(const TensorView& src, const TensorView& dst, void* stream) const;

  // ---- whole tensors (contracts: src/kernels/tensor_ops.h), validated by the caller.
  virtual void fill(const TensorView& dst, double value, void* stream) const = 0;
  virtual void copy_cast(const TensorView& src, const TensorView& dst, void* stream) const = 0;

  /// default_allocator() of this device type.
  virtual Allocator& allocator() const = 0;
  /// Gives cached memory back to the system (release_pool_memory()).
  virtual void release_cached_memory() const {}
};

/// The backend of `device`'s type. Throws, naming `fn` and the device, when this build has none
/// (CUDA tensors in a build without the CUDA library).
const Backend& backend_for(Device device, std::string_view fn);

/// Whether a backend for `type` is present.
bool has_backend(DeviceType type);

/// Installs `backend` (never destroyed) for `type`; returns the one it replaces (nullptr if
/// none). The CUDA library calls it at load time; tests may swap in a backend of their own.
const Backend* register_backend(DeviceType type, const Backend* backend);

/// The built-in CPU backend.
const Backend& cpu_backend();

}  // namespace magi
