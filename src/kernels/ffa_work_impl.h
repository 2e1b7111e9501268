// What an FfaWork holds (include/magi/ffa.h): the disjoint slices, the mask's totals and the
// backends' prepared forms per device.
#pragma once

#include <vector>

#include "kernels/device_slots.h"
#include "magi/ffa.h"

namespace magi {

struct FfaWork::Impl {
  std::vector<AttnSlice> slices;  // disjoint, sorted by q start
  int64_t total_q = 0;
  int64_t total_k = 0;
  DeviceSlots prepared;
};

}  // namespace magi
