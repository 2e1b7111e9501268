// Error messages name the source file relative to the repository, not the absolute path of the
// machine that built it (issue 15, item 7).
#include <gtest/gtest.h>

#include <string>

#include "magi/check.h"
#include "magi/mask.h"

namespace magi {
namespace {

std::string message_of(void (*fn)()) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Check, ErrorsNameRepositoryRelativeFiles) {
  const std::string own = message_of([] { MAGI_CHECK(1 + 1 == 3, "arithmetic: ", 2); });
  EXPECT_EQ(own.rfind("tests/common/check_test.cc:", 0), 0u) << own;
  EXPECT_NE(own.find(": arithmetic: 2"), std::string::npos) << own;
  // An error raised inside the library.
  const std::string lib = message_of([] {
    const std::vector<AttnSlice> bad = {{{0, 8}, {0, 8}, AttnMaskType::kFull}};
    check_slices(bad, 4, 4);
  });
  EXPECT_EQ(lib.rfind("src/", 0), 0u) << lib;
  EXPECT_EQ(lib.find(MAGI_SOURCE_ROOT), std::string::npos) << lib;
}

TEST(Check, PathsOutsideTheTreeAreKept) {
  EXPECT_STREQ(detail::source_relative("/elsewhere/file.cc"), "/elsewhere/file.cc");
  EXPECT_STREQ(detail::source_relative("relative/file.cc"), "relative/file.cc");
}

}  // namespace
}  // namespace magi
