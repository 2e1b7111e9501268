// Command-line options (issue 15, items 3 and 5): every bad option is a UsageError naming it.
#include "args.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "usage_error.h"

namespace magi::cli {
namespace {

const std::vector<Option> kOptions = {
    {"cp", "N", "4", "ranks"}, {"mask", "NAME", "full", "mask"}, {"json", "", "", "a flag"}};

/// Args over {"prog", "cmd", words...}; the UsageError's message when parsing fails.
std::string parse_error(std::vector<std::string> words) {
  std::vector<char*> argv = {const_cast<char*>("prog"), const_cast<char*>("cmd")};
  for (std::string& w : words) argv.push_back(w.data());
  try {
    Args(kOptions, static_cast<int>(argv.size()), argv.data(), 2);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

Args parse(std::vector<std::string>& words) {
  static std::vector<char*> argv;
  argv = {const_cast<char*>("prog"), const_cast<char*>("cmd")};
  for (std::string& w : words) argv.push_back(w.data());
  return Args(kOptions, static_cast<int>(argv.size()), argv.data(), 2);
}

TEST(Args, ValuesFlagsAndDefaults) {
  std::vector<std::string> w = {"--cp", "8", "--json", "--mask=causal"};
  const Args a = parse(w);
  EXPECT_EQ(a.integer("cp", 1, 16), 8);
  EXPECT_TRUE(a.has("json"));
  EXPECT_EQ(a.str("mask"), "causal");
  std::vector<std::string> none;
  const Args b = parse(none);
  EXPECT_FALSE(b.has("cp"));
  EXPECT_EQ(b.integer("cp", 1, 16), 4);  // the declared default
  EXPECT_EQ(b.str("mask"), "full");
}

TEST(Args, BadCommandLinesNameTheOption) {
  EXPECT_EQ(parse_error({"--cp"}), "--cp: missing value (N)");
  EXPECT_EQ(parse_error({"--cp", "--json"}), "--cp: missing value (N)");
  EXPECT_EQ(parse_error({"--bogus", "1"}), "unknown option --bogus");
  EXPECT_EQ(parse_error({"--cp", "1", "--cp", "2"}), "--cp: given more than once");
  EXPECT_EQ(parse_error({"--json=1"}), "--json: a flag takes no value");
  EXPECT_EQ(parse_error({"stray"}), "unexpected argument 'stray' (options are --name value)");
  EXPECT_EQ(parse_error({"--json", "stray"}),
            "unexpected argument 'stray' (options are --name value)");
}

TEST(Args, IntegersAndChoicesAreChecked) {
  std::vector<std::string> w = {"--cp", "-1", "--mask", "bogus"};
  const Args a = parse(w);
  try {
    a.integer("cp", 1, 16);
    ADD_FAILURE();
  } catch (const UsageError& e) {
    EXPECT_EQ(std::string(e.what()), "--cp = -1: must be in [1, 16]");
  }
  EXPECT_THROW(a.choice("mask", std::vector<std::string>{"full", "causal"}), UsageError);
  EXPECT_THROW(parse_integer("cp", "12x", 0, 100), UsageError);
  EXPECT_THROW(parse_integer("cp", "", 0, 100), UsageError);
  EXPECT_THROW(parse_integer("cp", "99999999999999999999999", 0, INT64_MAX), UsageError);
  EXPECT_EQ(parse_integer("cp", "100", 0, 100), 100);
}

TEST(Args, HelpShowsEveryDefault) {
  const std::string h = help_text("cmd", "Summary.", kOptions);
  EXPECT_NE(h.find("--cp N"), std::string::npos);
  EXPECT_NE(h.find("(default: 4)"), std::string::npos);
  EXPECT_NE(h.find("(default: full)"), std::string::npos);
  EXPECT_NE(h.find("--help"), std::string::npos);
}

}  // namespace
}  // namespace magi::cli
