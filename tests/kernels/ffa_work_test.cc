// FfaWork: validated once, the union as disjoint slices, and the slice-span entries' cache.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "kernels/ffa_work_cache.h"
#include "magi/check.h"
#include "magi/ffa.h"

namespace magi {
namespace {

TEST(FfaWork, HoldsTheUnionAsDisjointSlices) {
  const std::vector<AttnSlice> overlapping = {{{0, 8}, {0, 8}, AttnMaskType::kFull},
                                              {{4, 8}, {0, 8}, AttnMaskType::kCausal}};
  const FfaWork w(overlapping, 8, 8);
  EXPECT_EQ(w.total_q(), 8);
  EXPECT_EQ(w.total_k(), 8);
  EXPECT_EQ(union_area(w.slices()), 64);
  EXPECT_EQ(union_area(w.slices()), union_area(overlapping));
  int64_t sum = 0;
  for (const AttnSlice& s : w.slices()) sum += s.area();
  EXPECT_EQ(sum, 64);  // disjoint: no cell counted twice
}

TEST(FfaWork, RejectsSlicesOutsideTheTotalsNamingThem) {
  const std::vector<AttnSlice> bad = {{{0, 4}, {0, 4}, {}}, {{2, 9}, {0, 4}, {}}};
  try {
    FfaWork w(bad, 8, 8);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("q_ranges[1] = [2, 9)"), std::string::npos) << e.what();
  }
}

TEST(FfaWork, MovesKeepThePreparedState) {
  FfaWork a(std::vector<AttnSlice>{{{0, 4}, {0, 4}, AttnMaskType::kCausal}}, 4, 4);
  const auto* slices = a.slices().data();
  FfaWork b(std::move(a));
  EXPECT_EQ(b.slices().data(), slices);
  EXPECT_EQ(b.total_q(), 4);
}

TEST(FfaWork, AMovedFromWorkIsAnErrorToUse) {
  FfaWork a(std::vector<AttnSlice>{{{0, 4}, {0, 4}, AttnMaskType::kFull}}, 4, 4);
  FfaWork b(std::move(a));
  EXPECT_THROW(static_cast<void>(a.total_q()), Error);  // NOLINT(bugprone-use-after-move)
  EXPECT_THROW(static_cast<void>(a.slices()), Error);   // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(b.total_k(), 4);
}

TEST(FfaWorkCache, EqualSlicesShareOnePreparedWork) {
  clear_ffa_work_cache();
  std::vector<AttnSlice> s = {{{0, 4}, {0, 4}, AttnMaskType::kCausal}};
  const auto a = cached_ffa_work(s, 4, 4);
  const auto b = cached_ffa_work(std::vector<AttnSlice>(s), 4, 4);
  EXPECT_EQ(a.get(), b.get());
  EXPECT_NE(cached_ffa_work(s, 4, 5).get(), a.get());  // other totals
  s[0].type = AttnMaskType::kFull;
  EXPECT_NE(cached_ffa_work(s, 4, 4).get(), a.get());  // other contents
  clear_ffa_work_cache();
  EXPECT_NE(
      cached_ffa_work(std::vector<AttnSlice>{{{0, 4}, {0, 4}, AttnMaskType::kCausal}}, 4, 4).get(),
      a.get());
}

}  // namespace
}  // namespace magi
