// DeviceSlots: one state per device, built once even when threads race for it.
#include "kernels/device_slots.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace magi {
namespace {

struct Counted : PreparedState {
  explicit Counted(int d, std::atomic<int>& alive) : device(d), alive_(alive) { ++alive_; }
  ~Counted() override { --alive_; }
  int device;
  std::atomic<int>& alive_;
};

TEST(DeviceSlots, BuildsOncePerDeviceUnderConcurrentCallsAndFreesWithTheOwner) {
  std::atomic<int> builds{0}, alive{0};
  {
    DeviceSlots slots;
    std::vector<std::thread> threads;
    std::vector<const Counted*> seen(16);
    for (int t = 0; t < 16; ++t) {
      threads.emplace_back([&, t] {
        const Device d = t % 2 ? Device{DeviceType::kCUDA, 3} : Device{};
        seen[t] = &slots.get<Counted>(d, [&] {
          ++builds;
          return std::make_unique<Counted>(d.index, alive);
        });
      });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(builds.load(), 2);
    EXPECT_EQ(alive.load(), 2);
    for (int t = 2; t < 16; ++t) EXPECT_EQ(seen[t], seen[t % 2]);
    EXPECT_NE(seen[0], seen[1]);
  }
  EXPECT_EQ(alive.load(), 0);
}

TEST(DeviceSlots, AFailedBuildLeavesTheSlotEmpty) {
  DeviceSlots slots;
  std::atomic<int> alive{0};
  EXPECT_THROW(slots.get<Counted>(Device{}, []() -> std::unique_ptr<Counted> { throw 1; }), int);
  const Counted& c =
      slots.get<Counted>(Device{}, [&] { return std::make_unique<Counted>(0, alive); });
  EXPECT_EQ(c.device, 0);
  EXPECT_THROW(slots.get<Counted>(Device{DeviceType::kCUDA, 64},
                                  [&] { return std::make_unique<Counted>(64, alive); }),
               Error);
}

}  // namespace
}  // namespace magi
