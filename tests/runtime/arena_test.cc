// Arena: the measure pass and the real pass lay a call out identically.
#include "runtime/arena.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "magi/check.h"

namespace magi::runtime {
namespace {

TEST(Arena, MeasureThenCarveGivesAlignedPiecesInTheSameOrder) {
  auto lay_out = [](Arena& a) {
    std::vector<TensorView> v;
    v.push_back(a.take(DType::kFloat32, {3, 5}));
    v.push_back(a.take(DType::kBFloat16, {0, 7}));  // empty pieces are fine
    v.push_back(a.take(DType::kFloat64, {2, 2, 3}));
    a.take_bytes(1);
    return v;
  };
  Arena measure(Device{});
  const auto offsets = lay_out(measure);
  EXPECT_EQ(measure.used(), 2 * Arena::kAlign + 1);  // 60 B at 0, 0 and 96 B at 256, 1 B at 512

  std::vector<std::byte> block(measure.used() + Arena::kAlign);
  auto* base =
      reinterpret_cast<std::byte*>((reinterpret_cast<uintptr_t>(block.data()) + Arena::kAlign - 1) /
                                   Arena::kAlign * Arena::kAlign);
  Arena real(Device{}, base, measure.used());
  const auto views = lay_out(real);
  ASSERT_EQ(views.size(), offsets.size());
  for (size_t i = 0; i < views.size(); ++i) {
    EXPECT_EQ(static_cast<std::byte*>(views[i].data) - base,
              reinterpret_cast<uintptr_t>(offsets[i].data));
    EXPECT_EQ(reinterpret_cast<uintptr_t>(views[i].data) % Arena::kAlign, 0u);
    EXPECT_TRUE(views[i].is_contiguous());
  }
  EXPECT_EQ(real.used(), measure.used());
}

TEST(Arena, TakingMoreThanTheBlockThrows) {
  std::vector<std::byte> block(64);
  Arena a(Device{}, block.data(), 64);
  a.take(DType::kFloat32, {16});
  EXPECT_THROW(a.take(DType::kFloat32, {1}), Error);  // the next piece starts at 256
}

}  // namespace
}  // namespace magi::runtime
