// Environment knobs: typed, declared once, bad values named (STYLE.md 18).
#include "common/env.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "magi/check.h"

namespace magi {
namespace {

TEST(Env, FlagsParseAndDefault) {
  const char* k = "MAGI_ATTENTION_CHECK_KEY_CONSISTENCY";
  unsetenv(k);
  EXPECT_TRUE(env::flag(k));  // default 1
  for (const char* off : {"0", "false", "OFF", "no"}) {
    setenv(k, off, 1);
    EXPECT_FALSE(env::flag(k)) << off;
  }
  setenv(k, "yes", 1);
  EXPECT_TRUE(env::flag(k));
  setenv(k, "2", 1);
  EXPECT_THROW(env::flag(k), Error);
  unsetenv(k);
}

TEST(Env, IntegersAndUndeclaredKnobs) {
  const char* k = "MAGI_ATTENTION_DIST_ATTN_RUNTIME_DICT_SIZE";
  unsetenv(k);
  EXPECT_EQ(env::integer(k, 1, 100000), 1000);
  setenv(k, "12x", 1);
  EXPECT_THROW(env::integer(k, 1, 100000), Error);
  setenv(k, "0", 1);
  EXPECT_THROW(env::integer(k, 1, 100000), Error);
  unsetenv(k);
  EXPECT_THROW(env::flag("MAGI_NOT_A_KNOB"), Error);
  EXPECT_THROW(env::flag(k), Error);  // an integer knob read as a flag
  EXPECT_GE(env::knobs().size(), 2u);
}

TEST(Env, ChoicesParseAndNameTheAllowedValues) {
  const char* k = "MAGI_ATTENTION_DSINK_ALL_REDUCE_OP";
  unsetenv(k);
  EXPECT_EQ(env::choice(k, {"none", "sum", "avg"}), "none");  // default
  setenv(k, "SUM", 1);
  EXPECT_EQ(env::choice(k, {"none", "sum", "avg"}), "sum");
  setenv(k, "max", 1);
  try {
    env::choice(k, {"none", "sum", "avg"});
    ADD_FAILURE() << "no error for 'max'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'max': expected one of none, sum, avg"),
              std::string::npos)
        << e.what();
  }
  unsetenv(k);
  EXPECT_THROW(env::flag(k), Error);  // a choice knob read as a flag
}

}  // namespace
}  // namespace magi
