// The roles of the warp-specialised Hopper kernels (forward and backward alike): warpgroup 0
// produces (one elected thread issues every TMA load), warpgroups 1..kConsumerWarpGroups
// consume (wgmma), with the register budgets setmaxnreg gives each.
#pragma once

namespace magi::cuda::sm90 {

struct WsRoles {
  static constexpr int kConsumerWarpGroups = 2;
  static constexpr int kThreads = 128 * (1 + kConsumerWarpGroups);
  static constexpr int kConsumerWarps = 4 * kConsumerWarpGroups;
  static constexpr int kConsumerThreads = 128 * kConsumerWarpGroups;
  // 24 x 128 + 240 x 256 = 64512 = 168 x 384: the whole allocation the launch gives the CTA.
  static constexpr int kProducerRegs = 24;
  static constexpr int kConsumerRegs = 240;
  static_assert(kProducerRegs * 128 + kConsumerRegs * 128 * kConsumerWarpGroups <=
                (65536 / kThreads) / 8 * 8 * kThreads);
};

}  // namespace magi::cuda::sm90
