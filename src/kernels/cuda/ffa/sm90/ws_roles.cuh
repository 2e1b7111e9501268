// The roles of the warp-specialised Hopper kernels (forward and backward alike): warpgroup 0
// produces (one elected thread issues every TMA load), warpgroups 1..kConsumerWarpGroups
// consume (wgmma), with the register budgets setmaxnreg gives each.
#pragma once

namespace magi::cuda::sm90 {

template <int kConsumerWarpGroups_ = 2>
struct WsRoles {
  static constexpr int kConsumerWarpGroups = kConsumerWarpGroups_;
  static_assert(kConsumerWarpGroups == 2 || kConsumerWarpGroups == 3);
  static constexpr int kThreads = 128 * (1 + kConsumerWarpGroups);
  static constexpr int kConsumerWarps = 4 * kConsumerWarpGroups;
  static constexpr int kConsumerThreads = 128 * kConsumerWarpGroups;
  // The whole allocation the launch gives the CTA: 24 x 128 + 240 x 256 = 64512 = 168 x 384
  // with two consumer warpgroups, 24 x 128 + 160 x 384 = 64512 <= 128 x 512 with three.
  static constexpr int kProducerRegs = 24;
  static constexpr int kConsumerRegs = kConsumerWarpGroups == 2 ? 240 : 160;
  static_assert(kProducerRegs * 128 + kConsumerRegs * 128 * kConsumerWarpGroups <=
                (65536 / kThreads) / 8 * 8 * kThreads);
};

}  // namespace magi::cuda::sm90
