// Slice files (issue 15, item 4): accepted shapes, and every malformed file rejected with a
// message naming the file and the byte offset.
#include "slice_file.h"

#include <gtest/gtest.h>

#include <string>

#include "usage_error.h"

namespace magi::cli {
namespace {

std::string error_of(const std::string& text) {
  try {
    parse_slice_text(text, "f.json");
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

TEST(SliceFile, ReadsListsAndObjects) {
  const Mask a = parse_slice_text(R"([[0, 8, 0, 8, "causal"], [8, 16, 0, 16, 0]])", "a");
  ASSERT_EQ(a.slices.size(), 2u);
  EXPECT_EQ(a.seqlen, 16);
  EXPECT_EQ(a.slices[0].type, AttnMaskType::kCausal);
  EXPECT_EQ(a.slices[1].type, AttnMaskType::kFull);
  const Mask b = parse_slice_text(
      R"({"comment": {"x": [1, {"y": null}]}, "seqlen": 40, "slices": [[0, 8, 0, 8, 3]]})", "b");
  EXPECT_EQ(b.seqlen, 40);
  EXPECT_EQ(b.slices[0].type, AttnMaskType::kBiCausal);
  const Mask c = parse_slice_text(R"({"seqlen": 5, "slices": []})", "c");
  EXPECT_EQ(c.seqlen, 5);
  EXPECT_TRUE(c.slices.empty());
}

TEST(SliceFile, MalformedJsonNamesTheOffset) {
  EXPECT_NE(error_of(R"({"foo": [1, 2)").find("offset 13"), std::string::npos);
  EXPECT_NE(error_of(R"([[0, 8, 0, 8, 1]] trailing)").find("offset 18"), std::string::npos);
  EXPECT_NE(error_of(R"([[0, 8, 0, 8, 1],])").find("trailing comma"), std::string::npos);
  EXPECT_NE(error_of(R"({"slices": [[0, 8, 0, 8, 1]],})").find("trailing comma"),
            std::string::npos);
  EXPECT_NE(error_of("").find("f.json"), std::string::npos);
}

TEST(SliceFile, RejectsBadSlices) {
  EXPECT_NE(error_of("[[0, 8, 0, 8]]").find("slice 0"), std::string::npos);
  EXPECT_NE(error_of("[[0, 8, 0, -8, 1]]").find("k_end"), std::string::npos);
  EXPECT_NE(error_of("[[0, 8.5, 0, 8, 1]]").find("q_end"), std::string::npos);
  EXPECT_NE(error_of(R"([[0, 8, 0, 8, "diagonal"]])").find("slice 0"), std::string::npos);
  EXPECT_NE(error_of("[[0, 8, 0, 8, 7]]").find("slice 0"), std::string::npos);
  EXPECT_NE(error_of("[[8, 0, 0, 8, 1]]").find("f.json"), std::string::npos);
  EXPECT_NE(error_of(R"({"seqlen": 4, "slices": [[0, 8, 0, 8, 1]]})").find("f.json"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"seqlen": 4})").find("\"slices\""), std::string::npos);
  EXPECT_NE(error_of("[]").find("no token"), std::string::npos);
  EXPECT_NE(error_of("[[0, 2000000000000, 0, 8, 1]]").find("2^40"), std::string::npos);
  EXPECT_NE(error_of("7").find("expected a list"), std::string::npos);
}

TEST(SliceFile, MissingFileIsAUsageError) {
  EXPECT_THROW(read_slice_file("/nonexistent/slices.json"), UsageError);
}

}  // namespace
}  // namespace magi::cli
