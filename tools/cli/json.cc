#include "json.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>

namespace magi::cli {
namespace {

class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}

  JsonValue document() {
    JsonValue v = value(0);
    ws();
    if (i_ != s_.size()) fail("unexpected '" + printable(s_[i_]) + "' after the JSON value");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& msg) const { throw JsonError(i_, msg); }

  static std::string printable(char c) {
    if (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f) return std::string(1, c);
    return "\\x" + std::string(1, "0123456789abcdef"[(c >> 4) & 15]) + "0123456789abcdef"[c & 15];
  }

  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r'))
      ++i_;
  }

  char peek() {
    ws();
    if (i_ >= s_.size()) fail("unexpected end of input");
    return s_[i_];
  }

  void literal(std::string_view word) {
    if (s_.substr(i_, word.size()) != word)
      fail("invalid literal (expected '" + std::string(word) + "')");
    i_ += word.size();
  }

  JsonValue value(int depth) {
    if (depth > kMaxJsonDepth) fail("nesting deeper than " + std::to_string(kMaxJsonDepth));
    JsonValue out;
    const char c = peek();
    out.offset = i_;
    if (c == '{') {
      out.v = object(depth);
    } else if (c == '[') {
      out.v = array(depth);
    } else if (c == '"') {
      out.v = string();
    } else if (c == 't') {
      literal("true");
      out.v = true;
    } else if (c == 'f') {
      literal("false");
      out.v = false;
    } else if (c == 'n') {
      literal("null");
      out.v = JsonValue::Null{};
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      number(out);
    } else {
      fail("unexpected '" + printable(c) + "' (expected a value)");
    }
    return out;
  }

  JsonValue::Array array(int depth) {
    JsonValue::Array a;
    ++i_;  // '['
    if (peek() == ']') {
      ++i_;
      return a;
    }
    while (true) {
      a.push_back(value(depth + 1));
      const char c = peek();
      ++i_;
      if (c == ']') return a;
      if (c != ',') {
        --i_;
        fail("expected ',' or ']' in an array");
      }
      if (peek() == ']') fail("trailing comma in an array");
    }
  }

  JsonValue::Object object(int depth) {
    JsonValue::Object o;
    ++i_;  // '{'
    if (peek() == '}') {
      ++i_;
      return o;
    }
    while (true) {
      if (peek() != '"') fail("expected a string key in an object");
      std::string key = string();
      if (peek() != ':') fail("expected ':' after an object key");
      ++i_;
      o.emplace_back(std::move(key), value(depth + 1));
      const char c = peek();
      ++i_;
      if (c == '}') return o;
      if (c != ',') {
        --i_;
        fail("expected ',' or '}' in an object");
      }
      if (peek() == '}') fail("trailing comma in an object");
    }
  }

  static int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  void append_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xc0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xe0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
      out += static_cast<char>(0xf0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    }
  }

  uint32_t hex4() {
    if (s_.size() - i_ < 4) {
      i_ = s_.size();
      fail("unexpected end of input in a \\u escape");
    }
    uint32_t cp = 0;
    for (int k = 0; k < 4; ++k) {
      const int h = hex(s_[i_]);
      if (h < 0) fail("invalid hex digit in a \\u escape");
      cp = cp * 16 + static_cast<uint32_t>(h);
      ++i_;
    }
    return cp;
  }

  std::string string() {
    ++i_;  // '"'
    std::string out;
    while (true) {
      if (i_ >= s_.size()) fail("unterminated string");
      const char c = s_[i_];
      if (c == '"') {
        ++i_;
        return out;
      }
      if (static_cast<unsigned char>(c) < 0x20) fail("control character in a string");
      if (c != '\\') {
        out += c;
        ++i_;
        continue;
      }
      if (++i_ >= s_.size()) fail("unterminated string");
      const char e = s_[i_++];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out += e;
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          uint32_t cp = hex4();
          if (cp >= 0xd800 && cp < 0xdc00) {
            if (s_.substr(i_, 2) != "\\u") fail("unpaired surrogate in a \\u escape");
            i_ += 2;
            const uint32_t lo = hex4();
            if (lo < 0xdc00 || lo >= 0xe000) fail("invalid low surrogate in a \\u escape");
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          } else if (cp >= 0xdc00 && cp < 0xe000) {
            fail("unpaired surrogate in a \\u escape");
          }
          append_utf8(out, cp);
          break;
        }
        default:
          --i_;
          fail("invalid escape '\\" + printable(e) + "'");
      }
    }
  }

  void number(JsonValue& out) {
    const size_t start = i_;
    auto digits = [&] {
      const size_t d0 = i_;
      while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
      return i_ - d0;
    };
    if (s_[i_] == '-') ++i_;
    if (i_ < s_.size() && s_[i_] == '0') {
      ++i_;
    } else if (digits() == 0) {
      fail("invalid number");
    }
    bool integral = true;
    if (i_ < s_.size() && s_[i_] == '.') {
      ++i_;
      integral = false;
      if (digits() == 0) fail("invalid number: digits expected after '.'");
    }
    if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      ++i_;
      integral = false;
      if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-')) ++i_;
      if (digits() == 0) fail("invalid number: digits expected in the exponent");
    }
    const std::string_view text = s_.substr(start, i_ - start);
    // NOTE: strtod on a bounded copy; std::from_chars for double is not in every libstdc++.
    out.v = std::strtod(std::string(text).c_str(), nullptr);
    if (integral) {
      int64_t x = 0;
      const auto r = std::from_chars(text.data(), text.data() + text.size(), x);
      out.integral = r.ec == std::errc{};
      out.int_value = x;
    }
  }

  std::string_view s_;
  size_t i_ = 0;
};

}  // namespace

std::string_view JsonValue::kind() const {
  static constexpr std::string_view kNames[] = {"null",   "bool",  "number",
                                                "string", "array", "object"};
  return kNames[v.index()];
}

JsonValue parse_json(std::string_view text) { return Parser(text).document(); }

namespace {

/// The length of the well-formed UTF-8 sequence at s[i] (RFC 3629: no overlong forms, no
/// surrogates, at most U+10FFFF), or 0.
size_t utf8_length(std::string_view s, size_t i) {
  const auto byte = [&](size_t j) { return static_cast<unsigned char>(s[j]); };
  const unsigned c = byte(i);
  const size_t n = c < 0x80                 ? 1
                   : c >= 0xc2 && c <= 0xdf ? 2
                   : (c >> 4) == 0xe        ? 3
                   : c >= 0xf0 && c <= 0xf4 ? 4
                                            : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t j = 1; j < n; ++j) {
    if ((byte(i + j) >> 6) != 2) return 0;
  }
  const unsigned c1 = n > 1 ? byte(i + 1) : 0;
  if (c == 0xe0 && c1 < 0xa0) return 0;   // overlong
  if (c == 0xed && c1 >= 0xa0) return 0;  // a surrogate
  if (c == 0xf0 && c1 < 0x90) return 0;   // overlong
  if (c == 0xf4 && c1 >= 0x90) return 0;  // beyond U+10FFFF
  return n;
}

}  // namespace

std::string json_quote(std::string_view text) {
  std::string out = "\"";
  char buf[8];
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    const size_t n = utf8_length(text, i);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += text[i];
    } else if (c < 0x20 || n == 0) {
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out.append(text.substr(i, n));
      i += n;
      continue;
    }
    ++i;
  }
  return out + "\"";
}

std::string json_number(double x) {
  if (!std::isfinite(x)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.10g", x);
  return buf;
}

}  // namespace magi::cli
