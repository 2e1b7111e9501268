#include <gtest/gtest.h>

#include <string>

#include "magi/check.h"
#include "magi/dispatch.h"

namespace magi {
namespace {

TEST(ComputePadSize, SeedCalls) {
  // The seed's two examples: 5 x 25 tokens and 960 tokens, cp 2, chunk 512.
  EXPECT_EQ(compute_pad_size(125, 2, 128, 512), 899);
  EXPECT_EQ(compute_pad_size(960, 2, 128, 512), 64);
  EXPECT_EQ(compute_pad_size(1024, 2, 128, 512), 0);
  EXPECT_EQ(compute_pad_size(0, 8, 64, 512), 0);
}

TEST(ComputePadSize, SmallestPadToAMultipleOfTheBlock) {
  for (int64_t cp = 1; cp <= 5; ++cp) {
    for (int64_t cs = 1; cs <= 7; ++cs) {
      for (int64_t total = 0; total <= 200; ++total) {
        int64_t want = 0;
        while ((total + want) % (cp * cs) != 0) ++want;
        ASSERT_EQ(compute_pad_size(total, cp, 128, cs), want)
            << "total " << total << " cp " << cp << " chunk " << cs;
      }
    }
  }
}

void expect_error_naming(int64_t total, int64_t cp, int64_t hd, int64_t cs,
                         const std::string& needle) {
  try {
    compute_pad_size(total, cp, hd, cs);
    ADD_FAILURE() << "no error for " << needle;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(ComputePadSize, BadArgumentsAreNamed) {
  expect_error_naming(-1, 2, 128, 512, "total_seqlen_q = -1");
  expect_error_naming(100, 0, 128, 512, "cp_size = 0");
  expect_error_naming(100, 2, 0, 512, "head_dim = 0");
  expect_error_naming(100, 2, 128, -4, "chunk_size = -4");
  expect_error_naming(100, 4, 128, int64_t{1} << 62, "overflows");
}

}  // namespace
}  // namespace magi
