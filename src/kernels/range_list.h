// RangeList: row ranges as the range kernels read them. The runtime builds its lists once per
// key (send rows of each stage, dispatch's rows, undispatch's order); backends keep a prepared
// copy per device (CUDA: starts and packed offsets in device memory, uploaded on first use), so
// a call neither converts nor uploads ranges. A transient list (made for one call, e.g. by the
// span entries of range_ops.h) is uploaded per call instead, stream-ordered.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "kernels/device_slots.h"
#include "magi/mask.h"

namespace magi {

class RangeList {
 public:
  RangeList() : slots_(std::make_unique<DeviceSlots>()) {}
  explicit RangeList(std::vector<AttnRange> ranges, bool transient = false)
      : ranges_(std::move(ranges)), transient_(transient), slots_(std::make_unique<DeviceSlots>()) {
    for (const AttnRange& r : ranges_) rows_ += r.size();
  }

  std::span<const AttnRange> ranges() const { return ranges_; }
  /// Sum of the ranges' sizes: the rows of the packed side (dst of a gather, src of a
  /// scatter-add).
  int64_t total_rows() const { return rows_; }
  bool transient() const { return transient_; }
  const DeviceSlots& prepared() const { return *slots_; }

 private:
  std::vector<AttnRange> ranges_;
  int64_t rows_ = 0;
  bool transient_ = false;
  std::unique_ptr<DeviceSlots> slots_;  // NOTE: behind a pointer so that lists can move
};

}  // namespace magi
