// The CPU backend: the reference kernels behind the Backend interface. Its prepared form of an
// FfaWork is the mask row by row (RowKeys), built on first use and kept with the work.
#include <new>

#include "kernels/backend.h"
#include "kernels/cpu/ffa_cpu.h"
#include "kernels/cpu/max_logits.h"
#include "kernels/cpu/range_ops.h"
#include "kernels/cpu/row_keys.h"
#include "kernels/cpu/sink_cpu.h"
#include "kernels/cpu/tensor_ops_cpu.h"
#include "kernels/ffa_work_impl.h"

namespace magi {
namespace {

struct CpuFfaWork : PreparedState {
  cpu::RowKeys keys;
};

const cpu::RowKeys& row_keys(const FfaWork& work) {
  return work.impl()
      .prepared
      .get<CpuFfaWork>(Device{},
                       [&] {
                         auto w = std::make_unique<CpuFfaWork>();
                         w->keys = cpu::RowKeys::build(work.slices(), work.total_q());
                         return w;
                       })
      .keys;
}

class HeapAllocator final : public Allocator {
 public:
  void* allocate(size_t bytes, Device, void*) override {
    return ::operator new (bytes, std::align_val_t{kAlign});
  }
  void deallocate(void* p, size_t, Device, void*) noexcept override {
    ::operator delete (p, std::align_val_t{kAlign});
  }

 private:
  static constexpr size_t kAlign = 256;
};

class CpuBackend final : public Backend {
 public:
  std::string_view name() const override { return "cpu"; }

  // NOTE: the CPU kernels take every dtype and layout of ffa.h's contract: nothing to add.
  void check_ffa_forward(std::string_view, const FfaFwdArgs&) const override {}
  void check_ffa_backward(std::string_view, const FfaBwdArgs&) const override {}
  size_t ffa_forward_workspace_bytes(const FfaFwdArgs&) const override { return 0; }
  size_t ffa_backward_workspace_bytes(const FfaBwdArgs&) const override { return 0; }

  void ffa_forward(const FfaFwdArgs& a) const override {
    cpu::ffa_forward(a.q, a.k, a.v, row_keys(*a.work), a.scores, a.out, a.lse, a.accumulate,
                     a.max_logits);
  }
  void ffa_backward(const FfaBwdArgs& a) const override {
    cpu::ffa_backward(a.q, a.k, a.v, a.out, a.lse, a.dout, row_keys(*a.work), a.scores, a.dq, a.dk,
                      a.dv);
  }

  void range_gather(const TensorView& src, const RangeList& ranges, const TensorView& dst,
                    void*) const override {
    cpu::range_gather(src, ranges.ranges(), dst);
  }
  void range_scatter_add(const TensorView& src, const RangeList& ranges, const TensorView& dst,
                         void*) const override {
    cpu::range_scatter_add(src, ranges.ranges(), dst);
  }
  void merge_out_lse(const TensorView& out_acc, const TensorView& lse_acc,
                     const TensorView& out_part, const TensorView& lse_part, void*) const override {
    cpu::merge_out_lse(out_acc, lse_acc, out_part, lse_part);
  }

  bool has_sink() const override { return true; }
  void sink_merge(const TensorView& out, const TensorView& lse, const AttnSink& sink,
                  void*) const override {
    cpu::sink_merge(out, lse, sink);
  }
  void sink_backward(const TensorView& out, const TensorView& lse, const TensorView& dout,
                     const AttnSink& sink, const TensorView& dsink, void*, void*) const override {
    cpu::sink_backward(out, lse, dout, sink, dsink);
  }
  void sum_rows(const TensorView& src, const TensorView& dst, double scale, void*) const override {
    cpu::sum_rows(src, dst, scale);
  }
  void max_rows(const TensorView& src, const TensorView& dst, void*) const override {
    cpu::max_rows(src, dst);
  }

  void fill(const TensorView& dst, double value, void*) const override { cpu::fill(dst, value); }
  void copy_cast(const TensorView& src, const TensorView& dst, void*) const override {
    cpu::copy_cast(src, dst);
  }

  Allocator& allocator() const override {
    static HeapAllocator heap;
    return heap;
  }
};

}  // namespace

const Backend& cpu_backend() {
  static const CpuBackend backend;
  return backend;
}

}  // namespace magi
