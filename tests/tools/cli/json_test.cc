// The CLI's strict JSON reader (issue 15, item 4): malformed input is rejected with its byte
// offset, never accepted and never parsed forever.
#include "json.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

namespace magi::cli {
namespace {

/// The offset of the error parse_json raises for `text` (-1: no error).
int64_t error_offset(const std::string& text) {
  try {
    parse_json(text);
  } catch (const JsonError& e) {
    return static_cast<int64_t>(e.offset());
  }
  return -1;
}

TEST(Json, ParsesValidDocuments) {
  const JsonValue v =
      parse_json(R"( {"a": [1, -2, 3.5, 1e3, true, false, null], "b": "x\"\u00e9\ud83d\ude00"} )");
  ASSERT_TRUE(v.is_object());
  const auto& o = std::get<JsonValue::Object>(v.v);
  ASSERT_EQ(o.size(), 2u);
  const auto& a = std::get<JsonValue::Array>(o[0].second.v);
  ASSERT_EQ(a.size(), 7u);
  EXPECT_TRUE(a[0].integral);
  EXPECT_EQ(a[1].int_value, -2);
  EXPECT_FALSE(a[2].integral);
  EXPECT_FALSE(a[3].integral);
  EXPECT_EQ(std::get<double>(a[3].v), 1000.0);
  EXPECT_EQ(std::get<std::string>(o[1].second.v), "x\"\xc3\xa9\xf0\x9f\x98\x80");
  EXPECT_EQ(parse_json("[]").kind(), "array");
  EXPECT_EQ(parse_json(" {} ").kind(), "object");
  EXPECT_EQ(parse_json("0").int_value, 0);
}

TEST(Json, RejectsTruncatedInputWithItsOffset) {
  EXPECT_EQ(error_offset(R"({"foo": [1, 2)"), 13);  // the issue's file: it used to hang
  EXPECT_EQ(error_offset(""), 0);
  EXPECT_EQ(error_offset("["), 1);
  EXPECT_EQ(error_offset("{\"a\""), 4);
  EXPECT_EQ(error_offset("{\"a\":"), 5);
  EXPECT_EQ(error_offset("\"abc"), 4);
  EXPECT_EQ(error_offset("[1, 2,"), 6);
  EXPECT_EQ(error_offset("tru"), 0);
  EXPECT_EQ(error_offset("\"\\u12"), 5);
}

TEST(Json, RejectsTrailingGarbageAndCommas) {
  EXPECT_EQ(error_offset("[1] x"), 4);
  EXPECT_EQ(error_offset("[1]]"), 3);
  EXPECT_EQ(error_offset("{} {}"), 3);
  EXPECT_EQ(error_offset("[1, 2,]"), 6);
  EXPECT_EQ(error_offset("{\"a\": 1,}"), 8);
  EXPECT_EQ(error_offset("[1 2]"), 3);
  EXPECT_EQ(error_offset("{\"a\" 1}"), 5);
  EXPECT_EQ(error_offset("[,]"), 1);
}

TEST(Json, RejectsBadTokens) {
  for (const char* bad : {"01", "1.", "-", "1e", "+1", ".5", "nul", "[1,,2]", "{1: 2}", "\"a\nb\"",
                          "\"\\x\"", "\"\\ud800\"", "\"\\udc00\"", "'a'", "\x01"}) {
    EXPECT_GE(error_offset(bad), 0) << bad;
  }
}

TEST(Json, BoundsTheNestingDepth) {
  const std::string deep(100000, '[');
  EXPECT_EQ(error_offset(deep), kMaxJsonDepth + 1);
  std::string ok = std::string(kMaxJsonDepth, '[') + std::string(kMaxJsonDepth, ']');
  EXPECT_EQ(error_offset(ok), -1);
}

TEST(Json, IntegersBeyondInt64AreNotIntegral) {
  const JsonValue v = parse_json("123456789012345678901234567890");
  EXPECT_FALSE(v.integral);
  EXPECT_TRUE(v.is_number());
}

TEST(Json, QuotedStringsAreValidJsonAndUtf8) {
  EXPECT_EQ(json_quote("a\"b\\c\n\x01"), "\"a\\\"b\\\\c\\u000a\\u0001\"");
  EXPECT_EQ(json_quote("\xc3\xa9 \xf0\x9f\x98\x80"), "\"\xc3\xa9 \xf0\x9f\x98\x80\"");  // kept
  // Not well-formed UTF-8: a stray byte, an overlong form, a surrogate, beyond U+10FFFF, a
  // truncated sequence. Each byte becomes a code point, so the result parses back.
  for (const std::string bad :
       {"\xff", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82"}) {
    const std::string q = json_quote("x" + bad);
    EXPECT_EQ(q.find('\x80'), std::string::npos) << q;
    const JsonValue v = parse_json(q);
    EXPECT_EQ(std::get<std::string>(v.v).size(), 1 + 2 * bad.size()) << q;  // two bytes each
  }
  EXPECT_EQ(json_number(0.5), "0.5");
  EXPECT_EQ(json_number(INFINITY), "null");
  EXPECT_EQ(json_number(NAN), "null");
}

}  // namespace
}  // namespace magi::cli
