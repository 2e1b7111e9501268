// A backend for tests: registered for CUDA tensors, it computes with the CPU kernels on host
// memory and records what the entries and the runtime hand it (device checks, resolved scores,
// preparations of FFA work and range lists per device, transient lists, scratch blocks).
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <vector>

#include "kernels/backend.h"
#include "kernels/ffa_work_impl.h"

namespace magi::testing {

inline constexpr Device kRecordedCuda{DeviceType::kCUDA, 0};

class RecordingBackend final : public Backend {
 public:
  struct Prepared : PreparedState {};

  std::string_view name() const override { return "recording"; }
  void check_ffa_forward(std::string_view, const FfaFwdArgs&) const override { ++checks; }
  void check_ffa_backward(std::string_view, const FfaBwdArgs&) const override { ++checks; }
  size_t ffa_forward_workspace_bytes(const FfaFwdArgs&) const override { return 32; }
  size_t ffa_backward_workspace_bytes(const FfaBwdArgs&) const override { return 64; }
  void ffa_forward(const FfaFwdArgs& a) const override {
    prepare(*a.work, a.q.device);
    EXPECT_NE(a.workspace, nullptr);
    {
      std::lock_guard lock(mu);
      scales.push_back(a.scores.scale);
    }
    cpu_backend().ffa_forward(a);
  }
  void ffa_backward(const FfaBwdArgs& a) const override {
    prepare(*a.work, a.q.device);
    EXPECT_NE(a.workspace, nullptr);
    cpu_backend().ffa_backward(a);
  }
  void range_gather(const TensorView& s, const RangeList& r, const TensorView& d,
                    void* st) const override {
    prepare(r, s.device);
    cpu_backend().range_gather(s, r, d, st);
  }
  void range_scatter_add(const TensorView& s, const RangeList& r, const TensorView& d,
                         void* st) const override {
    prepare(r, s.device);
    cpu_backend().range_scatter_add(s, r, d, st);
  }
  void range_scatter_add_ordered(const TensorView& s, const RangeList& r, const TensorView& d,
                                 void* st) const override {
    ++ordered_scatter_adds;
    range_scatter_add(s, r, d, st);
  }
  void merge_out_lse(const TensorView& a, const TensorView& b, const TensorView& c,
                     const TensorView& d, void* st) const override {
    cpu_backend().merge_out_lse(a, b, c, d, st);
  }
  void fill(const TensorView& d, double v, void* st) const override {
    cpu_backend().fill(d, v, st);
  }
  void copy_cast(const TensorView& s, const TensorView& d, void* st) const override {
    cpu_backend().copy_cast(s, d, st);
  }
  Allocator& allocator() const override { return counting; }

  void prepare(const FfaWork& w, Device d) const {
    w.impl().prepared.get<Prepared>(d, [&] {
      ++builds;
      return std::make_unique<Prepared>();
    });
  }
  void prepare(const RangeList& r, Device d) const {
    if (r.transient()) {
      ++transient_lists;
      return;
    }
    r.prepared().get<Prepared>(d, [&] {
      ++list_builds;
      return std::make_unique<Prepared>();
    });
  }

  struct CountingAllocator final : Allocator {
    void* allocate(size_t bytes, Device d, void* s) override {
      ++allocations;
      return cpu_backend().allocator().allocate(bytes, d, s);
    }
    void deallocate(void* p, size_t bytes, Device d, void* s) noexcept override {
      ++frees;
      cpu_backend().allocator().deallocate(p, bytes, d, s);
    }
    std::atomic<int> allocations{0}, frees{0};
  };

  mutable std::atomic<int> checks{0}, builds{0}, list_builds{0}, transient_lists{0},
      ordered_scatter_adds{0};
  mutable std::mutex mu;
  mutable std::vector<double> scales;
  mutable CountingAllocator counting;
};

/// Installs a RecordingBackend for CUDA tensors for its lifetime.
struct Recording {
  RecordingBackend backend;
  const Backend* previous = register_backend(DeviceType::kCUDA, &backend);
  ~Recording() { register_backend(DeviceType::kCUDA, previous); }
};

}  // namespace magi::testing
